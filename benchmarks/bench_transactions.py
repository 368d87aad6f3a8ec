"""Print how fast and how lean PAM transactions are through draxoft.auth.pam.

Run from the repository, with the package installed:

    python benchmarks/bench_transactions.py [--rounds N]

Figures, not pass/fail: per-transaction cost of the Python layer and of the
raw layer with pam_permit, the cost of each conversation message, and the
resident memory before and after many transactions.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pamstack  # noqa: E402

from draxoft.auth import _pamlow as low  # noqa: E402
from draxoft.auth import pam  # noqa: E402


def rss_kib() -> int:
    """Resident set size of this process."""
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))  # type: ignore[union-attr]


def timed(label: str, rounds: int, body: Callable[[], Any]) -> float:
    """Run body rounds times; print and return microseconds per round."""
    body()
    start = time.perf_counter()
    for _ in range(rounds):
        body()
    per = (time.perf_counter() - start) / rounds * 1e6
    print(f"{label:<52} {per:10.1f} us")
    return per


def main() -> None:
    """Build the stacks, run the measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        modules = pamstack.compile_modules(Path(tmp) / "modules")
        holders = {"pytest": str(modules["pam_pytest"])}
        confdir = pamstack.write_confdir(
            Path(tmp) / "pam.d",
            {
                "permit": ["auth required pam_permit.so", "account required pam_permit.so"],
                "one": ["auth required {pytest} msg=echo_off:pw"],
                "hundred": ["auth required {pytest} msg=echo_off:pw repeat=100"],
            },
            placeholders=holders,
        )

        def answer(style: int, message: Any, data: Any) -> str:
            return "pw"

        def raw() -> None:
            _, h = low.pam_start_confdir("permit", "alice", None, confdir)
            low.pam_authenticate(h, 0)
            low.pam_end(h, 0)

        def python(service: str) -> Callable[[], None]:
            def run() -> None:
                with pam.handle(service, "alice", answer, confdir=confdir) as h:
                    h.authenticate()
            return run

        print(f"draxoft.auth.pam on {pam.implementation}, {rounds} rounds each")
        raw_us = timed("raw layer: start, authenticate, end (pam_permit)", rounds, raw)
        py_us = timed("pam.handle: same, with the context manager", rounds, python("permit"))
        one = timed("pam.handle: authenticate with 1 message", rounds, python("one"))
        hundred = timed("pam.handle: authenticate with 100 messages", max(rounds // 10, 1), python("hundred"))
        timed("pam.authenticate(): authenticate + acct_mgmt", rounds,
              lambda: pam.authenticate("alice", "pw", "permit", confdir=confdir))
        print(f"{'Python layer overhead per transaction':<52} {py_us - raw_us:10.1f} us")
        print(f"{'cost per conversation message':<52} {(hundred - one) / 99:10.2f} us")
        gc.collect()
        before = rss_kib()
        for _ in range(rounds * 4):
            python("one")()
        gc.collect()
        print(f"{'RSS growth over %d transactions' % (rounds * 4):<52} {rss_kib() - before:10d} KiB")


if __name__ == "__main__":
    main()
