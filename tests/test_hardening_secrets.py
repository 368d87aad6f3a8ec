"""Secrets: what the binding copies of a password is wiped before it is freed.

The direct check: a child process runs with a small free() hook preloaded
(compiled here from FREEWATCH). Every block freed in the child is searched
for a marker before it goes back to the allocator; a block that still holds
the marker is attributed, by its stack, to the first frame outside the
allocators (libc, the sanitizer runtime, CPython's own allocator and the
hook): the binding's extension, or anything else (libpam, a module, Python
code). The binding must have freed no such block. Under AddressSanitizer,
whose free() comes first, the hook installs itself through the sanitizer's
own free-hook interface instead.

The control run proves that the check can fail: the hook also replaces
explicit_bzero(), the binding's way of wiping, and in control mode makes it
do nothing; then the same transactions must be caught freeing the marker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

import pamstack
from draxoft.auth import pam
from conftest import keep_environment
from pamstack import StackFactory

FREEWATCH = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void __libc_free(void *);

static char marker[256];
static size_t marker_len;
static volatile int armed;
static volatile int control;
static void *binding_base, *self_base, *libc_base, *python_base, *asan_base;
static __thread int busy;
static long binding_unwiped, other_marked, binding_wipes, checked;
static char report[8192];

static void *base_of(const void *addr)
{
    Dl_info info;

    if (addr != NULL && dladdr(addr, &info) != 0)
        return info.dli_fbase;
    return NULL;
}

/* Was the block freed by the binding? The first frame that is not an
 * allocator (this hook, libc, the sanitizer runtime, CPython) decides. */
static int freed_by_binding(void)
{
    void *frames[64];
    int n = backtrace(frames, 64);
    int i;

    for (i = 1; i < n; i++) {
        void *b = base_of(frames[i]);
        if (b == self_base || b == libc_base || b == python_base || (asan_base && b == asan_base))
            continue;
        if (b != NULL && b == binding_base) {
            if (report[0] == '\0') {
                char **names = backtrace_symbols(frames, n);
                size_t used = 0;
                int k;
                for (k = 0; names != NULL && k < n && used + 256 < sizeof report; k++)
                    used += (size_t)snprintf(report + used, sizeof report - used, "%s\n", names[k]);
                /* names is from malloc: freed through the hook, harmless */
                free(names);
            }
            return 1;
        }
        return 0;
    }
    return 0;
}

static void check(const void *p, size_t size)
{
    if (!armed || p == NULL || busy)
        return;
    busy = 1;
    __atomic_fetch_add(&checked, 1, __ATOMIC_RELAXED);
    if (size >= marker_len && memmem(p, size, marker, marker_len) != NULL) {
        if (freed_by_binding())
            __atomic_fetch_add(&binding_unwiped, 1, __ATOMIC_RELAXED);
        else
            __atomic_fetch_add(&other_marked, 1, __ATOMIC_RELAXED);
    }
    busy = 0;
}

/* Without a sanitizer: this free() comes first in the search order. */
void free(void *p)
{
    if (p != NULL)
        check(p, malloc_usable_size(p));
    __libc_free(p);
}

/* With AddressSanitizer: its free() comes first; use its hook instead. */
static size_t (*asan_size)(const volatile void *);
static void on_malloc(const volatile void *p, size_t n) { (void)p; (void)n; }
static void on_free(const volatile void *p)
{
    if (p != NULL && asan_size != NULL)
        check((const void *)p, asan_size(p));
}

static void wipe(void *s, size_t n, const void *caller)
{
    if (base_of(caller) == binding_base && binding_base != NULL)
        __atomic_fetch_add(&binding_wipes, 1, __ATOMIC_RELAXED);
    if (control)
        return;
    memset(s, 0, n);
    __asm__ __volatile__("" : : "r"(s) : "memory");
}

void explicit_bzero(void *s, size_t n) { wipe(s, n, __builtin_return_address(0)); }
void __explicit_bzero_chk(void *s, size_t n, size_t size) { (void)size; wipe(s, n, __builtin_return_address(0)); }

int freewatch_arm(const char *m, const void *in_binding, int control_mode)
{
    int (*install)(void (*)(const volatile void *, size_t), void (*)(const volatile void *));
    void *warm[4];

    snprintf(marker, sizeof marker, "%s", m);
    marker_len = strlen(marker);
    binding_base = base_of(in_binding);
    self_base = base_of((const void *)freewatch_arm);
    libc_base = base_of((const void *)__libc_free);
    python_base = base_of(dlsym(RTLD_DEFAULT, "PyObject_Free"));
    asan_base = base_of(dlsym(RTLD_DEFAULT, "__asan_init"));
    control = control_mode;
    backtrace(warm, 4);  /* loads the unwinder now, not inside a free() */
    install = (int (*)(void (*)(const volatile void *, size_t), void (*)(const volatile void *)))
        dlsym(RTLD_DEFAULT, "__sanitizer_install_malloc_and_free_hooks");
    asan_size = (size_t (*)(const volatile void *))dlsym(RTLD_DEFAULT, "__sanitizer_get_allocated_size");
    if (asan_base != NULL && install != NULL && asan_size != NULL && !install(on_malloc, on_free))
        return -1;
    armed = 1;
    return asan_base != NULL ? 2 : 1;
}

void freewatch_disarm(void) { armed = 0; }
long freewatch_binding_unwiped(void) { return binding_unwiped; }
long freewatch_other_marked(void) { return other_marked; }
long freewatch_binding_wipes(void) { return binding_wipes; }
long freewatch_checked(void) { return checked; }
const char *freewatch_report(void) { return report; }
"""

