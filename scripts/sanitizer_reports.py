#!/usr/bin/env python3
"""Judge the sanitizer reports of a test run: exit 0 only when there is none
that points at the project.

    python3 scripts/sanitizer_reports.py REPORT_DIR

REPORT_DIR holds the files that ASan, LSan and UBSan wrote through their
``log_path`` option (one per process that reported). Every AddressSanitizer
error and every UndefinedBehaviorSanitizer report fails the run. A leak
fails it unless it matches one of the KNOWN_FOREIGN_LEAKS below: leaks of
third-party C code, each described by the exact shape of its stack, so that
the same bytes allocated on any other path (by the binding, say) still fail.

The interpreter's own leaks are suppressed at the source, by
scripts/lsan-python.supp; nothing of the project may ever be allowed here.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

FRAME = re.compile(
    r"^\s*#(?P<n>\d+) 0x[0-9a-f]+"
    r"(?: in (?P<func>\S+)(?: (?P<file>[^\s(]\S*))?)?"
    r"(?:\s+\((?P<module>[^)+]*)(?:\+0x[0-9a-f]+)?\))?\s*$"
)
LEAK = re.compile(r"^(?P<kind>Direct|Indirect) leak of (?P<bytes>\d+) byte\(s\) in (?P<objects>\d+) object\(s\) allocated from:")
ALLOCATORS = {"malloc", "calloc", "realloc", "strdup", "strndup", "__interceptor_malloc",
              "__interceptor_calloc", "__interceptor_realloc", "__interceptor_strdup",
              "__interceptor_strndup"}


@dataclass
class Frame:
    func: str = ""
    file: str = ""
    module: str = ""

    def where(self) -> str:
        return f"{self.func or '?'} ({self.module or self.file or '?'})"


@dataclass
class Leak:
    kind: str
    size: int
    objects: int
    frames: list[Frame] = field(default_factory=list)

    def callers(self) -> list[Frame]:
        """The stack without the allocator's own frames."""
        frames = list(self.frames)
        while frames and (frames[0].func in ALLOCATORS or "libsanitizer" in frames[0].file
                          or "libasan" in frames[0].module):
            frames.pop(0)
        return frames


def in_module(frame: Frame, name: str) -> bool:
    return Path(frame.module).name.startswith(name)


STARTS = {"pamlow_start", "pamlow_start_confdir", "_wrap_pam_start", "_wrap_pam_start_confdir"}


def libpam_failed_start(leak: Leak) -> bool:
    # Linux-PAM 1.5.2: when pam_start{,_confdir} fails (no such service
    # file, unreadable confdir ...), pam_start_internal returns PAM_ABORT
    # without freeing the module table that _pam_init_handlers allocated:
    # 96 bytes (4 struct loaded_module). libpam is stripped and built
    # without frame pointers, so ASan's fast unwinder stops inside it; the
    # shape allowed is therefore: allocated by libpam itself, 96 bytes per
    # object, and no frame of the binding on the stack other than its two
    # start functions (seen when the stack is unwound in full). A handle
    # that the binding failed to end would leak far more than this table
    # (the pam_handle, its items, the binding's own handle and capsule),
    # and those are not allowed.
    c = leak.callers()
    return (
        bool(c)
        and in_module(c[0], "libpam.so")
        and leak.objects > 0
        and leak.size == 96 * leak.objects
        and all(f.func in STARTS for f in c[1:] if f.func.startswith(("pamlow", "_wrap_")))
    )


def pam_wrapper_module(name: str) -> Callable[[Leak], bool]:
    # pam_wrapper's test modules (not the project's, not Linux-PAM's) leak
    # what they allocate, and pam_chatty never frees the response array
    # of its conversation. Allowed only when the allocation is made by the
    # module itself, or by the conversation trampoline called directly by
    # the module (the array the module was given and should have freed).
    def rule(leak: Leak) -> bool:
        c = leak.callers()
        if c and in_module(c[0], name):
            return True
        return len(c) >= 2 and c[0].func == "pamlow_conv" and in_module(c[1], name)

    return rule


def other_program(leak: Leak) -> bool:
    # The preloaded runtime is inherited by every program the tests start
    # (pkg-config, tail ...). A leak whose every frame lies in such a
    # program's own executable is not a leak of this process's code.
    c = leak.callers()
    return bool(c) and all(
        f.module.startswith(("/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"))
        and not Path(f.module).name.startswith(("python", "pamtester"))
        for f in c
    )


KNOWN_FOREIGN_LEAKS: list[tuple[str, Callable[[Leak], bool]]] = [
    ("another program started by a test (not Python, not PAM)", other_program),
    ("libpam: failed pam_start leaks its module table", libpam_failed_start),
    ("pam_wrapper: pam_chatty.so does not free its responses", pam_wrapper_module("pam_chatty.so")),
    ("pam_wrapper: pam_matrix.so leaks its strndup copies", pam_wrapper_module("pam_matrix.so")),
]


def parse(text: str) -> tuple[list[str], list[Leak]]:
    """Errors (non-leak reports, as their headline) and leaks of one file."""
    errors: list[str] = []
    leaks: list[Leak] = []
    current: Optional[Leak] = None
    for line in text.splitlines():
        m = LEAK.match(line)
        if m:
            current = Leak(m["kind"], int(m["bytes"]), int(m["objects"]))
            leaks.append(current)
            continue
        if current is not None:
            f = FRAME.match(line)
            if f:
                current.frames.append(Frame(f["func"] or "", f["file"] or "", f["module"] or ""))
                continue
            if line.strip():
                current = None
        if "ERROR: AddressSanitizer" in line or "runtime error:" in line or (
            "ERROR: LeakSanitizer" in line and "detected memory leaks" not in line
        ):
            errors.append(line.strip())
        elif "WARNING: AddressSanitizer" in line or "ERROR: UndefinedBehaviorSanitizer" in line:
            errors.append(line.strip())
    return errors, leaks


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    files = sorted(p for p in Path(argv[1]).iterdir() if p.is_file())
    bad = 0
    allowed: dict[str, int] = {}
    for path in files:
        errors, leaks = parse(path.read_text(errors="replace"))
        for e in errors:
            bad += 1
            print(f"{path.name}: {e}")
        for leak in leaks:
            reason = next((why for why, rule in KNOWN_FOREIGN_LEAKS if rule(leak)), None)
            if reason is not None:
                allowed[reason] = allowed.get(reason, 0) + leak.size
                continue
            bad += 1
            top = " <- ".join(f.where() for f in leak.callers()[:6])
            print(f"{path.name}: {leak.kind} leak of {leak.size} bytes: {top}")
        if not errors and not leaks:
            bad += 1
            print(f"{path.name}: a report that this script cannot read; see the file")
    for reason, size in sorted(allowed.items()):
        print(f"allowed (third-party): {reason}: {size} bytes in all")
    print(f"sanitizer reports: {len(files)} file(s), {bad} finding(s) against the project")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
