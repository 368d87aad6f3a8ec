"""handle.spawn(), pam.login_session() and handle.release(), against real stacks.

The user's programs run as an account this machine already has (``daemon``,
whose home directory exists, and ``nobody``, whose home does not); no
account is added or changed. Starting a program as another user needs
root: those tests say so when skipped. The calls PAM made are read from
the log of tests/modules/pam_steplog.c (one line per call, with its flags
and the process that made it), and pam_exec logs the session steps too.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from draxoft.auth import pam

from pamstack import StackFactory, run_isolated

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="starting a program as another user needs root")

EST = pam.PAM_ESTABLISH_CRED
DEL = pam.PAM_DELETE_CRED


def quiet(style: int, message: Any, data: Any) -> None:
    return None


def account(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pytest.fail(f"these tests need the account {name!r}, which every Debian system has", pytrace=False)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory the user's programs can reach: the test's own tmp_path
    is private to root. Its ``log`` is writable by anyone."""
    place = Path(tempfile.mkdtemp(prefix="draxoft-spawn-"))
    try:
        place.chmod(0o755)
        log = place / "log"
        log.touch()
        log.chmod(0o666)
        yield place
    finally:
        shutil.rmtree(place)


def steps(log: Path) -> list[tuple[str, ...]]:
    """The log as (what, flags or status, pid) tuples; a program's own
    lines (``child ...``) as they are."""
    found: list[tuple[str, ...]] = []
    for line in log.read_text().splitlines():
        match = re.fullmatch(r"(\w+) (?:flags|status)=(\S+) pid=(\d+) euid=\d+", line)
        found.append((match.group(1), match.group(2), match.group(3)) if match else (line,))
    return found


def names(log: Path) -> list[str]:
    return [s[0] for s in steps(log)]


def flags(value: int) -> str:
    """As pam_steplog prints flags: unsigned, in hex (OpenPAM's PAM_SILENT
    is INT_MIN)."""
    return "%#x" % (value & 0xFFFFFFFF)


def logging_stack(pam_stack: StackFactory, log: Path, *options: str, extra: tuple[str, ...] = ()) -> str:
    """Every stack type logs through pam_steplog (with *options*), then lets
    everyone in."""
    line = " ".join(["{steplog}", f"log={log}", *options])
    return pam_stack([
        f"auth     required {line}",
        "auth     required pam_permit.so",
        f"account  required {line}",
        "account  required pam_permit.so",
        f"password required {line}",
        "password required pam_permit.so",
        f"session  required {line}",
        *extra,
        "session  required pam_permit.so",
    ])


# ----------------------------------------------------------------------
# spawn(): who, where, with what


CHILD_REPORT = textwrap.dedent("""\
    echo "uid=$(id -u)"
    echo "gid=$(id -g)"
    echo "groups=$(id -G)"
    echo "cwd=$(pwd)"
    env
""")


