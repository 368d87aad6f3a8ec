"""What isolated=True costs per transaction, side by side, in one run.

    python benchmarks/bench_isolation.py [--count N] [--rounds R] [--smoke]

Every runner does the same transaction on the same stack (pam_wrapper's
pam_matrix for auth and account, one password prompt): in this process
(naive, and with pam.resident), and isolated in a worker process: with a
cold worker for every transaction (the pool emptied each time), with the
pool's warm workers, and with warm workers that also keep the service's
modules loaded (pam.resident(..., isolated=True)). pam.authenticate sends
an isolated transaction as one request; a pam.handle makes one exchange
per call (start, authenticate and its prompt, account check, end), which
its runner shows too.

The table gives microseconds per transaction and the ratio to the naive
in-process transaction. Runners run in turn, --rounds times, and each
keeps its best round (a virtual machine's figures wander). Figures, not a
test: nothing here asserts a speed (--smoke runs it all with tiny counts).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "alice", "pw"


def stack(work: Path) -> str:
    """The benchmark's service in a private confdir."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pamstack

    passdb = pamstack.write_matrix_passdb(work / "passdb", [(USER, PASSWORD, "bench")])
    matrix = pamstack.module_path("pam_matrix.so")
    return str(pamstack.write_confdir(work / "pam.d", {
        "bench": [f"auth required {matrix} passdb={passdb}", f"account required {matrix} passdb={passdb}"],
    }))


def per_transaction(count: int, body: Callable[[], Any]) -> float:
    """Microseconds per call of *body*, after a short warm-up."""
    for _ in range(min(20, count)):
        body()
    start = time.perf_counter()
    for _ in range(count):
        body()
    return (time.perf_counter() - start) / count * 1e6


def runners(confdir: str, count: int) -> dict[str, Callable[[], float]]:
    from draxoft.auth import pam
    from draxoft.auth.pam import isolation

    def check(**kwargs: Any) -> None:
        if not pam.authenticate(USER, PASSWORD, "bench", confdir=confdir, **kwargs):
            raise SystemExit("the benchmark's user was refused")

    def answer(style: int, message: Any, data: Any) -> Optional[str]:
        return PASSWORD if style == pam.PAM_PROMPT_ECHO_OFF else None

    def by_handle() -> None:
        with pam.handle("bench", USER, answer, confdir=confdir, isolated=True) as h:
            h.authenticate()
            h.acct_mgmt()

    def cold() -> float:
        kept = isolation.POOL_SIZE
        isolation.POOL_SIZE = 0  # every transaction starts a worker and stops it

        def body() -> None:
            check(isolated=True)

        try:
            isolation.shutdown()
            return per_transaction(max(3, count // 200), body)
        finally:
            isolation.POOL_SIZE = kept

    def resident(**kwargs: Any) -> Callable[[], float]:
        def run() -> float:
            with pam.resident("bench", confdir=confdir, **kwargs):
                return per_transaction(count, lambda: check(**kwargs))
        return run

    return {
        "in process, naive": lambda: per_transaction(count, check),
        "in process, resident": resident(),
        "isolated, cold worker": cold,
        "isolated, warm pool": lambda: per_transaction(count, lambda: check(isolated=True)),
        "isolated, warm pool + resident": resident(isolated=True),
        "isolated pam.handle, warm pool": lambda: per_transaction(count, by_handle),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="transactions per runner and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runner keeps its best")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: check that it runs")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    count, rounds = (20, 1) if args.smoke else (args.count, args.rounds)
    with tempfile.TemporaryDirectory(prefix="bench-isolation-") as work:
        table = runners(stack(Path(work)), count)
        best = {name: float("inf") for name in table}
        for _ in range(rounds):
            for name, run in table.items():
                best[name] = min(best[name], run())
    base = best["in process, naive"]
    lines = [f"{'runner':<34}{'µs/txn':>10}{'× in process, naive':>22}"]
    lines += [f"{name:<34}{value:>10.1f}{value / base:>22.2f}" for name, value in best.items()]
    print("\n".join(lines))
    if args.output is not None:
        args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
