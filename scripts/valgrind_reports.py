#!/usr/bin/env python3
"""Sum up the memcheck logs of scripts/valgrind-suite.sh.

    python3 scripts/valgrind_reports.py LOG_DIR [SECONDS]

Counts, over every process of the run: memcheck errors (invalid reads and
writes, invalid frees, uses of uninitialised values ...) and definitely
lost blocks. A definitely lost block counts against the project when its
allocation stack passes through the extension (_pamlow) or a PAM library
or module that the extension called; other definite leaks (the interpreter,
other programs) are listed apart. Logs tagged ".leaks-expected" come from
processes that exit with a daemon thread inside PAM on purpose: their
errors count, their leaks do not.

Exit status 0 when there is no error and no definitely lost block of the
project's; 1 otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PID = r"==\d+=="
ERROR_HEAD = re.compile(
    PID + r" (Invalid (read|write|free)|Mismatched free|Syscall param|Conditional jump|Use of uninitialised|"
    r"Source and destination overlap|Argument '.*' of function|Jump to the invalid address)"
)
LEAK_HEAD = re.compile(PID + r" ([\d,]+) (?:\([\d,]+ direct, [\d,]+ indirect\) )?bytes in ([\d,]+) blocks are definitely lost")
FRAME = re.compile(PID + r"\s+(?:at|by) 0x[0-9A-F]+: (.*)")
PROJECT = re.compile(r"pamlow|_wrap_pam|__pamlow|libpam\.so|libpam_misc|pam_[a-z_]+\.so|pam_[a-z_]+-[0-9a-f]+\.so|"
                     r"pam_sm_|pam_(authenticate|setcred|acct_mgmt|open_session|close_session|chauthtok|start|end)")


def blocks(lines: list[str], start: int) -> list[str]:
    """The frames that follow line start."""
    out = []
    for line in lines[start + 1:]:
        m = FRAME.match(line)
        if not m:
            if out:
                break
            continue
        out.append(m.group(1))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    logs = sorted(Path(argv[1]).glob("*.log"))
    errors: list[tuple[str, str, list[str]]] = []
    project_leaks: list[tuple[str, int, list[str]]] = []
    other_leaks: list[tuple[str, int, list[str]]] = []
    expected_leak_bytes = 0
    processes = 0
    for log in logs:
        lines = log.read_text(errors="replace").splitlines()
        if any("Memcheck, a memory error detector" in line for line in lines[:5]):
            processes += 1
        tagged = ".leaks-expected" in log.name
        for i, line in enumerate(lines):
            if ERROR_HEAD.match(line):
                errors.append((log.name, line.split("== ", 1)[1], blocks(lines, i)))
                continue
            m = LEAK_HEAD.match(line)
            if m:
                size = int(m.group(1).replace(",", ""))
                frames = blocks(lines, i)
                if tagged:
                    expected_leak_bytes += size
                elif any(PROJECT.search(f) for f in frames):
                    project_leaks.append((log.name, size, frames))
                else:
                    other_leaks.append((log.name, size, frames))
    for name, what, frames in errors:
        print(f"ERROR {name}: {what}")
        for f in frames[:12]:
            print(f"    {f}")
    for name, size, frames in project_leaks:
        print(f"DEFINITELY LOST (binding or PAM) {name}: {size} bytes")
        for f in frames[:12]:
            print(f"    {f}")
    for name, size, frames in other_leaks:
        print(f"definitely lost (elsewhere: interpreter, other program) {name}: {size} bytes")
        for f in frames[:6]:
            print(f"    {f}")
    seconds = f", {float(argv[2]):.0f} s" if len(argv) > 2 else ""
    print(
        f"valgrind memcheck: {processes} processes, {len(errors)} errors, "
        f"{sum(s for _, s, _ in project_leaks)} bytes definitely lost in {len(project_leaks)} records "
        f"from the binding or PAM, {sum(s for _, s, _ in other_leaks)} bytes elsewhere, "
        f"{expected_leak_bytes} bytes in processes that exit with threads in PAM on purpose{seconds}"
    )
    return 1 if errors or project_leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