def report(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@needs_root
def test_spawn_runs_the_program_as_the_user_in_the_pam_environment(pam_stack: StackFactory, shared: Path) -> None:
    user = account("daemon")
    (shared / "env.conf").write_text('SPAWN_DEMO DEFAULT="from pam_env"\nPATH DEFAULT=/opt/demo/bin:/usr/bin:/bin\n')
    exec_log = shared / "exec.log"
    (shared / "exec.sh").write_text(f'#!/bin/sh\necho "$PAM_TYPE ppid=$PPID" >> {exec_log}\n')
    (shared / "exec.sh").chmod(0o755)
    confdir = logging_stack(pam_stack, shared / "log", extra=(
        f"session required pam_env.so readenv=0 conffile={shared}/env.conf",
        f"session required pam_exec.so {shared}/exec.sh",
    ))
    with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
        assert h.authenticate()
        h.establish_credentials()
        h.open_session()
        script = CHILD_REPORT + f'echo "child pid=$$" >> {shared}/log\n'
        child = h.spawn(["sh", "-c", script], stdout=subprocess.PIPE, text=True)
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        h.close_session()
        h.delete_credentials()
    seen = report(out)
    assert seen["uid"] == str(user.pw_uid)
    assert seen["gid"] == str(user.pw_gid)
    assert sorted(map(int, seen["groups"].split())) == sorted(set(os.getgrouplist("daemon", user.pw_gid)))
    assert seen["cwd"] == user.pw_dir == "/usr/sbin"
    assert (seen["HOME"], seen["USER"], seen["LOGNAME"]) == (user.pw_dir, "daemon", "daemon")
    assert seen["SHELL"] == user.pw_shell
    assert seen["SPAWN_DEMO"] == "from pam_env"
    assert seen["PATH"] == "/opt/demo/bin:/usr/bin:/bin"  # PAM's, not the default
    assert "PYTEST_CURRENT_TEST" not in seen  # nothing of the parent's environment
    # The session steps ran in this process, around the program.
    me = str(os.getpid())
    assert [s for s in steps(shared / "log") if s[0] != "authenticate"] == [
        ("setcred", flags(EST), me),
        ("open_session", "0", me),
        (f"child pid={child.pid}",),
        ("close_session", "0", me),
        ("setcred", flags(DEL), me),
    ]
    assert exec_log.read_text().splitlines() == [f"open_session ppid={me}", f"close_session ppid={me}"]


@needs_root
def test_the_limits_of_the_session_reach_the_program(pam_stack: StackFactory, tmp_path: Path) -> None:
    """pam_limits sets the limits on the process that opens the session,
    so it runs in a child interpreter here; the program inherits them."""
    (tmp_path / "limits.conf").write_text("daemon soft nofile 256\ndaemon hard nofile 512\n")
    confdir = pam_stack([
        "auth    required pam_permit.so",
        "account required pam_permit.so",
        f"session required pam_limits.so conf={tmp_path}/limits.conf",
    ])
    code = textwrap.dedent("""\
        import sys
        from draxoft.auth import pam
        with pam.handle("pytest", "daemon", None, confdir=sys.argv[1]) as h:
            status = pam.login_session(h, ["sh", "-c", "echo $(ulimit -Sn) $(ulimit -Hn)"])
        print("status", status)
    """)
    done = run_isolated(code, confdir)
    assert (done.returncode, done.stdout) == (0, "256 512\nstatus 0\n"), done.stderr


@needs_root
def test_spawn_defaults_where_pam_sets_nothing(pam_stack: StackFactory) -> None:
    user = account("nobody")
    assert not os.path.isdir(user.pw_dir)
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", "nobody", quiet, confdir=confdir) as h:
        h.open_session()
        child = h.spawn(["sh", "-c", CHILD_REPORT], stdout=subprocess.PIPE, text=True, env={"TERM": "vt100"})
        out, _ = child.communicate(timeout=60)
        h.close_session()
    seen = report(out)
    assert seen["uid"] == str(user.pw_uid) and seen["gid"] == str(user.pw_gid)
    assert seen["cwd"] == "/"  # no home directory: the root
    assert seen["HOME"] == user.pw_dir  # still the account's
    assert seen["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert seen["TERM"] == "vt100"  # the caller's env= is added


@needs_root
def test_spawn_env_and_cwd_of_the_caller(pam_stack: StackFactory, tmp_path: Path) -> None:
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
        h.environment["FROM_PAM"] = "pam"
        h.environment["BOTH"] = "pam wins"
        child = h.spawn(
            ["sh", "-c", 'echo "$FROM_PAM|$BOTH|$HOME|$(pwd)"'],
            stdout=subprocess.PIPE, text=True, cwd="/tmp", env={"BOTH": "caller", "HOME": "/elsewhere"},
        )
        out, _ = child.communicate(timeout=60)
    assert out == "pam|pam wins|/elsewhere|/tmp\n"


@needs_root
def test_spawn_with_groups_of_the_callers_choice(pam_stack: StackFactory) -> None:
    """After pam_group gave this process more groups, the caller passes
    them on; an empty list means none but the primary group."""
    user = account("daemon")
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
        for groups, expected in (([4242, user.pw_gid], {4242, user.pw_gid}), ([], {user.pw_gid})):
            child = h.spawn(["id", "-G"], stdout=subprocess.PIPE, text=True, extra_groups=groups)
            out, _ = child.communicate(timeout=60)
            assert set(map(int, out.split())) == expected


def test_spawn_as_oneself(pam_stack: StackFactory) -> None:
    me = pwd.getpwuid(os.getuid())
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", me.pw_name, quiet, confdir=confdir) as h:
        child = h.spawn(["id", "-u"], stdout=subprocess.PIPE, text=True)
        out, _ = child.communicate(timeout=60)
    assert out.strip() == str(os.getuid())


def test_spawn_follows_the_user_item(pam_stack: StackFactory) -> None:
    """A module (here the application) may change the user: spawn takes
    the user item as it is when called."""
    me = pwd.getpwuid(os.getuid())
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", "someone-else", quiet, confdir=confdir) as h:
        h.user = me.pw_name
        child = h.spawn(["sh", "-c", "echo $USER"], stdout=subprocess.PIPE, text=True)
        out, _ = child.communicate(timeout=60)
    assert out == f"{me.pw_name}\n"


@pytest.mark.parametrize("option", ["user", "group", "preexec_fn"])
def test_spawn_refuses_what_it_decides(pam_stack: StackFactory, option: str) -> None:
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", pwd.getpwuid(os.getuid()).pw_name, quiet, confdir=confdir) as h:
        with pytest.raises(TypeError, match=f"sets {option}"):
            h.spawn(["true"], **{option: 0})


def test_spawn_refuses_an_env_that_is_no_mapping(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", pwd.getpwuid(os.getuid()).pw_name, quiet, confdir=confdir) as h:
        with pytest.raises(TypeError, match="env must be a mapping"):
            h.spawn(["true"], env=["A=1"])
        with pytest.raises(TypeError, match="env holds str or bytes names and values, not 'A': 1"):
            h.spawn(["true"], env={"A": 1})


def test_spawn_without_a_user(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", None, quiet, confdir=confdir) as h:
        with pytest.raises(ValueError, match="user item, which is not set"):
            h.spawn(["true"])


def test_spawn_an_unknown_user(pam_stack: StackFactory, unknown_user: str) -> None:
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", unknown_user, quiet, confdir=confdir) as h:
        with pytest.raises(KeyError, match="has no account on this system"):
            h.spawn(["true"])


def test_spawn_on_a_closed_handle(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["session required pam_permit.so"])
    h = pam.handle("pytest", "root", quiet, confdir=confdir)
    h.close()
    with pytest.raises(ValueError, match="closed"):
        h.spawn(["true"])


DROPPED = textwrap.dedent("""\
    import os, pwd, subprocess, sys
    from draxoft.auth import pam
    confdir, marker = sys.argv[1:]
    h = pam.handle("pytest", "daemon", None, confdir=confdir)
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    try:
        h.spawn(["touch", marker])
    except PermissionError as e:
        print("refused:", e)
    else:
        print("started")
    h.user = "nobody"
    child = h.spawn(["id", "-u"], stdout=subprocess.PIPE, text=True)
    print("as myself:", child.communicate()[0].strip())
    h.close()
""")


@needs_root
def test_spawn_another_user_without_privilege_is_permission_error(pam_stack: StackFactory, shared: Path) -> None:
    # Root opens the handle, then the child process drops to nobody.
    confdir = pam_stack(["session required pam_permit.so"])
    marker = shared / "started"
    shared.chmod(0o777)
    done = run_isolated(DROPPED, confdir, str(marker))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("refused: [Errno 1] cannot start a program as 'daemon'"), lines
    assert not marker.exists()
    assert lines[1] == f"as myself: {pwd.getpwnam('nobody').pw_uid}"


@needs_root
def test_spawn_from_a_thread(pam_stack: StackFactory) -> None:
    """No Python code runs in the child, so a thread may spawn while
    others run."""
    confdir = pam_stack(["session required pam_permit.so"])
    results: list[str] = []

    def one() -> None:
        with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
            child = h.spawn(["id", "-un"], stdout=subprocess.PIPE, text=True)
            results.append(child.communicate(timeout=60)[0].strip())

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == ["daemon"] * 4


# ----------------------------------------------------------------------
# login_session(): the whole sequence


LOGIN_ORDER = ["authenticate", "acct_mgmt", "setcred", "open_session", "child", "close_session", "setcred"]


def child_line(log: Path) -> str:
    return f'echo child >> {log}'


@needs_root
def test_login_session_runs_every_step_in_order(pam_stack: StackFactory, shared: Path) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log)
    with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
        status = pam.login_session(h, ["sh", "-c", f"{child_line(log)}; exit 7"])
        assert not h.closed
    assert status == 7
    me = str(os.getpid())
    assert steps(log) == [
        ("authenticate", "0", me),
        ("acct_mgmt", "0", me),
        ("setcred", flags(EST), me),
        ("open_session", "0", me),
        ("child",),
        ("close_session", "0", me),
        ("setcred", flags(DEL), me),
    ]


@needs_root
def test_login_session_passes_its_flags(pam_stack: StackFactory, shared: Path) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log)
    with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
        assert pam.login_session(h, ["true"], silent=True, disallow_null_token=True) == 0
    silent, null = pam.PAM_SILENT, pam.PAM_DISALLOW_NULL_AUTHTOK
    assert [s[:2] for s in steps(log)] == [
        ("authenticate", flags(silent | null)),
        ("acct_mgmt", flags(silent | null)),
        ("setcred", flags(EST | silent)),
        ("open_session", flags(silent)),
        ("close_session", flags(silent)),
        ("setcred", flags(DEL | silent)),
    ]


@needs_root
def test_login_session_changes_an_expired_password(pam_stack: StackFactory, shared: Path) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log, "expired")
    with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
        assert pam.login_session(h, ["sh", "-c", child_line(log)]) == 0
    found = steps(log)
    assert [s[0] for s in found] == [
        "authenticate", "acct_mgmt", "chauthtok", "chauthtok", *LOGIN_ORDER[2:]
    ]
    for chauthtok in found[2:4]:
        assert int(chauthtok[1], 16) & pam.PAM_CHANGE_EXPIRED_AUTHTOK


@pytest.mark.parametrize(
    "options, error, ran",
    [
        (["fail=authenticate"], "PAM_AUTH_ERR", ["authenticate"]),
        (["fail=acct_mgmt"], "PAM_PERM_DENIED", ["authenticate", "acct_mgmt"]),
        (["expired", "fail=chauthtok"], "PAM_AUTHTOK_ERR", ["authenticate", "acct_mgmt", "chauthtok"]),
        # Credentials that could not be established are not deleted.
        (["fail=setcred"], "PAM_CRED_ERR", ["authenticate", "acct_mgmt", "setcred"]),
        # A session that did not open is not closed; the credentials go.
        (["fail=open_session"], "PAM_SESSION_ERR", ["authenticate", "acct_mgmt", "setcred", "open_session", "setcred"]),
        # The program ran: the failure to close comes after it, and the
        # credentials are deleted all the same.
        (["fail=close_session"], "PAM_SESSION_ERR", LOGIN_ORDER),
    ],
    ids=["authenticate", "acct_mgmt", "chauthtok", "setcred", "open_session", "close_session"],
)
@needs_root
def test_login_session_cleans_up_after_a_failed_step(
    pam_stack: StackFactory, shared: Path, options: list[str], error: str, ran: list[str]
) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log, *options)
    with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
        with pytest.raises(pam.PamError) as caught:
            pam.login_session(h, ["sh", "-c", child_line(log)])
    assert caught.value.errno == getattr(pam, error)
    found = names(log)
    if "chauthtok" in ran:  # PAM stops after the first pass
        assert found[:3] == ran and set(found[3:]) <= {"chauthtok"}
    else:
        assert found == ran
    if found.count("setcred") == 2:
        assert [s[1] for s in steps(log) if s[0] == "setcred"] == [flags(EST), flags(DEL)]


