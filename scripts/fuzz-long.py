#!/usr/bin/env python3
"""Run the fuzz properties of tests/test_fuzz_api.py with fresh random cases
for a while, and say how many cases were tried.

    python3 scripts/fuzz-long.py [--minutes 10] [--scale 1] [--only NAME]

It imports the installed draxoft.auth.pam (install the project first, into
the environment that runs this), compiles the test PAM modules, and then,
round after round until the time is up, runs every property with
DRAXOFT_FUZZ_RANDOM=1 (new cases each round), as many cases each as the
normal suite runs times --scale. A
failing case stops the run with hypothesis' report (which includes how to
reproduce it) and exit status 1. A crash ends the process: run it under
the sanitizer environment of .ci/sanitizers.sh, or under gdb, to see where.

For the sanitized build, for example:
    . /tmp/draxoft-sanitizers/venv/bin/activate
    LD_PRELOAD=$(gcc -print-file-name=libasan.so) PYTHONMALLOC=malloc \\
    ASAN_OPTIONS=detect_leaks=1 python scripts/fuzz-long.py --minutes 5
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="cases per property and round, relative to the normal suite (default 1)")
    parser.add_argument("--hang-seconds", type=float, default=300,
                        help="a property that runs this long without finishing counts as a hang (default 300)")
    parser.add_argument("--only", action="append", default=[], help="run only the properties whose name has this")
    args = parser.parse_args()

    os.environ["DRAXOFT_FUZZ_RANDOM"] = "1"
    os.environ["DRAXOFT_FUZZ_EXAMPLES"] = str(args.scale)
    sys.path.insert(0, str(TESTS))
    import pamstack  # noqa: E402 - needs the path above
    import test_fuzz_api as fuzz  # noqa: E402 - reads the two variables above

    work = Path(tempfile.mkdtemp(prefix="draxoft-fuzz-"))
    modules = pamstack.compile_modules(work / "modules")
    placeholders = {stem: str(path) for stem, path in modules.items()}
    placeholders.update({stem[len("pam_"):]: str(path) for stem, path in modules.items() if stem.startswith("pam_")})
    confdir = fuzz.make_stacks(work / "pam.d", placeholders)

    properties = {
        name: getattr(fuzz, name)
        for name in sorted(dir(fuzz))
        if name.startswith("test_") and (not args.only or any(o in name for o in args.only))
    }

    # A hang is a failure too: with no finished property for --hang-seconds,
    # every thread's stack is printed and the run ends.
    faulthandler.dump_traceback_later(args.hang_seconds, exit=True)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    faulthandler.enable(all_threads=True)
    deadline = time.monotonic() + args.minutes * 60
    start = time.monotonic()
    rounds = 0
    spent: dict[str, float] = {}
    print(f"fuzzing {len(properties)} properties for {args.minutes:g} min "
          f"(python {sys.version.split()[0]}, PAM stacks in {confdir})", flush=True)
    try:
        while time.monotonic() < deadline:
            for name, prop in properties.items():
                if time.monotonic() >= deadline:
                    break
                began = time.monotonic()
                if name == "test_environment_state_machine":
                    prop(confdir)
                else:
                    prop(confdir=confdir)
                faulthandler.dump_traceback_later(args.hang_seconds, exit=True)
                spent[name] = spent.get(name, 0.0) + time.monotonic() - began
            rounds += 1
            elapsed = time.monotonic() - start
            total = sum(fuzz.CASES.values())
            print(f"round {rounds}: {total} cases in {elapsed:.0f}s ({total / elapsed:.1f}/s)", flush=True)
    except BaseException:
        elapsed = time.monotonic() - start
        print(f"FAILED after {sum(fuzz.CASES.values())} cases in {elapsed:.0f}s", flush=True)
        for name, count in sorted(fuzz.CASES.items()):
            print(f"  {name}: {count}")
        raise
    elapsed = time.monotonic() - start
    total = sum(fuzz.CASES.values())
    print(f"\n{total} cases tried in {elapsed:.0f}s, {total / elapsed:.1f} cases/s, {rounds} rounds, no failure")
    for name, count in sorted(fuzz.CASES.items()):
        print(f"  {name}: {count} cases, {spent.get(name, 0):.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