CHILD = r"""
import ctypes, glob, os, secrets, sys
hook = ctypes.CDLL(sys.argv[1])
control = int(sys.argv[2])
confdirs = dict(arg.split("=", 1) for arg in sys.argv[3:])
from draxoft.auth import pam, _pamlow
import draxoft.auth
ext = [p for d in draxoft.auth.__path__ for p in glob.glob(os.path.join(d, "_*pamlow*.so"))][0]
binding = ctypes.CDLL(ext)

# The marker and every secret built from it live, unchanged, until the end:
# none of them is freed by Python while the hook watches.
MARK = "Mk" + secrets.token_hex(12)
SECRET = MARK * 9 + "é"
SECRET_B = SECRET.encode()
SECRET_BA = bytearray(SECRET_B)
SECRET_BIN = b"\0\0\0\0" + SECRET_B      # a binary answer with NULs before the marker
BIG = MARK * 400                          # beyond small-object allocators
answers = {"str": SECRET, "bytes": SECRET_B, "bytearray": SECRET_BA, "big": BIG}

class Stop(Exception):
    pass
STOP = Stop()

def make_conv(kind):
    def conv(style, message, data):
        if message == "b":
            raise STOP
        if style == pam.PAM_BINARY_PROMPT:
            return SECRET_BIN
        return answers[kind]
    return conv

hook.freewatch_arm.restype = ctypes.c_int
mode = hook.freewatch_arm(MARK.encode(), ctypes.cast(binding.pamlow_conv, ctypes.c_void_p), control)
assert mode > 0, mode
for kind in answers:
    conv = make_conv(kind)
    for service in ("dropped", "handed", "noresp", "binary"):
        h = pam.handle(service, "alice", conv, confdir=confdirs["confdir"])
        try:
            h.authenticate()
        except Stop:
            pass
        h.close()
    h = pam.handle("handed", "alice", conv, confdir=confdirs["confdir"])
    h.rhost = answers[kind]
    h.user = answers[kind]
    try:
        h.xauthdata = ("MIT-MAGIC-COOKIE-1", SECRET_B)
    except pam.PamError:
        pass
    h.environment["PW"] = answers[kind]
    h.environment["PW"], dict(h.environment)
    rc = _pamlow.pam_set_item(h._low, pam.PAM_AUTHTOK, answers[kind])
    h.close()
hook.freewatch_disarm()
for name in ("binding_unwiped", "other_marked", "binding_wipes", "checked"):
    getattr(hook, "freewatch_" + name).restype = ctypes.c_long
    print(name, getattr(hook, "freewatch_" + name)())
hook.freewatch_report.restype = ctypes.c_char_p
sys.stderr.write(hook.freewatch_report().decode(errors="replace"))
print("mode", mode)
"""


@pytest.fixture(scope="module")
def freewatch(tmp_path_factory: pytest.TempPathFactory) -> str:
    build = tmp_path_factory.mktemp("freewatch")
    source = build / "freewatch.c"
    source.write_text(FREEWATCH)
    target = build / "freewatch.so"
    compiler = os.environ.get("CC", "gcc")
    done = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-g", "-Wall", "-Werror", "-o", str(target), str(source), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return str(target)


