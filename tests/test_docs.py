"""The documentation: its example programs run, its console examples give
the output shown, and both Sphinx builds pass.

Every example of docs/ runs somewhere:

- ``>>>`` examples run in ``sphinx-build -b doctest``, which this module
  runs (against real PAM stacks that each page writes itself);
- the programs of docs/examples run here, each against a stack that
  the test kit (draxoft.auth.pam.testing) or, where the stack needs
  pam_wrapper's and Linux-PAM's own modules, docs/examples/sandbox.py writes,
  at a real terminal (a pseudo-terminal) where they ask questions;
- ``.. code-block:: console`` blocks marked ``:class: runnable`` run here
  from the root of the source, and must print what they show.

Sphinx and its theme are needed (``pip install '.[docs]'``), and Graphviz's
``dot`` for the diagrams; their absence fails the tests that need them,
with that message.
"""

from __future__ import annotations

import doctest
import fcntl
import importlib.util
import inspect
import os
import pty
import pwd
import re
import select
import shlex
import shutil
import subprocess
import sys
import termios
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

import pytest

from draxoft.auth import pam

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"

sys.path.insert(0, str(EXAMPLES))
from sandbox import sandbox  # noqa: E402  (docs/examples is not a package)

from draxoft.auth.pam.testing import Sandbox, Step  # noqa: E402

#: The example programs and the tests below that run them.
EXAMPLE_TESTS = {
    "sandbox.py": "the tests here that run the example programs",
    "check_my_password.py": "test_check_my_password_*",
    "web_login.py": "test_web_login_serves_logins",
    "web_login_aio.py": "test_web_login_serves_logins",
    "minilogin.py": "test_minilogin_*",
    "chpass.py": "test_chpass_*",
    "test_web_login.py": "test_the_example_test_modules_pass",
    "test_kit_login.py": "test_the_example_test_modules_pass",
}

ME = pwd.getpwuid(os.getuid()).pw_name
TIMEOUT = 60.0

# docs/ is not packaged: these tests check the source tree.
pytestmark = pytest.mark.source_tree

#: minilogin.py and chpass.py run against sandbox stacks of pam_wrapper's
#: pam_matrix, which only Linux-PAM can load; the others against the kit's.
NEEDS_MATRIX = pytest.mark.linux_pam("pam_wrapper's pam_matrix, which the example's stacks use")


def test_every_example_program_is_run_by_a_test() -> None:
    on_disk = {p.name for p in EXAMPLES.glob("*.py")}
    assert on_disk == set(EXAMPLE_TESTS), "add a test for each program of docs/examples"


# ---------------------------------------------------------------------------
# A terminal for the programs that ask questions


class Terminal:
    """Runs a program on a pseudo-terminal that is its controlling terminal.

    The programs use the default conversation, which opens /dev/tty and
    turns echo off for passwords, as it would for a person.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.master, slave = pty.openpty()

        def take_terminal() -> None:  # in the child, after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", TERM="dumb")
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            preexec_fn=take_terminal,
        )
        os.close(slave)
        self.output = b""
        self.seen = 0

    def _read(self, timeout: float) -> bool:
        """Read what is there; False at the end of the output."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: every copy of the slave is closed
            data = b""
        self.output += data
        return bool(data)

    def expect(self, text: str) -> None:
        """Wait until *text* appears after what was expected before."""
        wanted = text.encode()
        deadline = time.monotonic() + TIMEOUT
        while wanted not in self.output[self.seen:]:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                self.kill()
                raise AssertionError(f"{text!r} never came; the terminal shows:\n{self.text}")
        self.seen = self.output.index(wanted, self.seen) + len(wanted)

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def interrupt(self) -> None:
        os.write(self.master, b"\x03")  # Ctrl-C: SIGINT for the foreground group

    def finish(self) -> int:
        """Wait for the program to end; its exit status."""
        deadline = time.monotonic() + TIMEOUT
        while self._read(max(deadline - time.monotonic(), 0)):
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the program did not end; the terminal shows:\n{self.text}")
        os.close(self.master)
        return self.process.wait(TIMEOUT)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace").replace("\r\n", "\n")


def example(name: str) -> str:
    return str(EXAMPLES / name)


# ---------------------------------------------------------------------------
# check_my_password.py


