"""pam-tester side by side with the real pamtester: same stacks, same arguments.

pamtester has no confdir: it reads /etc/pam.d. Each of its runs gets a
private mount namespace (``unshare -m``) in which a temporary directory is
bind-mounted over /etc/pam.d; the real /etc/pam.d is never touched. Outputs
are compared stream by stream, with pamtester's name replaced by ours;
exit statuses must be equal, except for usage errors: 2 here, where
pamtester exits 1 or 255.

Where pamtester is not installed these tests skip. As root (CI), a failing
``unshare`` fails them; otherwise an unprivileged user namespace is tried
(``unshare -r``), and the tests skip if that is not allowed either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator, Sequence

import pytest

import pamstack
from test_cli import COMMAND, DONE, FAILURES, FLAG_CASES, REPO, Result, cli, probe_line

PAMTESTER = shutil.which("pamtester")

# Run by sh in the new namespace: $0 is the directory to show as /etc/pam.d.
BIND_AND_RUN = 'mount --bind "$0" /etc/pam.d && exec "$@"'


def linked_libpam(binary: str) -> str | None:
    """The libpam that *binary* loads, as ldd resolves it, or None."""
    try:
        done = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
    except OSError:
        return None
    for line in done.stdout.splitlines():
        name, _, rest = line.strip().partition(" => ")
        if name.startswith("libpam.so") and rest.strip().startswith("/"):
            return os.path.realpath(rest.split()[0])
    return None


def other_libpam_problem() -> str | None:
    """Why pamtester cannot be compared with pam-tester here, or None: it
    must load the libpam under test (the PAM this build found), or the two
    would not run the same stacks; an OpenPAM build next to a Linux-PAM
    pamtester is the case."""
    assert PAMTESTER is not None
    from draxoft.auth import _pamlow  # noqa: F401  (maps the libpam of the build)

    with open("/proc/self/maps", encoding="utf-8") as maps:
        loaded = {line.split()[-1] for line in maps if "/libpam.so" in line}
    ours = os.path.realpath(loaded.pop()) if len(loaded) == 1 else None
    theirs = linked_libpam(PAMTESTER)
    if theirs is None or ours is None or theirs != ours:
        return (f"{PAMTESTER} uses {theirs or 'an unknown libpam'}, not the libpam under test "
                f"({ours or 'unknown'}, {pamstack.implementation()})")
    return None


@pytest.fixture(scope="module")
def unshare() -> Iterator[list[str]]:
    """The command prefix that gives a private /etc/pam.d."""
    if PAMTESTER is None:
        pytest.skip("pamtester is not installed (Debian: apt-get install pamtester)")
    problem = other_libpam_problem()
    if problem is not None:
        pytest.skip(problem)
    command = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        command.insert(1, "--map-root-user")
    probe = subprocess.run([*command, "sh", "-c", BIND_AND_RUN, "/tmp", "true"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        why = f"cannot bind-mount over /etc/pam.d in a private namespace: {' '.join(command)}: {probe.stderr.strip()}"
        if os.geteuid() == 0:
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    yield command
    # The system's policy must never have been shadowed here.
    assert not os.path.ismount("/etc/pam.d")


@pytest.fixture
def probe(tmp_path: Path) -> str:
    """pam_exec's script printing NAME=value lines (see test_cli)."""
    script = tmp_path / "probe.sh"
    script.write_text(
        "#!/bin/sh\n"
        'for name in "$@"; do\n'
        '  if value=$(printenv "$name"); then echo "$name=$value"; else echo "$name=<unset>"; fi\n'
        "done\n"
    )
    script.chmod(0o755)
    return str(script)