@needs_root
def test_login_session_cleans_up_when_the_program_cannot_start(pam_stack: StackFactory, shared: Path) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log)
    with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
        with pytest.raises(FileNotFoundError):
            pam.login_session(h, ["/nonexistent/program"])
    assert names(log) == ["authenticate", "acct_mgmt", "setcred", "open_session", "close_session", "setcred"]


def test_login_session_checks_its_arguments_first(pam_stack: StackFactory, shared: Path) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log)
    with pam.handle("pytest", pwd.getpwuid(os.getuid()).pw_name, quiet, confdir=confdir) as h:
        with pytest.raises(TypeError, match="sets user"):
            pam.login_session(h, ["true"], user="root")
    assert names(log) == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda h: pam.login_session(None, ["true"]), "needs a pam.handle, not NoneType"),
        (lambda h: pam.login_session(h, ["true"], silent=1), "silent must be True or False, not int"),
        (lambda h: pam.login_session(h, ["true"], disallow_null_token="yes"),
         "disallow_null_token must be True or False, not str"),
    ],
    ids=["handle", "silent", "disallow_null_token"],
)
def test_login_session_refuses_wrong_types(pam_stack: StackFactory, shared: Path, call: Any, message: str) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log)
    with pam.handle("pytest", pwd.getpwuid(os.getuid()).pw_name, quiet, confdir=confdir) as h:
        with pytest.raises(TypeError, match=message):
            call(h)
    assert names(log) == []