@pytest.fixture
def my_password_stack(pam_sandbox: Sandbox) -> str:
    pam_sandbox.add_user(ME, "correct horse")
    pam_sandbox.password_service("check-my-password")
    return pam_sandbox.confdir


def test_check_my_password_accepts_the_right_one(my_password_stack: str) -> None:
    term = Terminal([example("check_my_password.py"), "--confdir", my_password_stack])
    term.expect(f"Checking the password of {ME}.")
    term.expect("Password: ")
    term.type("correct horse")
    term.expect("Password accepted.")
    assert term.finish() == 0
    assert "correct horse" not in term.text  # typed without echo


def test_check_my_password_refuses_a_wrong_one(my_password_stack: str) -> None:
    term = Terminal([example("check_my_password.py"), "--confdir", my_password_stack])
    term.expect("Password: ")
    term.type("battery staple")
    term.expect("Wrong password.")
    assert term.finish() == 1


def test_check_my_password_ctrl_c_at_the_prompt(my_password_stack: str) -> None:
    # KeyboardInterrupt raised in the conversation comes out of authenticate().
    term = Terminal([example("check_my_password.py"), "--confdir", my_password_stack])
    term.expect("Password: ")
    term.interrupt()
    term.expect("Cancelled.")
    assert term.finish() == 1


def test_check_my_password_reports_a_broken_stack(pam_sandbox: Sandbox) -> None:
    pam_sandbox.password_service("check-my-password", authenticate=pam.PAM_AUTHINFO_UNAVAIL)
    confdir = pam_sandbox.confdir
    term = Terminal([example("check_my_password.py"), "--confdir", confdir])
    term.expect("PAM failed:")
    assert term.finish() == 2


# ---------------------------------------------------------------------------
# web_login.py, served for real


@pytest.mark.parametrize("program", ["web_login.py", "web_login_aio.py"])
def test_web_login_serves_logins(pam_sandbox: Sandbox, program: str) -> None:
    pam_sandbox.add_user("alice", "wonderland")
    pam_sandbox.add_user("carol", "secret")
    # carol may not use webapp: her account is refused.
    carol_refused = Step(code=pam.PAM_PERM_DENIED, user="carol")
    pam_sandbox.password_service("webapp", acct_mgmt=carol_refused)
    confdir = pam_sandbox.confdir
    server = subprocess.Popen(
        [sys.executable, example(program), "--confdir", confdir, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], TIMEOUT)
        assert ready, "the server printed nothing"
        line = server.stdout.readline()
        match = re.match(r"Serving on (http://127\.0\.0\.1:\d+/)$", line.strip())
        assert match, line
        url = match.group(1)

        def log_in(user: str, password: str) -> tuple[int, str]:
            data = urllib.parse.urlencode({"user": user, "password": password}).encode()
            try:
                with urllib.request.urlopen(url + "login", data, timeout=TIMEOUT) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            assert answer.status == 200 and "<form" in answer.read().decode()
        status, page = log_in("alice", "wonderland")
        assert status == 200 and "Welcome, alice." in page
        refusals = {log_in(user, password) for user, password in
                    [("alice", "wrong"), ("mallory", "wonderland"), ("carol", "secret"), ("alice", "")]}
        assert len(refusals) == 1  # the same status and page for all
        status, page = refusals.pop()
        assert status == 403 and "Wrong user name or password." in page
    finally:
        server.terminate()
        server.wait(TIMEOUT)
        if server.stdout is not None:
            server.stdout.close()


# ---------------------------------------------------------------------------
# minilogin.py


def login_account() -> str:
    """Who minilogin logs in: as root another account, else oneself."""
    if os.geteuid() != 0:
        return ME
    try:
        return pwd.getpwnam("nobody").pw_name
    except KeyError:
        pytest.fail("the tests of minilogin.py as root need the account 'nobody'", pytrace=False)


def login_stack(tmp_path: Path, user: str, account: str = "{matrix} passdb={passdb}") -> str:
    return sandbox(
        {"minilogin": f"""
            auth      requisite pam_succeed_if.so quiet user != nosuchuser
            auth      required  {{matrix}} passdb={{passdb}}
            account   required  {account}
            password  required  {{matrix}} passdb={{passdb}}
            session   optional  pam_echo.so Welcome, %u.
            session   required  pam_env.so readenv=0 conffile={{dir}}/env.conf
            session   required  {{matrix}} passdb={{passdb}}
        """},
        users=[(user, "letmein", "minilogin")],
        directory=tmp_path,
    )


