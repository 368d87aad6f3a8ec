/*
 * pam_hostile.so -- a PAM module for the hardening tests of draxoft.auth.pam.
 * It calls the application's conversation function in the ways a careless or
 * hostile module might, and records what happened in the PAM environment
 * (HOSTILE_* variables), which the application reads back.
 *
 * Options act from left to right in every service function; the module
 * returns ret= (default PAM_SUCCESS) unless an action fails, in which case it
 * returns that action's code at once.
 *
 *   ret=CODE       Return code when every action succeeded: a decimal number.
 *   nullentry      conv(2, {&message, NULL}): a NULL pointer inside the
 *                  message array.  Records HOSTILE_NULLENTRY_RC.
 *   nulltext       conv(1, ...) with msg->msg == NULL (echo_on).  Records
 *                  HOSTILE_NULLTEXT_RC and HOSTILE_NULLTEXT_RESP.
 *   negative       conv(-1, ...).  Records HOSTILE_NEGATIVE_RC.
 *   noresp         conv(1, echo_off "noresp", resp == NULL): a prompt whose
 *                  answer cannot be handed back.  Records HOSTILE_NORESP_RC.
 *   huge=N         One echo_off message of N 'x' characters (N <= 16 MiB).
 *                  Records HOSTILE_HUGE_RC and HOSTILE_HUGE_LEN (length of
 *                  the answer, or -1 for none).
 *   calls=N        N conversation calls of one echo_off message "call <i>"
 *                  each.  Records HOSTILE_CALLS (how many succeeded) and
 *                  HOSTILE_CALLS_LAST (the last answer); a failed call
 *                  returns its code.
 *   thread         One echo_off message "thread" sent from a new POSIX
 *                  thread that the module starts and joins: the
 *                  application is entered from a thread it never saw.
 *                  Records HOSTILE_THREAD_RC and HOSTILE_THREAD_RESP.
 *   endconv        Arms a pam_set_data cleanup that sends one echo_off
 *                  message "endconv" while pam_end() runs (the transaction
 *                  is being ended, maybe by the garbage collector or at
 *                  interpreter exit).  Nothing is recorded: pam_end is
 *                  freeing the environment.
 *   shortbinary    A binary prompt whose length header says 0 (the packet
 *                  has its 5 header bytes only).  Records HOSTILE_SHORTBIN_RC.
 *
 * Responses are wiped and freed as a module must.  A response array handed
 * back with a failure code is freed too (Linux-PAM's own modules do so).
 */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>
#include <security/pam_modules.h>

#include "module_util.h"

#define HOSTILE_MAX_HUGE (16L * 1024 * 1024)
#define HOSTILE_MAX_CALLS 100000L
#define HOSTILE_ENDCONV_DATA "pam_hostile_endconv"

static const struct pam_conv *get_conv(pam_handle_t *pamh)
{
    const void *item = NULL;

    if (pam_get_item(pamh, PAM_CONV, &item) != PAM_SUCCESS || item == NULL) {
        return NULL;
    }
    return item;
}

/* One conversation call with count messages; frees what comes back. */
static int converse(pam_handle_t *pamh, int count,
                    const struct pam_message **messages,
                    struct pam_response **responses)
{
    const struct pam_conv *conv = get_conv(pamh);

    if (conv == NULL || conv->conv == NULL) {
        return PAM_CONV_ERR;
    }
    return conv->conv(count, messages, responses, conv->appdata_ptr);
}

static int send_one(pam_handle_t *pamh, int style, const char *text,
                    struct pam_response **responses)
{
    struct pam_message message;
    const struct pam_message *pointers[1];
    int rc;

    message.msg_style = style;
    message.msg = text;
    pointers[0] = &message;
    *responses = NULL;
    rc = converse(pamh, 1, pointers, responses);
    if (rc != PAM_SUCCESS) {
        free_responses(*responses, 1);
        *responses = NULL;
    }
    return rc;
}

static int do_nullentry(pam_handle_t *pamh)
{
    struct pam_message message = {PAM_PROMPT_ECHO_OFF, "first"};
    const struct pam_message *pointers[2] = {&message, NULL};
    struct pam_response *responses = NULL;
    int rc = converse(pamh, 2, pointers, &responses);

    free_responses(responses, rc == PAM_SUCCESS ? 2 : 1);
    return record_long(pamh, "HOSTILE_NULLENTRY_RC", rc);
}