@needs_root
def test_login_session_without_privilege_closes_what_it_opened(pam_stack: StackFactory, shared: Path) -> None:
    """PermissionError comes from spawn, after the session opened: the
    session is closed and the credentials deleted again."""
    log = shared / "log"
    confdir = logging_stack(pam_stack, log)
    code = textwrap.dedent("""\
        import os, pwd, sys
        from draxoft.auth import pam
        h = pam.handle("pytest", "daemon", None, confdir=sys.argv[1])
        nobody = pwd.getpwnam("nobody")
        os.setgroups([]); os.setgid(nobody.pw_gid); os.setuid(nobody.pw_uid)
        try:
            pam.login_session(h, ["true"])
        except PermissionError as e:
            print("refused")
        h.close()
    """)
    done = run_isolated(code, confdir)
    assert done.returncode == 0 and done.stdout == "refused\n", done.stderr
    assert names(log) == ["authenticate", "acct_mgmt", "setcred", "open_session", "close_session", "setcred"]


@needs_root
def test_login_session_from_a_thread_leaves_signals_alone(pam_stack: StackFactory, shared: Path) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log)
    before = signal.getsignal(signal.SIGTERM)
    statuses: list[int] = []

    def run() -> None:
        with pam.handle("pytest", "daemon", quiet, confdir=confdir) as h:
            statuses.append(pam.login_session(h, ["sh", "-c", "exit 3"]))

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert statuses == [3]
    assert signal.getsignal(signal.SIGTERM) is before