def write_env_conf(confdir: str) -> None:
    Path(confdir, "env.conf").write_text('DEMO DEFAULT="from pam_env"\n')


@NEEDS_MATRIX
def test_minilogin_runs_a_command_in_a_session(tmp_path: Path) -> None:
    user = login_account()
    confdir = login_stack(tmp_path, user)
    write_env_conf(confdir)
    command = 'echo "I am $(id -un); HOMEDIR=$HOMEDIR; DEMO=$DEMO"'
    term = Terminal([example("minilogin.py"), "--confdir", confdir, user, "--", "sh", "-c", command])
    term.expect("Password: ")
    term.type("letmein")
    term.expect(f"Welcome, {user}.")
    term.expect(f"I am {user}; HOMEDIR=/home/{user}; DEMO=from pam_env")
    assert term.finish() == 0


@NEEDS_MATRIX
def test_minilogin_asks_the_name_and_allows_retries(tmp_path: Path) -> None:
    user = login_account()
    confdir = login_stack(tmp_path, user)
    write_env_conf(confdir)
    # Without a name on the command line, PAM asks for it, and asks again
    # after a failure; without a command, the user's shell runs.
    term = Terminal([example("minilogin.py"), "--confdir", confdir])
    term.expect("login: ")
    term.type(user)
    term.expect("Password: ")
    term.type("wrong")
    term.expect("Login incorrect")
    term.expect("login: ")
    term.type(user)
    term.expect("Password: ")
    term.type("letmein")
    term.expect(f"Welcome, {user}.")
    term.type("exit 3")
    shell = pwd.getpwnam(user).pw_shell
    # The shell's status: 3, or 1 for an account whose shell refuses (nologin).
    expected = 1 if os.path.basename(shell) in ("nologin", "false") else 3
    assert term.finish() == expected


@NEEDS_MATRIX
def test_minilogin_gives_up_after_three_failures(tmp_path: Path) -> None:
    user = login_account()
    confdir = login_stack(tmp_path, user)
    term = Terminal([example("minilogin.py"), "--confdir", confdir, user, "true"])
    for _ in range(3):
        term.expect("Password: ")
        term.type("wrong")
        term.expect("Login incorrect")
    term.expect("too many failures")
    assert term.finish() == 1


@NEEDS_MATRIX
def test_minilogin_changes_an_expired_password(tmp_path: Path) -> None:
    user = login_account()
    confdir = login_stack(tmp_path, user, account="pam_debug.so acct=new_authtok_reqd")
    write_env_conf(confdir)
    term = Terminal([example("minilogin.py"), "--confdir", confdir, user, "id", "-un"])
    term.expect("Password: ")
    term.type("letmein")
    term.expect("You are required to change your password now.")
    term.expect("Old password: ")
    term.type("letmein")
    term.expect("New Password :")
    term.type("n3w-pass")
    term.expect("Verify New Password :")
    term.type("n3w-pass")
    term.expect(f"Welcome, {user}.")
    term.expect(user)
    assert term.finish() == 0
    assert Path(confdir, "passdb").read_text() == f"{user}:n3w-pass:minilogin\n"


# ---------------------------------------------------------------------------
# chpass.py


@pytest.fixture
def chpass_stack(tmp_path: Path) -> str:
    return sandbox(
        {"chpass": "password required {matrix} passdb={passdb}"},
        users=[(ME, "old-one", "chpass"), ("alice", "wonderland", "chpass")],
        directory=tmp_path,
    )


@NEEDS_MATRIX
def test_chpass_changes_my_password(chpass_stack: str) -> None:
    term = Terminal([example("chpass.py"), "--confdir", chpass_stack])
    term.expect(f"Changing the password of {ME}.")
    term.expect("Old password: ")
    term.type("old-one")
    term.expect("New Password :")
    term.type("new-one")
    term.expect("Verify New Password :")
    term.type("new-one")
    term.expect("Password changed.")
    assert term.finish() == 0
    assert f"{ME}:new-one:chpass\n" in Path(chpass_stack, "passdb").read_text()
    assert "new-one" not in term.text