static int do_nulltext(pam_handle_t *pamh)
{
    struct pam_response *responses = NULL;
    int rc = send_one(pamh, PAM_PROMPT_ECHO_ON, NULL, &responses);
    int put = record_long(pamh, "HOSTILE_NULLTEXT_RC", rc);

    if (put == PAM_SUCCESS) {
        put = record(pamh, "HOSTILE_NULLTEXT_RESP",
                     responses != NULL && responses[0].resp != NULL
                         ? responses[0].resp : "<null>");
    }
    free_responses(responses, 1);
    return put;
}

static int do_negative(pam_handle_t *pamh)
{
    struct pam_message message = {PAM_PROMPT_ECHO_OFF, "negative"};
    const struct pam_message *pointers[1] = {&message};
    struct pam_response *responses = NULL;
    int rc = converse(pamh, -1, pointers, &responses);

    /* Nothing can be known about an array answered to -1 messages. */
    free_responses(responses, 0);
    return record_long(pamh, "HOSTILE_NEGATIVE_RC", rc);
}

static int do_noresp(pam_handle_t *pamh)
{
    struct pam_message message = {PAM_PROMPT_ECHO_OFF, "noresp"};
    const struct pam_message *pointers[1] = {&message};
    int rc = converse(pamh, 1, pointers, NULL);

    return record_long(pamh, "HOSTILE_NORESP_RC", rc);
}

static int do_huge(pam_handle_t *pamh, long size)
{
    struct pam_response *responses = NULL;
    char *text = malloc((size_t)size + 1);
    int rc;
    int put;

    if (text == NULL) {
        return PAM_BUF_ERR;
    }
    memset(text, 'x', (size_t)size);
    text[size] = '\0';
    rc = send_one(pamh, PAM_PROMPT_ECHO_OFF, text, &responses);
    free(text);
    put = record_long(pamh, "HOSTILE_HUGE_RC", rc);
    if (put == PAM_SUCCESS) {
        put = record_long(pamh, "HOSTILE_HUGE_LEN",
                          responses != NULL && responses[0].resp != NULL
                              ? (long)strlen(responses[0].resp) : -1L);
    }
    free_responses(responses, 1);
    return put;
}

static int do_calls(pam_handle_t *pamh, long count)
{
    char text[48];
    long i;
    int rc = PAM_SUCCESS;

    for (i = 0; i < count; ++i) {
        struct pam_response *responses = NULL;

        snprintf(text, sizeof(text), "call %ld", i);
        rc = send_one(pamh, PAM_PROMPT_ECHO_OFF, text, &responses);
        if (rc != PAM_SUCCESS) {
            break;
        }
        if (i == count - 1) {
            rc = record(pamh, "HOSTILE_CALLS_LAST",
                        responses != NULL && responses[0].resp != NULL
                            ? responses[0].resp : "<null>");
        }
        free_responses(responses, 1);
        if (rc != PAM_SUCCESS) {
            break;
        }
    }
    if (record_long(pamh, "HOSTILE_CALLS", i) != PAM_SUCCESS) {
        return PAM_BUF_ERR;
    }
    return rc;
}

struct thread_call {
    pam_handle_t *pamh;
    int rc;
    struct pam_response *responses;
};

static void *thread_main(void *arg)
{
    struct thread_call *call = arg;

    call->rc = send_one(call->pamh, PAM_PROMPT_ECHO_OFF, "thread",
                        &call->responses);
    return NULL;
}

static int do_thread(pam_handle_t *pamh)
{
    struct thread_call call;
    pthread_t thread;
    int put;

    call.pamh = pamh;
    call.rc = PAM_SYSTEM_ERR;
    call.responses = NULL;
    if (pthread_create(&thread, NULL, thread_main, &call) != 0) {
        return PAM_SYSTEM_ERR;
    }
    pthread_join(thread, NULL);
    put = record_long(pamh, "HOSTILE_THREAD_RC", call.rc);
    if (put == PAM_SUCCESS) {
        put = record(pamh, "HOSTILE_THREAD_RESP",
                     call.responses != NULL && call.responses[0].resp != NULL
                         ? call.responses[0].resp : "<null>");
    }
    free_responses(call.responses, 1);
    if (put != PAM_SUCCESS) {
        return put;
    }
    return call.rc;
}

