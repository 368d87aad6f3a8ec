"""Transactions per second, side by side: C, draxoft.auth.pam (naive and
resident), the peers, threads, and memory, in one run.

    python benchmarks/bench_speed.py [--count N] [--smoke] [--no-peers]

Every runner does the same transaction on the same stack (pam_wrapper's
pam_matrix for auth and account, one password prompt): start,
authenticate, account check, end; each runs in a process of its own, one
after the other, and prints microseconds per transaction. The table gives
the ratios to the C floors and to draxoft's resident runner. Figures, not
a test: nothing here asserts a speed (``--smoke`` runs everything with
tiny counts, to show that the script still works).

The peers (python-pam, pamela, and PyPAM when it builds) are installed
into a venv of the script's own under ``~/.cache/draxoft-bench``; they have
no ``confdir``, so as root the script runs them in a private mount
namespace whose ``/etc/pam.d`` is the benchmark's directory (``unshare -m``
and a bind mount: the machine's own policy is never touched); otherwise it
says that it skipped them.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "draxoft-bench" / "peers-venv"
PASSWORD = "pw"
USER = "alice"


# ----------------------------------------------------------------------
# Runners: each runs in a child process and prints one line of figures.

def _timed(count: int, body: Callable[[], Any]) -> float:
    """Microseconds per call of body, after a short warm-up."""
    for _ in range(min(50, count)):
        body()
    start = time.perf_counter()
    for _ in range(count):
        body()
    return (time.perf_counter() - start) / count * 1e6


def _draxoft(kind: str, confdir: str, count: int, resident: bool) -> float:
    from draxoft.auth import pam

    def answer(style: int, message: Any, data: Any) -> Optional[str]:
        return PASSWORD if style == pam.PAM_PROMPT_ECHO_OFF else None

    def by_handle() -> None:
        with pam.handle("bench", USER, answer, confdir=confdir) as h:
            h.authenticate()
            h.acct_mgmt()

    def by_authenticate() -> None:
        if not pam.authenticate(USER, PASSWORD, "bench", confdir=confdir):
            raise SystemExit("pam.authenticate refused the benchmark's user")

    body = by_handle if kind == "handle" else by_authenticate
    if not resident:
        return _timed(count, body)
    with pam.resident("bench", confdir=confdir):
        return _timed(count, body)


def _python_pam(count: int) -> float:
    import pam  # python-pam, in the peers' venv

    p = pam.pam()

    def body() -> None:
        if not p.authenticate(USER, PASSWORD, service="bench"):
            raise SystemExit(f"python-pam refused the benchmark's user: {p.reason}")

    return _timed(count, body)


def _pamela(count: int) -> float:
    import pamela

    def body() -> None:
        pamela.authenticate(USER, PASSWORD, service="bench")
        pamela.check_account(USER, service="bench")

    return _timed(count, body)


def _pypam(count: int) -> float:
    import PAM  # PyPAM

    def answer(auth: Any, query_list: Any, data: Any = None) -> list[tuple[str, int]]:
        return [(PASSWORD if style == PAM.PAM_PROMPT_ECHO_OFF else "", 0) for _, style in query_list]

    def body() -> None:
        p = PAM.pam()
        p.start("bench")
        p.set_item(PAM.PAM_USER, USER)
        p.set_item(PAM.PAM_CONV, answer)
        p.authenticate()
        p.acct_mgmt()

    return _timed(count, body)


def _threads(confdir: str, count: int, threads: int) -> float:
    """Transactions per second of `threads` threads on the CPU-bound stack."""
    from draxoft.auth import pam

    per_thread = max(count // threads, 1)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_thread):
                if not pam.authenticate(USER, PASSWORD, "spin", confdir=confdir):
                    raise RuntimeError("the spin stack refused")
        except BaseException as error:
            errors.append(error)

    with pam.resident("spin", confdir=confdir):
        work()  # warm-up
        pool = [threading.Thread(target=work) for _ in range(threads)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return per_thread * threads / elapsed


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _memory(confdir: str, count: int) -> str:
    """RSS growth over count resident transactions, and the peak RSS."""
    from draxoft.auth import pam

    def answer(style: int, message: Any, data: Any) -> Optional[str]:
        return PASSWORD

    def body() -> None:
        with pam.handle("bench", USER, answer, confdir=confdir) as h:
            h.authenticate()
            h.acct_mgmt()

    with pam.resident("bench", confdir=confdir):
        for _ in range(min(2000, count)):
            body()
        before = _rss_kib()
        for _ in range(count):
            body()
        after = _rss_kib()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"{after - before} {peak}"


def run_runner(args: argparse.Namespace) -> None:
    """The child side: run one runner and print its figure."""
    name, confdir, count = args.runner, args.confdir, args.count
    if name.startswith("draxoft-"):
        _, kind, mode = name.split("-")
        print(f"{_draxoft(kind, confdir, count, mode == 'resident'):.3f}")
    elif name == "python-pam":
        print(f"{_python_pam(count):.3f}")
    elif name == "pamela":
        print(f"{_pamela(count):.3f}")
    elif name == "PyPAM":
        print(f"{_pypam(count):.3f}")
    elif name.startswith("threads-"):
        print(f"{_threads(confdir, count, int(name.split('-')[1])):.1f}")
    elif name == "memory":
        print(_memory(confdir, count))
    else:
        raise SystemExit(f"unknown runner {name}")


# ----------------------------------------------------------------------
# The parent: build, run each runner in its own process, print the table.

def build(work: Path) -> tuple[Path, str]:
    """Compile the C floor and pam_spin.so; write the stacks. Returns the
    floor's path and the confdir."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pamstack

    cc = os.environ.get("CC", "gcc")
    floor = work / "floor"
    spin = work / "pam_spin.so"
    subprocess.run([cc, "-O2", "-o", str(floor), str(HERE / "floor.c"), "-lpam"], check=True)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(spin), str(HERE / "pam_spin.c")], check=True)
    passdb = pamstack.write_matrix_passdb(work / "passdb", [(USER, PASSWORD, "bench")])
    matrix = pamstack.module_path("pam_matrix.so")
    confdir = pamstack.write_confdir(work / "pam.d", {
        "bench": [f"auth required {matrix} passdb={passdb}", f"account required {matrix} passdb={passdb}"],
        "spin": [f"auth required {spin} spins=2000000", f"account required {spin}"],
    })
    # The peers read /etc/pam.d; a private copy is mounted there for them.
    return floor, confdir


