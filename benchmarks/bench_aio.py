"""Print what draxoft.auth.pam.aio gains an asyncio server, in one run.

Run from the repository, with the package installed:

    python benchmarks/bench_aio.py [--failing N] [--delay USEC] [--logins N] [--threads N] [--smoke]

1. Failing logins with a fail delay (``pam_faildelay delay=USEC`` then
   ``pam_deny``), all at once: through ``aio.authenticate`` on the default
   executor, and through the blocking ``pam.authenticate`` in a pool of
   ``--threads`` threads awaited from the loop (what a server does without
   aio). Wall time of each and their ratio, and the largest stall of a
   10 ms ticker on the loop during the aio run.
2. Successful logins, all at once, on a resident service (``pam.resident``,
   pam_matrix): ``aio.authenticate`` against ``pam.authenticate`` in a
   thread pool as large as aio's default one. Logins per second and the
   ratio; and, for scale, ``pam.authenticate`` through ``run_in_executor``
   of the same pool (asyncio's own cost per call).

Figures, not a test: nothing is asserted. ``--smoke`` runs with tiny
counts and a short delay, to check that the script works.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pamstack  # noqa: E402

from draxoft.auth import pam  # noqa: E402
from draxoft.auth.pam import aio  # noqa: E402


async def ticking(body: Callable[[], Awaitable[Any]], period: float = 0.010) -> tuple[float, float]:
    """Run body() with a ticker on the loop; (wall seconds, largest stall in
    seconds: how much later than its period a tick came)."""
    stall = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(period)
            now = time.perf_counter()
            stall = max(stall, now - last - period)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(period)  # the ticker has started
    start = time.perf_counter()
    await body()
    wall = time.perf_counter() - start
    stop = True
    await tick
    return wall, stall


def row(label: str, figure: str) -> None:
    """One line of the table: the label, then the figure right-aligned."""
    print(f"  {label:<56} {figure:>14}")


def failing(confdir: str, count: int, threads: int) -> None:
    """Part 1: concurrent failing logins with a fail delay."""

    async def through_aio() -> None:
        results = await asyncio.gather(*(aio.authenticate("alice", "wrong", "faildelay", confdir=confdir)
                                         for _ in range(count)))
        assert not any(results)

    async def through_threads(pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        check = functools.partial(pam.authenticate, "alice", "wrong", "faildelay", confdir=confdir)
        results = await asyncio.gather(*(loop.run_in_executor(pool, check) for _ in range(count)))
        assert not any(results)

    async def main() -> tuple[tuple[float, float], tuple[float, float]]:
        aio_figures = await ticking(through_aio)
        with ThreadPoolExecutor(threads, thread_name_prefix="blocking") as pool:
            thread_figures = await ticking(lambda: through_threads(pool))
        return aio_figures, thread_figures

    (aio_wall, aio_stall), (thread_wall, thread_stall) = asyncio.run(main())
    print(f"{count} concurrent failing logins, each with its fail delay:")
    row(f"aio.authenticate, default executor ({aio.DEFAULT_WORKERS} threads)", f"{aio_wall:8.2f} s")
    row(f"pam.authenticate in {threads} threads (run_in_executor)", f"{thread_wall:8.2f} s")
    row("ratio (threads / aio)", f"{thread_wall / aio_wall:8.1f} x")
    row("largest stall of a 10 ms ticker, aio run", f"{aio_stall * 1000:8.1f} ms")
    row("largest stall of a 10 ms ticker, threads run", f"{thread_stall * 1000:8.1f} ms")


def succeeding(confdir: str, count: int, rounds: int) -> None:
    """Part 2: concurrent successful logins on a resident service."""
    threads = aio.DEFAULT_WORKERS

    async def through_aio() -> None:
        results = await asyncio.gather(*(aio.authenticate("alice", "wonderland", "matrix", confdir=confdir)
                                         for _ in range(count)))
        assert all(results)

    def through_threads(pool: ThreadPoolExecutor) -> None:
        futures = [pool.submit(pam.authenticate, "alice", "wonderland", "matrix", confdir=confdir)
                   for _ in range(count)]
        assert all(f.result() for f in futures)

    async def through_run_in_executor(pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        check = functools.partial(pam.authenticate, "alice", "wonderland", "matrix", confdir=confdir)
        results = await asyncio.gather(*(loop.run_in_executor(pool, check) for _ in range(count)))
        assert all(results)

    def timed(body: Callable[[], Any]) -> float:
        start = time.perf_counter()
        body()
        return count / (time.perf_counter() - start)

    rates: dict[str, list[float]] = {"aio": [], "threads": [], "run_in_executor": []}
    with pam.resident("matrix", confdir=confdir), ThreadPoolExecutor(threads) as pool:
        asyncio.run(through_aio())  # warm up the pools
        through_threads(pool)
        for _ in range(rounds):  # interleaved, so that all see the same load
            rates["aio"].append(timed(lambda: asyncio.run(through_aio())))
            rates["threads"].append(timed(lambda: through_threads(pool)))
            rates["run_in_executor"].append(timed(lambda: asyncio.run(through_run_in_executor(pool))))
    aio_rate, thread_rate, executor_rate = (statistics.median(rates[k]) for k in rates)
    print(f"{count} concurrent successful logins, resident service (median of {rounds} runs):")
    row(f"aio.authenticate, default executor ({threads} threads)", f"{aio_rate:8.0f} logins/s")
    row(f"pam.authenticate in {threads} threads", f"{thread_rate:8.0f} logins/s")
    row("ratio (aio / threads)", f"{aio_rate / thread_rate:8.2f}")
    row(f"pam.authenticate, run_in_executor ({threads} threads), for scale", f"{executor_rate:8.0f} logins/s")
    row("ratio (aio / run_in_executor)", f"{aio_rate / executor_rate:8.2f}")


def main() -> None:
    """Write the stacks, run both parts, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failing", type=int, default=40, help="concurrent failing logins (default 40)")
    parser.add_argument("--delay", type=int, default=1_000_000, help="fail delay in usec (default 1 s)")
    parser.add_argument("--threads", type=int, default=4, help="threads of the blocking pool (default 4)")
    parser.add_argument("--logins", type=int, default=1000, help="concurrent successful logins (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of part 2 (default 5)")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: check that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.failing, args.delay, args.logins, args.rounds = 8, 100_000, 50, 1
    with tempfile.TemporaryDirectory() as tmp:
        passdb = pamstack.write_matrix_passdb(Path(tmp) / "passdb", [("alice", "wonderland", "matrix")])
        confdir = pamstack.write_confdir(
            Path(tmp) / "pam.d",
            {
                "faildelay": [
                    f"auth required pam_faildelay.so delay={args.delay}",
                    "auth required pam_deny.so",
                    "account required pam_permit.so",
                ],
                "matrix": [
                    f"auth required pam_matrix.so passdb={passdb}",
                    f"account required pam_matrix.so passdb={passdb}",
                ],
            },
        )
        print(f"draxoft.auth.pam.aio on {pam.implementation}, Python {sys.version.split()[0]}")
        failing(confdir, args.failing, args.threads)
        succeeding(confdir, args.logins, args.rounds)


if __name__ == "__main__":
    main()