SIGNALLED = textwrap.dedent("""\
    import os, signal, sys
    from draxoft.auth import pam
    confdir, log, how = sys.argv[1:]
    if how == "handler":
        signal.signal(signal.SIGTERM, lambda n, f: print("parent handler", n, flush=True))
        signal.signal(signal.SIGHUP, lambda n, f: print("parent handler", n, flush=True))
    with pam.handle("pytest", "daemon", None, confdir=confdir) as h:
        # The program says it runs, then waits for the signal.
        status = pam.login_session(h, ["sh", "-c", f"echo child >> {log}; exec sleep 60"])
        print("status", status, flush=True)
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("how", ["default", "handler"])
@needs_root
def test_login_session_forwards_a_signal_and_still_closes(
    pam_stack: StackFactory, shared: Path, signum: int, how: str
) -> None:
    log = shared / "log"
    confdir = logging_stack(pam_stack, log)
    parent = subprocess.Popen(
        [sys.executable, "-W", "error", "-c", SIGNALLED, confdir, str(log), how],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
    )
    deadline = time.monotonic() + 60
    while "child" not in names(log):
        assert time.monotonic() < deadline and parent.poll() is None, parent.communicate()
        time.sleep(0.05)
    parent.send_signal(signum)
    out, err = parent.communicate(timeout=60)
    pid = str(parent.pid)
    assert steps(log)[-3:] == [("child",), ("close_session", "0", pid), ("setcred", flags(DEL), pid)]
    if how == "default":
        # Once the session is closed, the signal has its usual effect.
        assert parent.returncode == -signum, (out, err)
    else:
        # The program ended by the forwarded signal; the parent's own
        # handler ran once the session was closed.
        assert parent.returncode == 0, err
        assert out.splitlines() == [f"parent handler {signum}", f"status {-signum}"]


@needs_root
def test_login_session_a_signal_before_the_program_starts(pam_stack: StackFactory, shared: Path) -> None:
    """SIGTERM while the session opens: the program never starts, what was
    opened is closed, and the caller hears of it (InterruptedError) once
    its own handler has run."""
    log = shared / "log"
    line = f"{{steplog}} log={log}"
    confdir = pam_stack([
        f"auth    required {line}",
        f"account required {line}",
        f"session required {line}",
        "session required {pytest} sleep=1500",  # time for the signal to land
    ])
    code = textwrap.dedent("""\
        import signal, sys
        from draxoft.auth import pam
        signal.signal(signal.SIGTERM, lambda n, f: print("parent handler", flush=True))
        with pam.handle("pytest", "daemon", None, confdir=sys.argv[1]) as h:
            try:
                pam.login_session(h, ["sh", "-c", f"echo child >> {sys.argv[2]}"])
            except InterruptedError as e:
                print("interrupted:", e.strerror, flush=True)
    """)
    parent = subprocess.Popen(
        [sys.executable, "-W", "error", "-c", code, confdir, str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
    )
    deadline = time.monotonic() + 60
    while "open_session" not in names(log):
        assert time.monotonic() < deadline and parent.poll() is None, parent.communicate()
        time.sleep(0.02)
    parent.send_signal(signal.SIGTERM)
    out, err = parent.communicate(timeout=60)
    assert parent.returncode == 0, err
    assert out.splitlines() == [
        "parent handler",
        "interrupted: signal SIGTERM arrived before the program started",
    ]
    assert names(log) == ["authenticate", "acct_mgmt", "setcred", "open_session", "close_session", "setcred"]


# ----------------------------------------------------------------------
# release(): the handle in a child of fork() that does not exec


FORKED = textwrap.dedent("""\
    import os, sys
    from draxoft.auth import pam
    h = pam.handle("pytest", sys.argv[2], None, confdir=sys.argv[1])
    h.open_session()
    pid = os.fork()
    if pid == 0:
        try:
            h.release()
            h.release()  # twice does nothing
            os._exit(0 if h.closed else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), pid, h.closed)
    h.close_session()
    h.close()
