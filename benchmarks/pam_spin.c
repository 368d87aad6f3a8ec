/*
 * pam_spin.so: a CPU-bound PAM module for benchmarks/bench_speed.py's
 * thread-scaling runs. Its authentication step spins=N rounds of an
 * integer mix (a stand-in for a password hash), then succeeds; its
 * account step succeeds at once. Nothing is shared between calls, so
 * threads can only be serialized by the code around it.
 */
#include <security/pam_modules.h>
#include <stdlib.h>
#include <string.h>

int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    unsigned long rounds = 100000, i;
    volatile unsigned long sink;
    unsigned long x = 0x9e3779b97f4a7c15UL;
    int a;

    (void)pamh;
    (void)flags;
    for (a = 0; a < argc; a++)
        if (strncmp(argv[a], "spins=", 6) == 0)
            rounds = strtoul(argv[a] + 6, NULL, 10);
    for (i = 0; i < rounds; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    sink = x;
    (void)sink;
    return PAM_SUCCESS;
}

int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_SUCCESS;
}

int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_SUCCESS;
}