@NEEDS_MATRIX
def test_chpass_keeps_the_password_when_the_old_one_is_wrong(chpass_stack: str) -> None:
    term = Terminal([example("chpass.py"), "--confdir", chpass_stack])
    term.expect("Old password: ")
    term.type("guess")
    term.expect("chpass: password unchanged: Authentication failure")
    assert term.finish() == 1
    assert f"{ME}:old-one:chpass\n" in Path(chpass_stack, "passdb").read_text()


@NEEDS_MATRIX
def test_chpass_another_user_needs_root(chpass_stack: str) -> None:
    term = Terminal([example("chpass.py"), "--confdir", chpass_stack, "alice"])
    if os.geteuid() != 0:
        term.expect("only root may change the password of another user")
        assert term.finish() == 1
        return
    term.expect("Changing the password of alice.")
    term.expect("Old password: ")
    term.type("wonderland")
    term.expect("New Password :")
    term.type("rabbit")
    term.expect("Verify New Password :")
    term.type("rabbit")
    term.expect("Password changed.")
    assert term.finish() == 0


# ---------------------------------------------------------------------------
# docs/examples/test_web_login.py: the testing tutorial's own tests


@pytest.mark.parametrize("module, passed", [("test_web_login.py", 9), ("test_kit_login.py", 5)])
def test_the_example_test_modules_pass(tmp_path: Path, module: str, passed: int) -> None:
    # As a user's suite would run them: from a directory of their own (with
    # the module they test), where only the installed package's pytest
    # plugin gives them the pam_sandbox fixture.
    for name in (module, "web_login.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", module],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(rf"\b{passed} passed\b", done.stdout), done.stdout


# ---------------------------------------------------------------------------
# Console examples marked runnable


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def runnable_console_blocks() -> list[tuple[str, int, list[tuple[str, str]], Optional[str]]]:
    """(file, line, [(command, expected output)], implementation) for each
    runnable block; the implementation is that of an enclosing
    ``.. pam-if::`` (docs/_ext/pamdocs.py), or None for a block that holds
    for every PAM."""
    found = []
    for path in sorted(DOCS.rglob("*.rst")):
        lines = path.read_text(encoding="utf-8").splitlines()
        pam_if: list[tuple[int, str]] = []  # (indent, implementation) of open pam-if blocks
        i = 0
        while i < len(lines):
            text = lines[i]
            if text.strip():
                pam_if = [(indent, name) for indent, name in pam_if if _indent(text) > indent]
            match = re.match(r"^(\s*)\.\. pam-if::\s*(\S+)\s*$", text)
            if match:
                pam_if.append((len(match.group(1)), match.group(2)))
                i += 1
                continue
            if text.strip() != ".. code-block:: console":
                i += 1
                continue
            start = i
            base = _indent(text)
            i += 1
            options = []
            while i < len(lines) and lines[i].strip().startswith(":"):
                options.append(lines[i].strip())
                i += 1
            body = []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
                body.append(lines[i][base + 3:])
                i += 1
            if ":class: runnable" not in options:
                continue
            steps: list[tuple[str, list[str]]] = []
            for line in body:
                if line.startswith("$ "):
                    steps.append((line[2:], []))
                elif steps:
                    steps[-1][1].append(line)
            assert steps, f"{path}:{start + 1}: a runnable block without a command"
            cases = [(cmd, "\n".join(out).strip("\n") + "\n") for cmd, out in steps]
            found.append((str(path.relative_to(ROOT)), start + 1, cases, pam_if[-1][1] if pam_if else None))
    return found


RUNNABLE = runnable_console_blocks()


def test_there_are_runnable_console_examples() -> None:
    assert len(RUNNABLE) >= 6


