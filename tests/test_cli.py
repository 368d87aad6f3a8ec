"""pam-tester, the command line (``python -m draxoft.auth.pam``).

Every test runs the command in a subprocess against a real PAM stack in a
private configuration directory (``--confdir``). What the modules saw is
read back in two ways: ``--print-env`` after ``acct_mgmt`` (which, unlike
``authenticate``, never clears the PAM environment), or pam_exec running a
small script during the operation itself, whose output PAM relays through
the conversation (``PROBE`` below).
"""

from __future__ import annotations

import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import pytest

import pamstack
from draxoft.auth import pam

REPO = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-W", "error", "-m", "draxoft.auth.pam"]
USER = "alice"  # modules here never look the user up

Arg = Union[str, bytes]


def said(code: str) -> str:
    """The line pam-tester ends with when an operation fails with *code*:
    this PAM's own text for it (OpenPAM's and Linux-PAM's words differ)."""
    return f"pam-tester: {pam.PamError.from_code(getattr(pam, code)).strerror}\n"


@dataclass
class Result:
    """What one run of the command gave."""

    rc: int
    out_bytes: bytes
    err_bytes: bytes

    @property
    def out(self) -> str:
        return self.out_bytes.decode("utf-8", "surrogateescape")

    @property
    def err(self) -> str:
        return self.err_bytes.decode("utf-8", "surrogateescape")

    def env(self) -> dict[str, str]:
        """NAME=value lines of stdout (--print-env and probe output)."""
        table = {}
        for line in self.out.splitlines():
            name, sep, value = line.partition("=")
            if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                table[name] = value
        return table