def run_watched(freewatch: str, confdir: str, control: bool) -> dict[str, int]:
    env = pamstack.child_environment({
        "PYTHONMALLOC": "malloc",  # every Python object through free()
        "LD_PRELOAD": ":".join(p for p in (os.environ.get("LD_PRELOAD", ""), freewatch) if p),
    })
    done = subprocess.run(
        [sys.executable, "-c", CHILD, freewatch, str(int(control)), f"confdir={confdir}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counts = {k: int(v) for k, v in (line.split() for line in done.stdout.splitlines())}
    counts["stack"] = done.stderr  # type: ignore[assignment]
    return counts


@pytest.fixture
def secret_stacks(pam_stack: StackFactory) -> str:
    return pam_stack(
        {
            # The first answer is built, then dropped by the binding when the
            # second prompt raises.
            "dropped": ["auth required {pytest} msg=echo_off:a msg=echo_off:b"],
            # The answer goes to PAM, which hands it to the module.
            "handed": ["auth required {pytest} msg=echo_off:a", "auth required pam_permit.so"],
            # A prompt with no response pointer: built and dropped.
            "noresp": ["auth required {hostile} noresp"],
            # A binary answer with NUL bytes before the secret, dropped.
            "binary": ["auth required {pytest} msg=binary:00 msg=echo_off:b"],
        }
    )


def test_the_binding_frees_no_copy_of_a_secret_unwiped(freewatch: str, secret_stacks: str) -> None:
    counts = run_watched(freewatch, secret_stacks, control=False)
    assert counts["checked"] > 1000  # the hook saw the process's frees
    assert counts["binding_wipes"] > 0  # and the binding's wiping
    assert counts["binding_unwiped"] == 0, "freed unwiped by the binding:\n" + str(counts["stack"])


def test_control_the_hook_catches_copies_that_are_not_wiped(freewatch: str, secret_stacks: str) -> None:
    # The same transactions with the binding's explicit_bzero() disabled:
    # every dropped answer, item and environment copy must now be caught.
    counts = run_watched(freewatch, secret_stacks, control=True)
    assert counts["binding_wipes"] > 0
    assert counts["binding_unwiped"] >= 4 * 4, counts
    # Copies freed by others (a module's own unwiped buffers) are seen, and
    # not blamed on the binding.
    assert counts["other_marked"] > 0


# ----------------------------------------------------------------------
# What the module receives, repr(), bytearray answers


def test_the_module_receives_exactly_the_secret(pam_stack: StackFactory) -> None:
    # Non-ASCII, and a byte that is not UTF-8 (a lone surrogate in str).
    secret = "p\u00e4ss w\u00f6rd\U0001f511 \udcff"
    raw = secret.encode("utf-8", "surrogateescape")
    packet = b"\0\0\0\x07\x01\xff\x00"  # a binary answer with NUL bytes
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw msg=binary:0102"])
    for answer in (secret, raw, bytearray(raw)):

        def conv(style: int, message: Any, data: Any, answer: Any = answer) -> Any:
            return packet if style == pam.PAM_BINARY_PROMPT else answer

        with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
            keep_environment(h)
            assert h.authenticate()
            env = h.environment
            assert env["PYTEST_RESP_0"].encode("utf-8", "surrogateescape") == raw
            if "binary_prompt" in pam.extensions:
                assert env["PYTEST_RESP_1"] == packet.hex()


def test_repr_never_shows_a_password(pam_stack: StackFactory) -> None:
    secret = "hunter2-" + os.urandom(8).hex()
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw authtok setenv=X=1 ret=PAM_AUTH_ERR"])

    def conv(style: int, message: Any, data: Any) -> str:
        return secret

    h = pam.handle("pytest", "alice", conv, data={"password": "not shown"}, confdir=confdir, rhost="192.0.2.7")
    keep_environment(h)
    texts = [repr(h), str(h)]
    assert h.authenticate() is False
    env = h.environment
    assert env["PYTEST_AUTHTOK"] == secret  # the module had it
    texts += [repr(h), str(h), repr(env), str(env), format(h)]
    try:
        h.chauthtok()
    except pam.PamError as e:
        texts += [repr(e), str(e)]
    h.close()
    texts += [repr(h), str(h)]
    for text in texts:
        assert secret not in text and "not shown" not in text, text
    assert "PYTEST_AUTHTOK" in repr(env) or "closed" in repr(env)


def test_a_bytearray_answer_can_be_wiped_by_the_caller(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw expect=0:Tr0ub4dor"])
    answer = bytearray(b"Tr0ub4dor")
    base = sys.getrefcount(answer)
    with pam.handle("pytest", "alice", lambda s, m, d: answer, confdir=confdir) as h:
        assert h.authenticate() is True  # expect= checked it in the module
        # The binding keeps no reference and no buffer export: the caller
        # can zero it in place and even resize it.
        assert sys.getrefcount(answer) == base
        answer[:] = b"\0" * len(answer)
        answer.extend(b"x")
        del answer[:]
        assert answer == bytearray()
        # Wiped in place, the same object answers no more.
        answer.extend(b"wrong")
        assert h.authenticate() is False