def in_private_etc(unshare: list[str], confdir: str, command: Sequence[str], args: Sequence[str],
                   stdin: bytes, cwd: Path | None = None) -> Result:
    done = subprocess.run(
        [*unshare, "sh", "-c", BIND_AND_RUN, confdir, *command, *args],
        input=stdin, capture_output=True, timeout=60, cwd=cwd, check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def pamtester(unshare: list[str], confdir: str, *args: str, stdin: bytes = b"", cwd: Path | None = None) -> Result:
    """pamtester with *confdir* as /etc/pam.d; its name in its messages made ours."""
    assert PAMTESTER is not None
    result = in_private_etc(unshare, confdir, [PAMTESTER], args, stdin, cwd)
    rename = [(b"pamtester: ", b"pam-tester: ")]
    out, err = result.out_bytes, result.err_bytes
    for old, new in rename:
        out, err = out.replace(old, new), err.replace(old, new)
    return Result(result.rc, out, err)


def same(unshare: list[str], confdir: str, *args: str, stdin: bytes = b"", in_namespace: bool = False) -> Result:
    """Run both and require the same status, stdout and stderr.

    Ours uses ``--confdir``, or with *in_namespace* the system's policy in
    the same private /etc/pam.d as pamtester (plain pam_start).
    """
    theirs = pamtester(unshare, confdir, *args, stdin=stdin)
    if in_namespace:
        ours = in_private_etc(unshare, confdir, COMMAND, args, stdin)
    else:
        ours = cli("--confdir", confdir, *args, stdin=stdin)
    assert (ours.rc, ours.out, ours.err) == (theirs.rc, theirs.out, theirs.err)
    return ours


PERMIT_ALL = [f"{kind} required pam_permit.so" for kind in ("auth", "account", "password", "session")]
CHATTY = [
    line
    for kind in ("auth", "account", "password", "session")
    for line in (f"{kind} optional pam_echo.so {kind} for %u via %s", f"{kind} required pam_permit.so")
]


def test_every_operation_succeeds(unshare: list[str], pam_stack: pamstack.StackFactory) -> None:
    result = same(unshare, pam_stack(CHATTY), "pytest", "alice", *DONE)
    assert result.rc == 0 and result.out.count("pam-tester: ") == len(DONE)


@pytest.mark.parametrize("operation", list(DONE))
def test_each_operation(unshare: list[str], pam_stack: pamstack.StackFactory, operation: str) -> None:
    assert same(unshare, pam_stack(CHATTY), "pytest", "alice", operation).rc == 0


@pytest.mark.parametrize(("failing", "stage", "code", "text"), FAILURES)
def test_failures(unshare: list[str], pam_stack: pamstack.StackFactory,
                  failing: str, stage: str, code: str, text: str) -> None:
    confdir = pam_stack(pamstack.debug_lines(**{stage: code}))
    others = [op for op in DONE if op != failing]
    result = same(unshare, confdir, "pytest", "alice", *others[:2], failing, *others[2:])
    assert (result.rc, result.err) == (1, f"pam-tester: {text}\n")


def test_verbose_in_the_same_etc_pam_d(unshare: list[str], pam_stack: pamstack.StackFactory) -> None:
    # Ours without --confdir, so that -v says pam_start as pamtester does.
    confdir = pam_stack(pamstack.debug_lines(acct="perm_denied"))
    result = same(unshare, confdir, "-v", "pytest", "alice", "AUTHENTICATE", "Open_Session(pam_silent)",
                  "acct_mgmt", "chauthtok", in_namespace=True)
    assert "performing operation - Open_Session" in result.err


def test_no_stack_at_all(unshare: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = same(unshare, str(empty), "pytest", "alice", "authenticate")
    assert (result.rc, result.err) == (1, "pam-tester: Initialization failure\n")
    same(unshare, str(empty), "-v", "pytest", "alice", "authenticate", in_namespace=True)


def test_other_as_fallback(unshare: list[str], pam_stack: pamstack.StackFactory) -> None:
    confdir = pam_stack({"other": ["auth optional pam_echo.so fallback for %s", "auth required pam_deny.so"]})
    result = same(unshare, confdir, "nosuchservice", "alice", "authenticate", "acct_mgmt")
    assert result.out == "fallback for nosuchservice\n"


def pamtester_reads(operation: str) -> bool:
    """Whether pamtester takes this (no hex, grouping, PAM_DELETE_CRED, outer blanks)."""
    if operation != operation.strip():
        return False
    inner = operation[operation.find("(") + 1 : operation.rfind(")")] if "(" in operation else ""
    return "0x" not in inner and "(" not in inner and "DELETE" not in inner.upper()


PAMTESTER_FLAGS = [case for case in FLAG_CASES if pamtester_reads(case[0])]


@pytest.mark.parametrize(("operation", "variable", "value"), PAMTESTER_FLAGS)
def test_flags(unshare: list[str], pam_stack: pamstack.StackFactory, probe: str,
               operation: str, variable: str, value: int) -> None:
    names = ["PYTEST_FLAGS_auth", "PYTEST_FLAGS_acct", "PYTEST_FLAGS_open", "PYTEST_FLAGS_close",
             "PYTEST_FLAGS_chauthtok", "PYTEST_SETCRED_FLAGS"]
    lines = []
    for kind in ("auth", "account", "password", "session"):
        lines += [f"{kind} optional {{pytest}} stage", probe_line(kind, probe, *names)]
    operations = [operation, "acct_mgmt"] if operation.startswith("setcred") else [operation]
    result = same(unshare, pam_stack(lines), "pytest", "alice", *operations)
    assert f"{variable}={value}\n" in result.out


ITEM_NAMES = ["PAM_USER", "PAM_SERVICE", "PAM_TTY", "PAM_RHOST", "PAM_RUSER", "PYTEST_ITEM_USER_PROMPT"]


@pytest.mark.parametrize(
    "items",
    [
        [],
        ["tty=/dev/pts/3", "rhost=client.example", "ruser=bob"],
        ["user=carol", "prompt=Who? "],
        ["TTY=upper", "Rhost=a=b", "ruser="],
        ["tty=first", "tty=second"],
        ["service=second"],
    ],
)
def test_items(unshare: list[str], pam_stack: pamstack.StackFactory, probe: str, items: list[str]) -> None:
    stack = ["account optional {pytest} items", probe_line("account", probe, *ITEM_NAMES),
             "account required pam_permit.so"]
    confdir = pam_stack({"pytest": stack, "second": ["account optional pam_echo.so second", *stack]})
    args = [arg for item in items for arg in ("-I", item)]
    result = same(unshare, confdir, *args, "pytest", "alice", "acct_mgmt")
    assert result.rc == 0


@pytest.mark.parametrize(
    "env",
    [
        ["FOO=1", "BAR=two"],
        ["FOO=1", "FOO"],
        ["FOO=a=b", "BAR="],
        ["NOSUCH"],  # pam_putenv of an unset name: PAM_BAD_ITEM
    ],
)
def test_environment(unshare: list[str], pam_stack: pamstack.StackFactory, probe: str, env: list[str]) -> None:
    confdir = pam_stack([probe_line("account", probe, "FOO", "BAR"), "account required pam_permit.so"])
    args = [arg for var in env for arg in ("-E", var)]
    same(unshare, confdir, *args, "pytest", "alice", "acct_mgmt")


CONVERSATION = [
    "account optional {pytest} msg=info:hello [msg=echo_on:Name: ] [msg=echo_off:Password: ] "
    "msg=echo_on:Third: msg=error:oops",
    "account optional {pytest} msg=echo_on:Again:",
]


@pytest.mark.parametrize(
    "stdin",
    [b"bob\nsecret\nthird\nagain\n", b"bob\nsecret\nthird", b"", b"\n\n\n\n", b"a\0b\nc\n",
     b"x" * 5000 + b"\n", b"only\n"],
)
def test_conversation_from_stdin(unshare: list[str], pam_stack: pamstack.StackFactory, probe: str,
                                 stdin: bytes) -> None:
    names = [f"PYTEST_RESP_{i}" for i in range(5)]
    confdir = pam_stack([*CONVERSATION, probe_line("account", probe, "PYTEST_CONV_RC", *names),
                         "account required pam_permit.so"])
    same(unshare, confdir, "pytest", "alice", "acct_mgmt", "acct_mgmt", stdin=stdin)


@pytest.mark.parametrize(
    "stack",
    [
        # The failed conversation is the operation's last: the binding
        # refuses every later one of the same operation (see the report).
        ["account required {pytest} msg=info:before [msg=radio:Pick one]"],
        ["account optional {pytest} msg=info:before [msg=radio:Pick one]", "account required pam_permit.so"],
        ["account required {pytest} msg=info:before msg=binary:0102"],
        ["auth required {pytest} msg=echo_off:P1 expect=0:right", "account required {pytest} msg=echo_off:P2"],
    ],
)
def test_conversation_failures(unshare: list[str], pam_stack: pamstack.StackFactory, stack: list[str]) -> None:
    same(unshare, pam_stack(stack), "pytest", "alice", "acct_mgmt", "authenticate", "acct_mgmt", stdin=b"wrong\n")


def test_unreadable_stdin(unshare: list[str], pam_stack: pamstack.StackFactory) -> None:
    confdir = pam_stack(["account required {pytest} msg=info:before [msg=echo_on:Name: ]"])
    results = []
    for command in ([*unshare, "sh", "-c", BIND_AND_RUN, confdir, str(PAMTESTER)], [*COMMAND, "--confdir", confdir]):
        read_end, write_end = os.pipe()
        try:
            done = subprocess.run([*command, "pytest", "alice", "acct_mgmt"], stdin=write_end,
                                  capture_output=True, timeout=60, check=False)
        finally:
            os.close(read_end)
            os.close(write_end)
        results.append((done.returncode, done.stdout, done.stderr.replace(b"pamtester: ", b"pam-tester: ")))
    assert results[0] == results[1]


def test_message_bytes(unshare: list[str], tmp_path: Path, module_placeholders: dict[str, str]) -> None:
    confdir = tmp_path / "latin1"
    confdir.mkdir()
    (confdir / "pytest").write_bytes(
        b"account required " + module_placeholders["pytest"].encode() + b" [msg=info:caf\xe9] [msg=error:na\xefve]\n"
    )
    result = same(unshare, str(confdir), "pytest", "alice", "acct_mgmt")
    assert b"caf\xe9\n" in result.out_bytes


@pytest.mark.parametrize(
    "args",
    [
        ["pytest", "alice", "bogus"],
        ["pytest", "alice", "authenticate", "bogus"],
        ["pytest", "alice", "authenticate(PAM_BOGUS)"],
        ["pytest", "alice", "authenticate(PAM_SILENT"],
        ["pytest", "alice", "authenticate(PAM_SILENT PAM_SILENT)"],
        ["-I", "foo=bar", "pytest", "alice", "authenticate"],
        ["-E", "=x", "pytest", "alice", "authenticate"],
        ["pytest", "alice"],
        ["pytest"],
        [],
    ],
)
def test_usage_errors(unshare: list[str], pam_stack: pamstack.StackFactory, args: list[str]) -> None:
    confdir = pam_stack(PERMIT_ALL)
    theirs = pamtester(unshare, confdir, *args)
    ours = cli("--confdir", confdir, *args)
    assert theirs.rc not in (0, 2)
    assert ours.rc == 2
    assert len(ours.err.splitlines()) == 1 and ours.err.startswith("pam-tester: ")
    # Ours runs nothing at all; pamtester may have run the operations
    # before the bad one, so only ours is held to an empty stdout.
    assert ours.out == ""


def test_readme_demo(unshare: list[str]) -> None:
    # The examples, run from the repository root as the README says.
    confdir = str(REPO / "examples" / "pam.d")
    for service, operations in [
        ("demo", ["authenticate", "acct_mgmt", "open_session", "close_session", "chauthtok", "setcred"]),
        ("demo-fail", ["authenticate", "acct_mgmt"]),
        ("demo-expired", ["authenticate", "acct_mgmt"]),
        ("demo-expired", ["authenticate", "chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK)", "open_session"]),
        ("unknown", ["authenticate"]),
    ]:
        theirs = pamtester(unshare, confdir, service, "alice", *operations, cwd=REPO)
        ours = cli("--confdir", "examples/pam.d", service, "alice", *operations, cwd=REPO)
        assert (ours.rc, ours.out, ours.err) == (theirs.rc, theirs.out, theirs.err), service