def cli(*args: Arg, stdin: bytes = b"", cwd: Union[str, Path, None] = None, command: Sequence[str] = COMMAND) -> Result:
    """Run the command; standard input is a pipe holding *stdin*."""
    done = subprocess.run(
        [*command, *args], input=stdin, capture_output=True, timeout=60, cwd=cwd, check=False
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def probe(tmp_path: Path) -> str:
    """A script for pam_exec that prints NAME=value for each variable named.

    pam_exec hands it the PAM environment and items (PAM_USER, PAM_TTY, ...)
    as environment variables; with its ``stdout`` option, PAM relays the
    lines through the conversation as informational messages.
    """
    script = tmp_path / "probe.sh"
    script.write_text(
        "#!/bin/sh\n"
        'for name in "$@"; do\n'
        '  if value=$(printenv "$name"); then echo "$name=$value"; else echo "$name=<unset>"; fi\n'
        "done\n"
    )
    script.chmod(0o755)
    return str(script)


def probe_line(kind: str, probe: str, *names: str) -> str:
    """A stack line running the probe for *names* (pam_exec skips setcred)."""
    return f"{kind} optional pam_exec.so stdout {probe} {' '.join(names)}"


PERMIT_ALL = [f"{kind} required pam_permit.so" for kind in ("auth", "account", "password", "session")]

#: Operation -> pamtester's message on success.
DONE = {
    "authenticate": "successfully authenticated",
    "acct_mgmt": "account management done.",
    "open_session": "successfully opened a session",
    "close_session": "session has successfully been closed.",
    "chauthtok": "authentication token altered successfully.",
    "setcred": "credential info has successfully been set.",
}


# ---------------------------------------------------------------------------
# Operations: success, failure, order


@pytest.mark.parametrize("operation", list(DONE))
def test_each_operation_reports_success(pam_stack: pamstack.StackFactory, operation: str) -> None:
    confdir = pam_stack(PERMIT_ALL)
    result = cli("--confdir", confdir, "pytest", USER, operation)
    assert (result.rc, result.out, result.err) == (0, f"pam-tester: {DONE[operation]}\n", "")


def test_operations_run_in_order_each_calling_its_pam_function(
    pam_stack: pamstack.StackFactory, probe: str
) -> None:
    kinds = ("auth", "account", "password", "session")
    lines = [f"{kind} optional {{pytest}} stage" for kind in kinds]
    lines += [probe_line(kind, probe, "PAM_TYPE") for kind in kinds]
    lines.append(probe_line("account", probe, "PYTEST_SETCRED_FLAGS"))
    confdir = pam_stack(lines)
    operations = ["authenticate", "open_session", "close_session", "chauthtok", "setcred", "acct_mgmt"]
    result = cli("--confdir", confdir, "pytest", USER, *operations)
    assert result.rc == 0, result.err
    assert result.out.splitlines() == [
        "PAM_TYPE=auth", "pam-tester: successfully authenticated",
        "PAM_TYPE=open_session", "pam-tester: successfully opened a session",
        "PAM_TYPE=close_session", "pam-tester: session has successfully been closed.",
        "PAM_TYPE=password", "pam-tester: authentication token altered successfully.",
        # pam_exec does not run for setcred: pam_pytest saw it, as acct_mgmt shows.
        "pam-tester: credential info has successfully been set.",
        "PAM_TYPE=account", "PYTEST_SETCRED_FLAGS=2", "pam-tester: account management done.",
    ]
    assert result.err == ""


#: Operation, pam_debug stage, code and Linux-PAM's text for it.
FAILURES = [
    ("authenticate", "auth", "auth_err", "Authentication failure"),
    ("setcred", "cred", "cred_err", "Failure setting user credentials"),
    ("acct_mgmt", "acct", "acct_expired", "User account has expired"),
    ("open_session", "open_session", "session_err", "Cannot make/remove an entry for the specified session"),
    ("close_session", "close_session", "session_err", "Cannot make/remove an entry for the specified session"),
    ("chauthtok", "chauthtok", "authtok_err", "Authentication token manipulation error"),
    ("acct_mgmt", "acct", "new_authtok_reqd", "Authentication token is no longer valid; new one required"),
    ("authenticate", "auth", "user_unknown", "User not known to the underlying authentication module"),
    ("authenticate", "auth", "maxtries", "Have exhausted maximum number of retries for service"),
]


@pytest.mark.parametrize(("failing", "stage", "code", "text"), FAILURES)
def test_failure_is_reported_and_stops_the_run(
    pam_stack: pamstack.StackFactory, failing: str, stage: str, code: str, text: str
) -> None:
    # pam_debug says "stage=code" for each stage it was given: the
    # operations that ran can be read off stdout.
    stages = {"auth": "success", "cred": "success", "acct": "success", "open_session": "success",
              "close_session": "success", "prechauthtok": "success", "chauthtok": "success"}
    stages[stage] = code
    confdir = pam_stack(pamstack.debug_lines(**stages))
    order = ["authenticate", "setcred", "acct_mgmt", "open_session", "close_session", "chauthtok"]
    others = [op for op in order if op != failing]
    operations = [*others[:2], failing, *others[2:]]
    result = cli("--confdir", confdir, "pytest", USER, *operations)
    assert result.rc == 1
    assert result.err == (said(f"PAM_{code.upper()}") if pamstack.is_openpam() else f"pam-tester: {text}\n")
    ran = [line.split("=")[0] for line in result.out.splitlines() if "=" in line]
    reported = [line for line in result.out.splitlines() if line.startswith("pam-tester:")]
    assert reported == [f"pam-tester: {DONE[op]}" for op in others[:2]]
    last = {"authenticate": "auth", "setcred": "cred", "acct_mgmt": "acct", "open_session": "open_session",
            "close_session": "close_session", "chauthtok": "chauthtok"}
    assert ran[-1] == last[failing], "the failing operation is the last one run"


def test_pam_start_failure(tmp_path: Path) -> None:
    # A directory with neither the service nor "other": pam_start fails.
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("--confdir", str(empty), "pytest", USER, "authenticate")
    assert (result.rc, result.out, result.err) == (1, "", "pam-tester: Initialization failure\n")


def test_an_empty_service_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("--confdir", str(tmp_path), "", USER, "authenticate")
    assert result.rc == 2 and result.out == ""
    assert "service name is empty" in result.err


def test_other_is_used_for_an_unknown_service(pam_stack: pamstack.StackFactory) -> None:
    confdir = pam_stack({"other": ["auth required pam_deny.so"], "pytest": PERMIT_ALL})
    assert cli("--confdir", confdir, "pytest", USER, "authenticate").rc == 0
    result = cli("--confdir", confdir, "nosuchservice", USER, "authenticate")
    assert (result.rc, result.err) == (1, said("PAM_AUTH_ERR"))


# ---------------------------------------------------------------------------
# Flags


def flag_stack(pam_stack: pamstack.StackFactory, probe: str) -> str:
    names = ["PYTEST_FLAGS_auth", "PYTEST_FLAGS_acct", "PYTEST_FLAGS_open", "PYTEST_FLAGS_close",
             "PYTEST_FLAGS_chauthtok", "PYTEST_SETCRED_FLAGS"]
    lines = []
    for kind in ("auth", "account", "password", "session"):
        lines.append(f"{kind} optional {{pytest}} stage")
        lines.append(probe_line(kind, probe, *names))
    return pam_stack(lines)


#: (operation as written, variable, value the module saw). Values are
#: Linux-PAM's; pam_chauthtok adds PAM_UPDATE_AUTHTOK (0x2000) in the pass
#: observed, and setcred is observed by the acct_mgmt that follows it.
FLAG_CASES = [
    ("authenticate", "PYTEST_FLAGS_auth", 0),
    ("authenticate()", "PYTEST_FLAGS_auth", 0),
    ("authenticate(PAM_SILENT)", "PYTEST_FLAGS_auth", 0x8000),
    ("authenticate(PAM_DISALLOW_NULL_AUTHTOK)", "PYTEST_FLAGS_auth", 1),
    ("authenticate(PAM_SILENT|PAM_DISALLOW_NULL_AUTHTOK)", "PYTEST_FLAGS_auth", 0x8001),
    ("Authenticate(pam_silent)", "PYTEST_FLAGS_auth", 0x8000),
    ("authenticate ( PAM_SILENT | 1 )", "PYTEST_FLAGS_auth", 0x8001),
    (" acct_mgmt(1) ", "PYTEST_FLAGS_acct", 1),  # blanks around: more than pamtester takes
    ("authenticate(~PAM_SILENT)", "PYTEST_FLAGS_auth", -0x8001),
    ("authenticate(1|2&2)", "PYTEST_FLAGS_auth", 3),
    ("authenticate(2&2|1)", "PYTEST_FLAGS_auth", 3),
    ("authenticate(1^1&0)", "PYTEST_FLAGS_auth", 1),
    ("authenticate(1|1^1)", "PYTEST_FLAGS_auth", 1),
    ("authenticate(~1&3)", "PYTEST_FLAGS_auth", 2),
    ("authenticate((1|2)&2)", "PYTEST_FLAGS_auth", 2),
    ("authenticate(PAM_SILENT^PAM_SILENT)", "PYTEST_FLAGS_auth", 0),
    ("authenticate(0x8000)", "PYTEST_FLAGS_auth", 0x8000),
    ("authenticate(010)", "PYTEST_FLAGS_auth", 10),
    ("authenticate(2147483648)", "PYTEST_FLAGS_auth", -(2**31)),
    ("acct_mgmt(PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK)", "PYTEST_FLAGS_acct", 0x8001),
    ("acct_mgmt", "PYTEST_FLAGS_acct", 0),
    ("open_session(PAM_SILENT)", "PYTEST_FLAGS_open", 0x8000),
    ("close_session(PAM_SILENT)", "PYTEST_FLAGS_close", 0x8000),
    ("chauthtok", "PYTEST_FLAGS_chauthtok", 0x2000),
    ("chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK)", "PYTEST_FLAGS_chauthtok", 0x2020),
    ("chauthtok(PAM_SILENT|PAM_CHANGE_EXPIRED_AUTHTOK)", "PYTEST_FLAGS_chauthtok", 0xA020),
    ("setcred", "PYTEST_SETCRED_FLAGS", 2),  # Linux-PAM: no flag means establish
    ("setcred(PAM_ESTABLISH_CRED)", "PYTEST_SETCRED_FLAGS", 2),
    ("setcred(PAM_DELETE_CRED)", "PYTEST_SETCRED_FLAGS", 4),
    ("setcred(PAM_REINITIALIZE_CRED)", "PYTEST_SETCRED_FLAGS", 8),
    ("setcred(PAM_REFRESH_CRED)", "PYTEST_SETCRED_FLAGS", 0x10),
    ("setcred(PAM_SILENT|PAM_REFRESH_CRED)", "PYTEST_SETCRED_FLAGS", 0x8010),
    # As pamtester: the flags go as written, without a credential flag added.
    ("setcred(PAM_SILENT)", "PYTEST_SETCRED_FLAGS", 0x8000),
]


@pytest.mark.parametrize(("operation", "variable", "value"), FLAG_CASES)
def test_flags_reach_the_module(
    pam_stack: pamstack.StackFactory, probe: str, operation: str, variable: str, value: int
) -> None:
    confdir = flag_stack(pam_stack, probe)
    operations = [operation, "acct_mgmt"] if operation.startswith("setcred") else [operation]
    result = cli("--confdir", confdir, "pytest", USER, *operations)
    assert result.rc == 0, result.err
    assert result.env()[variable] == str(value)


# ---------------------------------------------------------------------------
# Items and environment

ITEM_STACK = ["account required {pytest} items", "auth required pam_permit.so"]


@pytest.mark.parametrize(
    ("argument", "variable", "value"),
    [
        ("tty=/dev/pts/7", "PYTEST_ITEM_TTY", "/dev/pts/7"),
        ("rhost=client.example", "PYTEST_ITEM_RHOST", "client.example"),
        ("ruser=bob", "PYTEST_ITEM_RUSER", "bob"),
        ("prompt=Who are you? ", "PYTEST_ITEM_USER_PROMPT", "Who are you? "),
        ("user=carol", "PYTEST_ITEM_USER", "carol"),
        pytest.param("service=pytest", "PYTEST_ITEM_SERVICE", "pytest",
                     marks=pytest.mark.linux_pam("setting PAM_SERVICE after pam_start")),
        ("TTY=upper", "PYTEST_ITEM_TTY", "upper"),  # item names in any case, as pamtester
        ("tty=a=b", "PYTEST_ITEM_TTY", "a=b"),  # the value is all after the first '='
        ("tty=", "PYTEST_ITEM_TTY", ""),
    ],
)
def test_items_reach_the_module(pam_stack: pamstack.StackFactory, argument: str, variable: str, value: str) -> None:
    confdir = pam_stack(ITEM_STACK)
    result = cli("--confdir", confdir, "-I", argument, "pytest", USER, "acct_mgmt", "--print-env")
    assert result.rc == 0, result.err
    assert result.env()[variable] == value


@pytest.mark.skipif(pam.implementation != "OpenPAM",
                    reason=f"{pam.implementation} lets the service change until the first operation")
def test_service_item_refused_on_openpam(pam_stack: pamstack.StackFactory) -> None:
    # OpenPAM fixes the service at pam_start, even to the same name.
    result = cli("--confdir", pam_stack(ITEM_STACK), "-I", "service=pytest", "pytest", USER, "acct_mgmt")
    assert (result.rc, result.out, result.err) == (1, "", said("PAM_BAD_ITEM"))


def test_items_unset_by_default_and_user_from_the_command_line(pam_stack: pamstack.StackFactory) -> None:
    result = cli("--confdir", pam_stack(ITEM_STACK), "pytest", USER, "acct_mgmt", "--print-env")
    env = result.env()
    assert env["PYTEST_ITEM_USER"] == USER
    assert env["PYTEST_ITEM_SERVICE"] == "pytest"
    assert "PYTEST_ITEM_TTY" not in env and "PYTEST_ITEM_RHOST" not in env


def test_items_set_in_order_and_with_long_option(pam_stack: pamstack.StackFactory) -> None:
    confdir = pam_stack(ITEM_STACK)
    result = cli("--confdir", confdir, "-I", "tty=first", "--item", "tty=second", "-Irhost=glued",
                 "--item=ruser=joined", "pytest", USER, "acct_mgmt", "--print-env")
    env = result.env()
    assert (env["PYTEST_ITEM_TTY"], env["PYTEST_ITEM_RHOST"], env["PYTEST_ITEM_RUSER"]) == ("second", "glued", "joined")


def test_item_bytes_pass_unchanged(pam_stack: pamstack.StackFactory) -> None:
    result = cli("--confdir", pam_stack(ITEM_STACK), b"-I", b"tty=caf\xe9", "pytest", USER, "acct_mgmt", "--print-env")
    assert b"PYTEST_ITEM_TTY=caf\xe9\n" in result.out_bytes


def test_service_item_switches_the_stack(pam_stack: pamstack.StackFactory) -> None:
    confdir = pam_stack({
        "pytest": ["auth optional pam_echo.so first stack", "auth required pam_permit.so"],
        "second": ["auth optional pam_echo.so second stack", "auth required pam_permit.so"],
    })
    result = cli("--confdir", confdir, "-I", "service=second", "pytest", USER, "authenticate")
    assert result.out == "second stack\npam-tester: successfully authenticated\n"


@pytest.mark.linux_pam("unsetting environment variables (pam_putenv of a bare NAME)")
def test_env_set_and_unset(pam_stack: pamstack.StackFactory, probe: str) -> None:
    confdir = pam_stack([probe_line("account", probe, "FOO", "BAR", "EQ"), "account required pam_permit.so"])
    result = cli("--confdir", confdir, "-E", "FOO=1", "--env", "BAR=2", "-E", "FOO", "-EEQ=a=b",
                 "pytest", USER, "acct_mgmt")
    assert result.rc == 0, result.err
    assert result.out.splitlines()[:3] == ["FOO=<unset>", "BAR=2", "EQ=a=b"]


@pytest.mark.skipif("unsetenv" in pam.extensions, reason=f"{pam.implementation} can unset environment variables")
def test_env_unset_is_a_usage_error_where_pam_cannot(pam_stack: pamstack.StackFactory) -> None:
    result = cli("--confdir", pam_stack(PERMIT_ALL), "-E", "FOO=1", "-E", "FOO", "pytest", USER, "acct_mgmt")
    assert (result.rc, result.out) == (2, "")
    assert result.err == (
        f"pam-tester: -E 'FOO': {pam.implementation} cannot unset environment variables "
        "(write FOO= to set it empty) (see pam-tester --help)\n"
    )


@pytest.mark.linux_pam("unsetting environment variables (pam_putenv of a bare NAME)")
def test_env_unset_of_a_missing_variable_fails_like_pam_putenv(pam_stack: pamstack.StackFactory) -> None:
    result = cli("--confdir", pam_stack(PERMIT_ALL), "-E", "NOSUCH", "pytest", USER, "acct_mgmt")
    assert (result.rc, result.out, result.err) == (1, "", "pam-tester: Bad item passed to pam_*_item()\n")


def test_environment_after_authenticate(pam_stack: pamstack.StackFactory) -> None:
    # The binding clears the PAM environment after authenticate unless the
    # handle is elevated, which only root may ask for: pam-tester does as
    # root, so it then behaves as pamtester (which never clears it).
    confdir = pam_stack(["auth required {pytest} setenv=FROM_AUTH=yes", *PERMIT_ALL])
    result = cli("--confdir", confdir, "-E", "GIVEN=1", "pytest", USER, "authenticate", "--print-env")
    assert result.rc == 0, result.err
    if os.geteuid() == 0:
        assert result.env() == {"GIVEN": "1", "FROM_AUTH": "yes"}
    else:
        assert result.env() == {}


# ---------------------------------------------------------------------------
# The conversation without a terminal (lines of stdin or of --responses)

CONV_STACK = [
    "account required {pytest} msg=info:hello [msg=echo_on:Name: ] [msg=echo_off:Password: ] msg=error:oops",
]


def responses(result: Result, count: int) -> list[str]:
    env = result.env()
    return [env[f"PYTEST_RESP_{i}"] for i in range(count)]


def test_prompts_answered_from_stdin_lines(pam_stack: pamstack.StackFactory) -> None:
    result = cli("--confdir", pam_stack(CONV_STACK), "pytest", USER, "acct_mgmt", "--print-env",
                 stdin=b"bob\nsecret\nunused\n")
    assert result.rc == 0, result.err
    assert responses(result, 4) == ["<null>", "bob", "secret", "<null>"]
    # Prompts go to stderr with no newline of their own (the user's newline,
    # not echoed from a pipe, is missing, as with pamtester); info goes to
    # stdout, errors to stderr.
    assert result.err == "Name: Password: oops\n"
    assert result.out.startswith("hello\npam-tester: account management done.\n")


def test_end_of_input_is_no_answer(pam_stack: pamstack.StackFactory) -> None:
    result = cli("--confdir", pam_stack(CONV_STACK), "pytest", USER, "acct_mgmt", "--print-env", stdin=b"")
    assert result.rc == 0, result.err
    assert responses(result, 4) == ["<null>", "<null>", "<null>", "<null>"]
    # An echoed prompt left without an answer gets its newline.
    assert result.err == "Name: \nPassword: oops\n"


def test_last_line_without_newline(pam_stack: pamstack.StackFactory) -> None:
    result = cli("--confdir", pam_stack(CONV_STACK), "pytest", USER, "acct_mgmt", "--print-env", stdin=b"bob")
    assert responses(result, 3) == ["<null>", "bob", "<null>"]
    assert result.err == "Name: \nPassword: oops\n"


def test_empty_line_nul_byte_and_long_line(pam_stack: pamstack.StackFactory) -> None:
    stack = ["account required {pytest} msg=echo_on:a msg=echo_on:b msg=echo_on:c msg=echo_on:d"]
    long_line = b"x" * 5000
    result = cli("--confdir", pam_stack(stack), "pytest", USER, "acct_mgmt", "--print-env",
                 stdin=b"\nab\0cd\n" + long_line + b"\n")
    assert result.rc == 0, result.err
    # An answer stops at NUL; one is at most 4095 bytes, the rest of the
    # line answering the next prompt (as misc_conv reads).
    assert responses(result, 4) == ["", "ab", "x" * 4095, "x" * 905]
    # The cut line lacked its newline: the echoed prompt was given one.
    assert result.err == "abc\nd"


def test_radio_prompt_fails_the_conversation(pam_stack: pamstack.StackFactory) -> None:
    stack = ["account required {pytest} msg=info:before [msg=radio:Pick one]"]
    result = cli("--confdir", pam_stack(stack), "pytest", USER, "acct_mgmt", stdin=b"1\n")
    assert (result.rc, result.out) == (1, "before\n")
    assert result.err == "erroneous conversation (5)\npam-tester: Conversation error\n"


def test_binary_prompt_fails_the_conversation(pam_stack: pamstack.StackFactory) -> None:
    stack = ["account required {pytest} msg=binary:0102"]
    result = cli("--confdir", pam_stack(stack), "pytest", USER, "acct_mgmt")
    assert (result.rc, result.out, result.err) == (1, "", "pam-tester: Conversation error\n")


def test_conversation_failure_left_to_the_module(pam_stack: pamstack.StackFactory) -> None:
    # An optional module whose conversation failed does not fail the stack.
    stack = ["account optional {pytest} msg=binary:01", "account required pam_permit.so"]
    result = cli("--confdir", pam_stack(stack), "pytest", USER, "acct_mgmt")
    assert (result.rc, result.out) == (0, "pam-tester: account management done.\n")


def test_responses_file(pam_stack: pamstack.StackFactory, tmp_path: Path) -> None:
    answers = tmp_path / "answers"
    answers.write_bytes(b"from-file\nfile-secret\n")
    result = cli("--confdir", pam_stack(CONV_STACK), "--responses", str(answers), "pytest", USER,
                 "acct_mgmt", "--print-env", stdin=b"from-stdin\nstdin-secret\n")
    assert result.rc == 0, result.err
    assert responses(result, 3) == ["<null>", "from-file", "file-secret"]


def test_unreadable_input_fails_the_conversation(pam_stack: pamstack.StackFactory) -> None:
    # Standard input open for writing only: reading it fails (EBADF), which
    # fails the conversation, as in misc_conv; the module reports it.
    stack = ["account required {pytest} msg=info:before [msg=echo_on:Name: ]"]
    read_end, write_end = os.pipe()
    try:
        done = subprocess.run([*COMMAND, "--confdir", pam_stack(stack), "pytest", USER, "acct_mgmt"],
                              stdin=write_end, capture_output=True, timeout=60, check=False)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert (done.returncode, done.stdout) == (1, b"before\n")
    assert done.stderr == b"Name: \n" + said("PAM_CONV_ERR").encode()


def test_responses_dash_is_stdin(pam_stack: pamstack.StackFactory) -> None:
    result = cli("--confdir", pam_stack(CONV_STACK), "--responses", "-", "pytest", USER,
                 "acct_mgmt", "--print-env", stdin=b"x\ny\n")
    assert responses(result, 3) == ["<null>", "x", "y"]


def test_answers_across_operations(pam_stack: pamstack.StackFactory) -> None:
    # One line per prompt, in order, across the whole run.
    stack = ["auth required {pytest} msg=echo_off:P1 expect=0:one",
             "account required {pytest} msg=echo_off:P2 expect=0:two"]
    result = cli("--confdir", pam_stack(stack), "pytest", USER, "authenticate", "acct_mgmt",
                 stdin=b"one\ntwo\n")
    assert result.rc == 0, result.err
    result = cli("--confdir", pam_stack(stack), "pytest", USER, "authenticate", "acct_mgmt",
                 stdin=b"one\nwrong\n")
    # No newline after a prompt without echo: pamtester's output exactly.
    assert (result.rc, result.err) == (1, "P1P2" + said("PAM_AUTH_ERR"))


def test_messages_keep_their_bytes(tmp_path: Path, module_placeholders: dict[str, str]) -> None:
    # A module's text in another encoding than UTF-8 comes out unchanged.
    confdir = tmp_path / "latin1"
    pamstack.write_confdir(confdir, ["account required {pytest} [msg=info:CAFE ok] [msg=error:NAIVE]"],
                           placeholders=module_placeholders)
    service = confdir / "pytest"
    service.write_bytes(service.read_bytes().replace(b"CAFE", b"caf\xe9").replace(b"NAIVE", b"na\xefve"))
    result = cli("--confdir", str(confdir), "pytest", USER, "acct_mgmt")
    assert result.rc == 0, result.err
    assert result.out_bytes == b"caf\xe9 ok\npam-tester: account management done.\n"
    assert result.err_bytes == b"na\xefve\n"


def test_interrupt_while_waiting_for_an_answer(pam_stack: pamstack.StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    child = subprocess.Popen(
        [*COMMAND, "--confdir", confdir, "pytest", USER, "authenticate"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert child.stderr is not None
        seen = b""
        deadline = time.monotonic() + 30
        while b"Password:" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([child.stderr], [], [], 1)
            if ready:
                seen += os.read(child.stderr.fileno(), 1024)
        assert b"Password:" in seen
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 130
    assert b"Traceback" not in seen + err
    assert out == b""


# ---------------------------------------------------------------------------
# --print-env, --timing, -v


def test_print_env_after_the_operations(pam_stack: pamstack.StackFactory) -> None:
    stack = ["account required {pytest} setenv=ONE=1 setenv=TWO=two=2 setenv=EMPTY="]
    result = cli("--confdir", pam_stack(stack), "-E", "ZERO=0", "pytest", USER, "acct_mgmt", "--print-env")
    assert result.out == "pam-tester: account management done.\nZERO=0\nONE=1\nTWO=two=2\nEMPTY=\n"


def test_print_env_after_a_failure_too(pam_stack: pamstack.StackFactory) -> None:
    stack = ["account required {pytest} setenv=SEEN=1 ret=PAM_PERM_DENIED"]
    result = cli("--confdir", pam_stack(stack), "pytest", USER, "acct_mgmt", "--print-env")
    assert (result.rc, result.out, result.err) == (1, "SEEN=1\n", "pam-tester: Permission denied\n")


def test_timing(pam_stack: pamstack.StackFactory) -> None:
    stack = ["account required {pytest} sleep=100", "session required {pytest} ret=PAM_SESSION_ERR"]
    result = cli("--confdir", pam_stack(stack), "--timing", "pytest", USER, "acct_mgmt", "open_session", "close_session")
    assert result.rc == 1
    lines = result.err.splitlines()
    assert len(lines) == 3 and lines[2] + "\n" == said("PAM_SESSION_ERR")
    took = [re.fullmatch(r"pam-tester: (\w+) took (\d+\.\d{3}) ms", line) for line in lines[:2]]
    assert all(took), lines
    assert [m.group(1) for m in took if m] == ["acct_mgmt", "open_session"]
    assert float(took[0].group(2)) >= 100  # type: ignore[union-attr]
    assert float(took[1].group(2)) < 100  # type: ignore[union-attr]


def test_verbose(pam_stack: pamstack.StackFactory) -> None:
    confdir = pam_stack(PERMIT_ALL)
    result = cli("-v", "--confdir", confdir, "pytest", USER, "Authenticate(PAM_SILENT)", "acct_mgmt")
    assert result.rc == 0
    assert result.err == (
        f"pam-tester: invoking pam_start_confdir(pytest, {USER}, ..., {confdir})\n"
        "pam-tester: performing operation - Authenticate\n"
        "pam-tester: performing operation - acct_mgmt\n"
    )


# ---------------------------------------------------------------------------
# Usage errors: one line, status 2, nothing run


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "required: service, user"),
        (["pytest"], "required: user"),
        (["pytest", USER], "no operation"),
        (["pytest", USER, "login"], "unknown operation 'login'"),
        (["pytest", USER, "authenticate", "bogus"], "unknown operation 'bogus'"),
        (["pytest", USER, "authenticate(PAM_BOGUS)"], "unknown flag 'PAM_BOGUS'"),
        (["pytest", USER, "authenticate(PAM_DELETE_CRED|PAM_SUCCESS)"], "unknown flag 'PAM_SUCCESS'"),
        (["pytest", USER, "authenticate(PAM_SILENT"], "closing ')'"),
        (["pytest", USER, "authenticate(PAM_SILENT)x"], "malformed operation"),
        (["pytest", USER, "authenticate)"], "malformed operation"),
        (["pytest", USER, "authenticate(PAM_SILENT|)"], "end too early"),
        (["pytest", USER, "authenticate(|PAM_SILENT)"], "unexpected '|'"),
        (["pytest", USER, "authenticate(PAM_SILENT PAM_SILENT)"], "unexpected 'PAM_SILENT'"),
        (["pytest", USER, "authenticate(1~2)"], "unexpected '~'"),
        (["pytest", USER, "authenticate((1)"], "missing ')'"),
        (["pytest", USER, "authenticate(4294967296)"], "does not fit in 32 bits"),
        (["pytest", USER, "authenticate(1+1)"], "unknown flag '1+1'"),
        (["-I", "foo=bar", "pytest", USER, "authenticate"], "unknown item 'foo'"),
        (["-I", "tty", "pytest", USER, "authenticate"], "write ITEM=VALUE"),
        (["-I", "xdisplay=:0", "pytest", USER, "authenticate"], "unknown item 'xdisplay'"),
        (["-E", "=x", "pytest", USER, "authenticate"], "write NAME=VALUE"),
        (["-x", "pytest", USER, "authenticate"], "unrecognized arguments: -x"),
        (["--confdir", "/nonexistent/pam.d", "pytest", USER, "authenticate"], "not a directory"),
        (["--responses", "/nonexistent/answers", "pytest", USER, "authenticate"], "No such file"),
        (["-I"], "expected one argument"),
        (["--responses", "/", "pytest", USER, "authenticate"], "is a directory"),
        (["pytest", USER, ""], "malformed operation ''"),
    ],
)
def test_usage_errors(pam_stack: pamstack.StackFactory, args: list[str], says: str) -> None:
    # A stack that would record any operation: none may run.
    confdir = pam_stack(["auth required {pytest} msg=info:RAN", "account required {pytest} msg=info:RAN"])
    if "--confdir" not in args:
        args = ["--confdir", confdir, *args]
    result = cli(*args)
    assert result.rc == 2
    assert result.out == ""
    assert len(result.err.splitlines()) == 1, result.err
    assert result.err.startswith("pam-tester: ") and says in result.err, result.err
    assert "Traceback" not in result.err


def test_help() -> None:
    result = cli("--help")
    assert result.rc == 0 and result.err == ""
    assert result.out.startswith("usage: pam-tester ")
    for word in [*DONE, "--confdir", "--responses", "--print-env", "--timing", "PAM_SILENT", "rhost"]:
        assert word in result.out


def test_options_after_the_operations(pam_stack: pamstack.StackFactory) -> None:
    confdir = pam_stack(ITEM_STACK)
    result = cli("pytest", USER, "acct_mgmt", "--confdir", confdir, "-I", "tty=late", "--print-env")
    assert result.rc == 0, result.err
    assert result.env()["PYTEST_ITEM_TTY"] == "late"


def test_console_script(pam_stack: pamstack.StackFactory) -> None:
    # Installed next to the interpreter (a venv, /usr/bin), or, in a distro
    # package build, in the staging bin directory that the build puts on PATH.
    script = Path(sys.executable).parent / "pam-tester"
    if not script.is_file():
        script = Path(shutil.which("pam-tester") or script)
    assert script.is_file(), f"{script} missing: is [project.scripts] in pyproject.toml and the package installed?"
    result = cli("--confdir", pam_stack(PERMIT_ALL), "pytest", USER, "authenticate", command=[str(script)])
    assert (result.rc, result.out, result.err) == (0, "pam-tester: successfully authenticated\n", "")


def test_runs_as_python_m_of_the_cli_package(pam_stack: pamstack.StackFactory) -> None:
    command = [sys.executable, "-W", "error", "-m", "draxoft.auth.pam.cli"]
    result = cli("--confdir", pam_stack(PERMIT_ALL), "pytest", USER, "authenticate", command=command)
    assert (result.rc, result.out, result.err) == (0, "pam-tester: successfully authenticated\n", "")


# ---------------------------------------------------------------------------
# examples/pam.d (Linux-PAM) and examples/openpam.d (OpenPAM): the README's
# first command, on modules every installation of that PAM has

#: The example stacks for the PAM under test.
EXAMPLES = "examples/openpam.d" if pamstack.is_openpam() else "examples/pam.d"


@pytest.mark.parametrize(("directory", "allowed"), [
    ("pam.d", {"pam_echo.so", "pam_permit.so", "pam_deny.so", "pam_motd.so", "pam_debug.so"}),
    ("openpam.d", {"pam_permit.so", "pam_deny.so", "pam_return.so"}),
])
def test_examples_use_only_modules_every_installation_ships(directory: str, allowed: set[str]) -> None:
    stacks = [p for p in (REPO / "examples" / directory).iterdir() if not p.name.endswith(".env")]
    assert {p.name for p in stacks} == {"demo", "demo-fail", "demo-expired", "other"}
    for path in stacks:
        facilities = set()
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                assert line.split()[2] in allowed, (path.name, line)
                facilities.add(line.split()[0])
        # Every facility in every file: OpenPAM reads them all at pam_start.
        assert facilities == {"auth", "account", "password", "session"}, path.name


@pytest.mark.parametrize("where", ["repository", "elsewhere"])
def test_readme_first_command(where: str, tmp_path: Path) -> None:
    # The demo stack needs no file beside it: it works from any directory.
    me = pwd.getpwuid(os.getuid())
    confdir, cwd = (EXAMPLES, REPO) if where == "repository" else (str(REPO / EXAMPLES), tmp_path)
    result = cli("--confdir", confdir, "demo", me.pw_name,
                 "authenticate", "acct_mgmt", "open_session", "close_session", "--print-env", cwd=cwd)
    assert (result.rc, result.err) == (0, "")
    if pamstack.is_openpam():
        # No pam_echo or pam_env in OpenPAM: the steps only.
        assert result.out.splitlines() == [
            "pam-tester: successfully authenticated",
            "pam-tester: account management done.",
            "pam-tester: successfully opened a session",
            "pam-tester: session has successfully been closed.",
        ]
        return
    assert result.out.splitlines() == [
        f"demo: authenticating {me.pw_name} for service demo (pam_permit lets everyone in)",
        "pam-tester: successfully authenticated",
        f"demo: checking that the account of {me.pw_name} may be used now",
        "pam-tester: account management done.",
        f"demo: opening a session for {me.pw_name}",
        "pam-tester: successfully opened a session",
        "pam-tester: session has successfully been closed.",
        "MOTD_SHOWN=pam",
    ]


def test_examples_failure_and_fallback() -> None:
    base = ["--confdir", EXAMPLES]
    result = cli(*base, "demo-fail", USER, "authenticate", "acct_mgmt", cwd=REPO)
    assert (result.rc, result.err) == (1, said("PAM_AUTH_ERR"))
    result = cli(*base, "demo-expired", USER, "authenticate", "acct_mgmt", cwd=REPO)
    assert (result.rc, result.err) == (1, said("PAM_NEW_AUTHTOK_REQD"))
    result = cli(*base, "demo-expired", USER, "authenticate", "chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK)", cwd=REPO)
    assert result.rc == 0, result.err
    result = cli(*base, "no-such-service", USER, "authenticate", cwd=REPO)
    if not pamstack.is_openpam():  # pam_echo says why
        assert result.out == "no stack for service no-such-service in this directory: refused\n"
    assert (result.rc, result.err) == (1, said("PAM_AUTH_ERR"))