@pytest.fixture(scope="module")
def console_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pam-tester`` and ``python`` for the console examples: this interpreter."""
    bindir = tmp_path_factory.mktemp("console-bin")
    for name, args in (("pam-tester", "-m draxoft.auth.pam"), ("python", "")):
        script = bindir / name
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {args} "$@"\n')
        script.chmod(0o755)
    return bindir


@pytest.mark.parametrize("where, line, cases, implementation", RUNNABLE, ids=[f"{f}:{n}" for f, n, _, _ in RUNNABLE])
def test_console_example(
    console_bin: Path, where: str, line: int, cases: list[tuple[str, str]], implementation: Optional[str]
) -> None:
    if implementation is not None and implementation != pam.implementation:
        pytest.skip(f"the example shows {implementation}'s output; this build is {pam.implementation}'s")
    marker = "=== next command ==="
    script = ["exec 2>&1", "status=0"]
    for command, _ in cases:
        # Print a marker between commands, keeping $? for "echo $?".
        script += [f"printf '%s\\n' {shlex.quote(marker)}", "(exit $status)", command, "status=$?"]
    env = dict(os.environ, PATH=f"{console_bin}{os.pathsep}{os.environ.get('PATH', '')}",
               LC_ALL="C.UTF-8", LANG="C.UTF-8")
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    outputs = done.stdout.split(marker + "\n")[1:]
    assert len(outputs) == len(cases), done.stdout
    checker = doctest.OutputChecker()
    for (command, expected), got in zip(cases, outputs):
        got = "\n".join(l.rstrip() for l in got.splitlines()).strip("\n") + "\n"
        assert checker.check_output(expected, got, doctest.ELLIPSIS), (
            f"{where}:{line}: $ {command}\nexpected:\n{expected}got:\n{got}"
        )


# ---------------------------------------------------------------------------
# The Sphinx builds


def sphinx_build(builder: str, out: Path) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("furo") is None:
        pytest.fail("Sphinx or its theme Furo is not installed: pip install '.[docs]'", pytrace=False)
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's dot draws the diagrams of the docs: apt-get install graphviz",
                    pytrace=False)
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-b", builder,
         "-d", str(out / "doctrees"), str(DOCS), str(out / builder)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    start = time.monotonic()
    done = sphinx_build("html", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - start < 60, "the html build should stay under a minute"
    return out / "html"


def test_sphinx_html_builds_without_warnings(html: Path) -> None:
    for page in ("index", "install", "api", "cli", "changelog", "tutorials/web-login",
                 "tutorials/login-program", "topics/implementations"):
        assert (html / f"{page}.html").is_file(), page


def doctest_pages() -> list[tuple[str, Optional[str]]]:
    """(page, what its examples need of Linux-PAM or None) for each page
    with doctests; the need is the argument of the page's
    ``.. examples-need-linux-pam::`` (docs/_ext/pamdocs.py)."""
    pages = []
    for path in sorted(DOCS.rglob("*.rst")):
        text = path.read_text(encoding="utf-8")
        if not re.search(r"^\s*>>> ", text, re.MULTILINE):
            continue
        need = re.search(r"^\.\. examples-need-linux-pam::\s*(.+)$", text, re.MULTILINE)
        pages.append((path.relative_to(DOCS).with_suffix("").as_posix(), need.group(1).strip() if need else None))
    return pages


DOCTEST_PAGES = doctest_pages()


@pytest.fixture(scope="module")
def doctest_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], str]:
    """One ``sphinx-build -b doctest`` run: the process and its output.txt."""
    out = tmp_path_factory.mktemp("doctest")
    done = sphinx_build("doctest", out)
    report = out / "doctest" / "output.txt"
    return done, report.read_text() if report.is_file() else ""


def test_sphinx_doctests_pass(doctest_report: tuple[subprocess.CompletedProcess[str], str]) -> None:
    done, summary = doctest_report
    assert done.returncode == 0, done.stdout + done.stderr + summary
    match = re.search(r"^\s+(\d+) tests\n\s+0 failures in tests", summary, re.MULTILINE)
    # Most examples need Linux-PAM's modules or pam_wrapper's (see the
    # per-page test below); elsewhere only a few run.
    least = 150 if pam.implementation == "Linux-PAM" else 10
    assert match and int(match.group(1)) >= least, summary


@pytest.mark.parametrize("page, need", DOCTEST_PAGES, ids=[page for page, _ in DOCTEST_PAGES])
def test_doctests_of_each_page(
    doctest_report: tuple[subprocess.CompletedProcess[str], str], page: str, need: Optional[str]
) -> None:
    if need is not None and pam.implementation != "Linux-PAM":
        pytest.skip(f"{pam.implementation} cannot load {need}, which the examples of {page} use")
    _, summary = doctest_report
    section = re.search(rf"^Document: {re.escape(page)}\n-+\n(.*?)(?=^Document: |\Z)", summary,
                        re.MULTILINE | re.DOTALL)
    assert section, f"no doctest ran on {page}:\n{summary}"
    counts = re.search(r"^(\d+) passed and (\d+) failed\.$", section.group(1), re.MULTILINE)
    assert counts and int(counts.group(1)) > 0 and counts.group(2) == "0", section.group(1)


def test_every_public_name_is_in_the_api_reference(html: Path) -> None:
    api = (html / "api.html").read_text(encoding="utf-8")
    names = list(pam.__all__) + ["_conv_callback"]
    names += [f"handle.{n}" for n in dir(pam.handle) if not n.startswith("_")] + ["handle.data"]
    names += ["PamError.from_code"]
    missing = [n for n in names if f'id="draxoft.auth.pam.{n}"' not in api]
    assert missing == []


def test_every_aio_name_is_in_the_api_reference(html: Path) -> None:
    from draxoft.auth.pam import aio

    api = (html / "api.html").read_text(encoding="utf-8")
    names = list(aio.__all__) + [f"handle.{n}" for n in dir(aio.handle) if not n.startswith("_")] + ["handle.data"]
    missing = [n for n in names if f'id="draxoft.auth.pam.aio.{n}"' not in api]
    assert missing == []


def test_every_parameter_is_described(html: Path) -> None:
    """Each argument of the constructor and of the helper has its own entry."""
    api = (html / "api.html").read_text(encoding="utf-8")
    for function, skip in ((pam.handle.__init__, {"self"}), (pam.authenticate, set())):
        section = api.split(f'id="draxoft.auth.pam.{function.__qualname__.split(".")[0]}"', 1)[1]
        section = section.split("</dl>", 1)[0]
        names = set(inspect.signature(function).parameters) - skip
        undescribed = sorted(n for n in names if f"<strong>{n}</strong>" not in section)
        assert undescribed == [], f"{function.__qualname__}: no :param: for {undescribed}"


def test_the_changelog_is_in_the_docs(html: Path) -> None:
    version = (ROOT / "VERSION").read_text().strip()
    page = (html / "changelog.html").read_text(encoding="utf-8")
    assert f"[{version}]" not in page and version in page


# ---------------------------------------------------------------------------
# Text checks


def test_changelog_has_the_current_version() -> None:
    version = (ROOT / "VERSION").read_text().strip()
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.MULTILINE), (
        f"CHANGELOG.md needs a '## [{version}] - YYYY-MM-DD' section"
    )
    for heading in re.findall(r"^### (.*)$", text, re.MULTILINE):
        assert heading in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, heading


def test_readme_commands_make_their_own_venv() -> None:
    """The README's quick start and test command (which .ci/run runs as
    written) work on a distro whose Python is externally managed (PEP 668)
    and has no ``python``: each makes and activates a venv before pip runs,
    and docs/install.rst gives the same test command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    test_command = re.search(r"<!-- test-command -->\n```sh\n(.*)\n```", readme)
    assert test_command, "README.md has no test command after its marker"
    quick_start = re.search(r"\n(python3 -m venv .*--print-env)\n", readme)
    assert quick_start, "README.md has no one-line quick start"
    venv_first = re.compile(r"^python3 -m venv (\S+) && \. \1/bin/activate && [^\n]*$")
    for command in (test_command.group(1), quick_start.group(1)):
        assert venv_first.match(command), command
    install = (DOCS / "install.rst").read_text(encoding="utf-8")
    assert f"   $ {test_command.group(1)}\n" in install


def test_readme_links_to_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/" in readme, "README.md should say where the documentation is"


def test_nothing_points_outside_the_repository() -> None:
    """The repository stands alone: its docs are its contract, and no file
    of it names a file kept beside it (reference notes, a directory of
    instructions one level up)."""
    outside = re.compile(r"shared/reference|steer(ing)? repo|\.\./shared|\.\./\.\./")
    skipped_dirs = {".git", ".venv", "build", "dist", "_build", "__pycache__", ".pytest_cache", ".hypothesis"}
    checked = 0
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        name = relative.as_posix()
        if (set(relative.parts) & skipped_dirs or any(part.endswith(".egg-info") for part in relative.parts)
                or not path.is_file() or name in ("configure", "config.log", "config.status")
                or path.suffix in (".so", ".o", ".pyc")):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        checked += 1
        if name == "tests/test_docs.py":
            continue
        for number, line in enumerate(text.splitlines(), 1):
            assert not outside.search(line), f"{name}:{number} points outside the repository: {line.strip()}"
    assert checked > 50