""")


@pytest.mark.linux_pam("PAM_DATA_SILENT")
def test_release_in_a_forked_child_leaves_the_session_to_the_parent(pam_stack: StackFactory, shared: Path) -> None:
    # In a child interpreter, which has no threads to fork with.
    log = shared / "log"
    confdir = logging_stack(pam_stack, log, "data")
    done = run_isolated(FORKED, confdir, pwd.getpwuid(os.getuid()).pw_name)
    assert done.returncode == 0, done.stderr
    status, child, closed = done.stdout.split()
    assert (status, closed) == ("0", "False")
    parent = next(s[2] for s in steps(log) if s[0] == "open_session")
    assert steps(log) == [
        ("open_session", "0", parent),
        ("cleanup", flags(pam.PAM_DATA_SILENT), child),  # the child's copy goes quietly
        ("close_session", "0", parent),
        ("cleanup", "0", parent),  # the parent's pam_end: the real end
    ]


def test_release_without_pam_data_silent(pam_stack: StackFactory) -> None:
    if hasattr(pam, "PAM_DATA_SILENT"):
        pytest.skip(f"{pam.implementation} has PAM_DATA_SILENT (the test above uses it)")
    confdir = pam_stack(["session required pam_permit.so"])
    with pam.handle("pytest", "root", quiet, confdir=confdir) as h:
        with pytest.raises(NotImplementedError, match="PAM_DATA_SILENT"):
            h.release()
        assert not h.closed
