/*
 * pam_faulty.so -- a PAM module that fails the way foreign C code fails, for
 * the isolation tests of draxoft.auth.pam (isolated=True): it crashes, aborts,
 * exits, never returns, or scribbles on stdout and stderr.  Loaded into the
 * application's own process it would take it down; loaded into an isolated
 * worker it must cost one transaction only.
 *
 * Every service function obeys the same options, from left to right:
 *
 *   segv         Write through a NULL pointer (SIGSEGV).
 *   abort        abort() (SIGABRT).
 *   exit=N       _exit(N): the process ends without a signal.
 *   hang         Never return (sleeps in a loop; only a signal ends it).
 *   garbage      Write 64 KiB of bytes of every value to stdout and to
 *                stderr, then go on.
 *   endsegv      Crash later, inside pam_end (the cleanup of a pam_set_data
 *                item), once the operation itself has returned.
 *   endhang      Never return from pam_end (likewise).
 *   ask          Ask the conversation one hidden question and drop the
 *                answer, wiped, unread (PAM_CONV_ERR if the conversation
 *                fails): a prompt that leaves no copy of a password.
 *   ret=N        Return N (a decimal PAM code) when every option above let
 *                the call go on.  Default PAM_SUCCESS.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>
#include <security/pam_modules.h>

#include "module_util.h"

#define FAULTY_DATA "pam_faulty_end"

static void
never_return(void)
{
    struct timespec second = {1, 0};

    for (;;)
        nanosleep(&second, NULL);
}

/* Named so that scripts/valgrind-python.supp can tell this deliberate
 * invalid write from a real one. */
static void
faulty_crash(void)
{
    /* volatile: the compiler may not prove the write away. */
    volatile int *volatile nowhere = NULL;

    *nowhere = 1;
    abort(); /* not reached */
}

static void
scribble(int fd)
{
    unsigned char junk[4096];
    size_t i;
    int round;

    for (i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 7 + 3);
    for (round = 0; round < 16; round++) {
        ssize_t n = write(fd, junk, sizeof junk);
        if (n < 0)
            return;
    }
}

static void
end_crash(pam_handle_t *pamh, void *data, int status)
{
    (void)pamh;
    (void)data;
    (void)status;
    faulty_crash();
}

static void
end_hang(pam_handle_t *pamh, void *data, int status)
{
    (void)pamh;
    (void)data;
    (void)status;
    never_return();
}

static int
ask(pam_handle_t *pamh)
{
    const void *item = NULL;
    const struct pam_conv *conv;
    struct pam_message message = {PAM_PROMPT_ECHO_OFF, "Password: "};
    const struct pam_message *messages[1] = {&message};
    struct pam_response *responses = NULL;
    int rc;

    if (pam_get_item(pamh, PAM_CONV, &item) != PAM_SUCCESS || item == NULL)
        return PAM_CONV_ERR;
    conv = item;
    if (conv->conv == NULL)
        return PAM_CONV_ERR;
    rc = conv->conv(1, messages, &responses, conv->appdata_ptr);
    free_responses(responses, 1);
    return rc == PAM_SUCCESS ? PAM_SUCCESS : PAM_CONV_ERR;
}

static int
faulty(pam_handle_t *pamh, int argc, const char **argv)
{
    long value;
    int i, ret = PAM_SUCCESS;

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "segv") == 0)
            faulty_crash();
        else if (strcmp(arg, "abort") == 0)
            abort();
        else if (starts_with(arg, "exit=") && parse_long(arg + 5, 0, 255, &value))
            _exit((int)value);
        else if (strcmp(arg, "hang") == 0)
            never_return();
        else if (strcmp(arg, "garbage") == 0) {
            scribble(STDOUT_FILENO);
            scribble(STDERR_FILENO);
        } else if (strcmp(arg, "endsegv") == 0) {
            if (pam_set_data(pamh, FAULTY_DATA, NULL, end_crash) != PAM_SUCCESS)
                return PAM_SERVICE_ERR;
        } else if (strcmp(arg, "endhang") == 0) {
            if (pam_set_data(pamh, FAULTY_DATA, NULL, end_hang) != PAM_SUCCESS)
                return PAM_SERVICE_ERR;
        } else if (strcmp(arg, "ask") == 0) {
            int rc = ask(pamh);
            if (rc != PAM_SUCCESS)
                return rc;
        } else if (starts_with(arg, "ret=") && parse_long(arg + 4, 0, 1000, &value))
            ret = (int)value;
        else
            return PAM_SERVICE_ERR; /* a typo in a test must not pass */
    }
    return ret;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return faulty(pamh, argc, argv);
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return faulty(pamh, argc, argv);
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return faulty(pamh, argc, argv);
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return faulty(pamh, argc, argv);
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return faulty(pamh, argc, argv);
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return faulty(pamh, argc, argv);
}