static void endconv_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
    struct pam_response *responses = NULL;

    (void)data;
#ifdef PAM_DATA_REPLACE
    if (error_status & PAM_DATA_REPLACE) {
        return;
    }
#else
    (void)error_status;
#endif
    (void)send_one(pamh, PAM_PROMPT_ECHO_OFF, "endconv", &responses);
    free_responses(responses, 1);
}

static int do_shortbinary(pam_handle_t *pamh)
{
#ifdef PAM_BINARY_PROMPT
    static const unsigned char packet[5] = {0, 0, 0, 0, 1};
    struct pam_response *responses = NULL;
    int rc = send_one(pamh, PAM_BINARY_PROMPT, (const char *)packet, &responses);

    free_responses(responses, 1);
    return record_long(pamh, "HOSTILE_SHORTBIN_RC", rc);
#else
    return record(pamh, "HOSTILE_SHORTBIN_RC", "unsupported");
#endif
}

static int run(pam_handle_t *pamh, int argc, const char **argv)
{
    long number;
    int result = PAM_SUCCESS;
    int rc = PAM_SUCCESS;
    int a;

    for (a = 0; a < argc && rc == PAM_SUCCESS; ++a) {
        const char *arg = argv[a];

        if (starts_with(arg, "ret=")) {
            if (!parse_long(arg + 4, 0, INT_MAX, &number)) {
                return PAM_SERVICE_ERR;
            }
            result = (int)number;
        } else if (strcmp(arg, "nullentry") == 0) {
            rc = do_nullentry(pamh);
        } else if (strcmp(arg, "nulltext") == 0) {
            rc = do_nulltext(pamh);
        } else if (strcmp(arg, "negative") == 0) {
            rc = do_negative(pamh);
        } else if (strcmp(arg, "noresp") == 0) {
            rc = do_noresp(pamh);
        } else if (starts_with(arg, "huge=")) {
            if (!parse_long(arg + 5, 0, HOSTILE_MAX_HUGE, &number)) {
                return PAM_SERVICE_ERR;
            }
            rc = do_huge(pamh, number);
        } else if (starts_with(arg, "calls=")) {
            if (!parse_long(arg + 6, 1, HOSTILE_MAX_CALLS, &number)) {
                return PAM_SERVICE_ERR;
            }
            rc = do_calls(pamh, number);
        } else if (strcmp(arg, "thread") == 0) {
            rc = do_thread(pamh);
        } else if (strcmp(arg, "endconv") == 0) {
            rc = pam_set_data(pamh, HOSTILE_ENDCONV_DATA, NULL, endconv_cleanup);
        } else if (strcmp(arg, "shortbinary") == 0) {
            rc = do_shortbinary(pamh);
        } else {
            (void)record(pamh, "HOSTILE_ERROR", arg);
            return PAM_SERVICE_ERR;
        }
    }
    return rc != PAM_SUCCESS ? rc : result;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
                                   const char **argv)
{
    (void)flags;
    return run(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
                              const char **argv)
{
    (void)flags;
    return run(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
                                const char **argv)
{
    (void)flags;
    return run(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
                                   const char **argv)
{
    (void)flags;
    return run(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
                                    const char **argv)
{
    (void)flags;
    return run(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc,
                                const char **argv)
{
    if (flags & PAM_PRELIM_CHECK) {
        return PAM_SUCCESS;
    }
    return run(pamh, argc, argv);
}

/*
 * Not a PAM entry point: a test loads this object with ctypes and registers
 * this function with Py_AtExit, so that the process lingers for half a
 * second after the interpreter has been finalized. A daemon thread that a
 * module holds inside PAM then comes back to the application's callbacks
 * at a moment when Python is gone, every time rather than by chance.
 */
void pam_hostile_linger(void);

void pam_hostile_linger(void)
{
    struct timespec left = {0, 500L * 1000 * 1000};

    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}