def child(runner: str, confdir: str, count: int, python: str = sys.executable,
          private_pam_d: bool = False) -> str:
    """Run one runner in a fresh process; return what it printed."""
    cmd = [python, str(Path(__file__).resolve()), "--runner", runner, "--confdir", confdir,
           "--count", str(count)]
    if private_pam_d:
        cmd = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/pam.d && exec "$@"', confdir, *cmd]
    env = dict(os.environ)
    if python == sys.executable:
        # The tree's Python layer, with the extension that was installed.
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{runner} failed:\n{done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def peers_python(smoke: bool) -> tuple[Optional[str], list[str]]:
    """The peers' venv (made once), and what could not be installed."""
    python = PEERS_VENV / "bin" / "python"
    missing = []
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    for package, module in (("python-pam", "pam"), ("pamela", "pamela"), ("PyPAM", "PAM")):
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False)
        if probe.returncode == 0:
            continue
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", package],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            missing.append(package)
    return str(python), missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000, help="transactions per runner")
    parser.add_argument("--memory-count", type=int, default=100000)
    parser.add_argument("--smoke", action="store_true", help="tiny counts: check that it runs")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each runner runs, interleaved with the others; the best is kept")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    parser.add_argument("--runner", help=argparse.SUPPRESS)
    parser.add_argument("--confdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runner:
        run_runner(args)
        return
    count = 200 if args.smoke else args.count
    memory_count = 500 if args.smoke else args.memory_count
    naive_count = max(count // 4, 100)
    from draxoft.auth import pam

    print(f"draxoft.auth.pam on {pam.implementation}; {os.cpu_count()} CPUs; "
          f"{count} transactions per resident runner, {naive_count} per naive one; "
          f"best of {1 if args.smoke else max(args.rounds, 1)} interleaved rounds")
    rows: list[tuple[str, float]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        floor, confdir = build(Path(tmp))

        def c_floor(mode: str, n: int) -> float:
            done = subprocess.run([str(floor), "bench", confdir, USER, PASSWORD, str(n), mode],
                                  capture_output=True, text=True, check=True)
            return float(done.stdout)

        # Every runner once per round, in the same order, so that a slow
        # moment of the machine hits one round of each rather than all
        # rounds of one; the best round of each is kept.
        runners: list[tuple[str, Callable[[], float]]] = [
            ("C, naive", lambda: c_floor("naive", naive_count)),
            ("C, modules kept (one more handle open)", lambda: c_floor("resident", count)),
        ]
        for mode, n in (("naive", naive_count), ("resident", count)):
            for kind in ("handle", "authenticate"):
                runners.append((f"draxoft pam.{kind}, {mode}",
                                lambda kind=kind, mode=mode, n=n: float(child(f"draxoft-{kind}-{mode}", confdir, n))))
        if args.no_peers:
            notes.append("peers skipped (--no-peers)")
        elif os.geteuid() != 0 or shutil.which("unshare") is None:
            notes.append("peers skipped: they have no confdir, and a private /etc/pam.d needs root and unshare")
        else:
            python, missing = peers_python(args.smoke)
            for package in missing:
                notes.append(f"{package} skipped: it does not install here")
            for name in ("python-pam", "pamela", "PyPAM"):
                if name not in missing:
                    runners.append((name, lambda name=name: float(
                        child(name, confdir, naive_count, python, private_pam_d=True))))
        best: dict[str, float] = {}
        for _ in range(1 if args.smoke else max(args.rounds, 1)):
            for name, run in runners:
                us = run()
                best[name] = min(us, best.get(name, us))
        rows = [(name, best[name]) for name, _ in runners]
        c_naive = best["C, naive"]
        c_resident = best["C, modules kept (one more handle open)"]
        thread_rates = {n: float(child(f"threads-{n}", confdir, max(count // 20, 8))) for n in (1, 2, 4)}
        growth, peak = child("memory", confdir, memory_count).split()

    resident_us = dict(rows)["draxoft pam.handle, resident"]
    lines = [f"{'runner':<40} {'us/txn':>8} {'x C naive':>10} {'x C kept':>9} {'resident is':>12}"]
    for name, us in rows:
        lines.append(f"{name:<40} {us:8.1f} {us / c_naive:10.2f} {us / c_resident:9.2f} "
                     f"{us / resident_us:11.1f}x")
    lines += ["", "threads, resident, CPU-bound stack (pam_spin):"]
    for n, rate in thread_rates.items():
        lines.append(f"  {n} thread{'s' if n > 1 else ' '} {rate:9.1f} txn/s {rate / thread_rates[1]:6.2f}x one thread")
    lines += ["", f"memory: RSS growth over {memory_count} resident transactions: {growth} KiB; "
              f"peak RSS {peak} KiB"]
    lines += [f"note: {note}" for note in notes]
    print()
    print("\n".join(lines))
    if args.output is not None:
        args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
