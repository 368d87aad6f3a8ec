/*
 * pam_steplog.so -- a test module of draxoft.auth.pam that writes one line
 * per call to a log file, so that a test can check which PAM calls a
 * transaction made, in what order, with which flags, and from which
 * process:
 *
 *     <function> flags=<flags, hex> pid=<getpid()> euid=<geteuid()>
 *
 * <function> is authenticate, setcred, acct_mgmt, open_session,
 * close_session or chauthtok (both passes of pam_chauthtok).
 *
 * Options:
 *   log=PATH      The file the lines are appended to (required).
 *   fail=NAME     Make the calls of that function fail (after logging):
 *                 authenticate PAM_AUTH_ERR, setcred PAM_CRED_ERR,
 *                 acct_mgmt PAM_PERM_DENIED, open_session and close_session
 *                 PAM_SESSION_ERR, chauthtok PAM_AUTHTOK_ERR. May be
 *                 repeated.
 *   expired       acct_mgmt returns PAM_NEW_AUTHTOK_REQD (unless it fails).
 *   data          open_session stores module data (pam_set_data) whose
 *                 cleanup, which pam_end runs, logs
 *                     cleanup status=<pam_end's status, hex> pid=... euid=...
 *                 so a test sees what pam_end told the modules
 *                 (PAM_DATA_SILENT, for one).
 *
 * Without log=, or with an unknown option, every call returns
 * PAM_SERVICE_ERR, so that a typo cannot pass unnoticed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <security/pam_modules.h>

#include "module_util.h"

static int log_line(const char *path, const char *what, const char *name, int value)
{
    FILE *log = fopen(path, "a");

    if (log == NULL) {
        return PAM_SYSTEM_ERR;
    }
    fprintf(log, "%s %s=%#x pid=%ld euid=%ld\n", what, name, (unsigned int)value,
            (long)getpid(), (long)geteuid());
    return fclose(log) == 0 ? PAM_SUCCESS : PAM_SYSTEM_ERR;
}

/* The data's cleanup: the data is a copy of the log's path. */
static void log_cleanup(pam_handle_t *pamh, void *data, int status)
{
    (void)pamh;
    log_line(data, "cleanup", "status", status);
    free(data);
}

static int steplog(pam_handle_t *pamh, const char *function, int failure, int flags, int argc,
                   const char **argv)
{
    const char *path = NULL;
    int fail = 0;
    int expired = 0;
    int data = 0;
    int rc;
    int i;

    for (i = 0; i < argc; i++) {
        if (starts_with(argv[i], "log=")) {
            path = argv[i] + strlen("log=");
        } else if (starts_with(argv[i], "fail=")) {
            if (strcmp(argv[i] + strlen("fail="), function) == 0) {
                fail = 1;
            }
        } else if (strcmp(argv[i], "expired") == 0) {
            expired = 1;
        } else if (strcmp(argv[i], "data") == 0) {
            data = 1;
        } else {
            return PAM_SERVICE_ERR;
        }
    }
    if (path == NULL || *path == '\0') {
        return PAM_SERVICE_ERR;
    }
    rc = log_line(path, function, "flags", flags);
    if (rc != PAM_SUCCESS) {
        return rc;
    }
    if (fail) {
        return failure;
    }
    if (data && strcmp(function, "open_session") == 0) {
        char *copy = strdup(path);

        if (copy == NULL) {
            return PAM_BUF_ERR;
        }
        rc = pam_set_data(pamh, "pam_steplog", copy, log_cleanup);
        if (rc != PAM_SUCCESS) {
            free(copy);
            return rc;
        }
    }
    if (expired && strcmp(function, "acct_mgmt") == 0) {
        return PAM_NEW_AUTHTOK_REQD;
    }
    return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return steplog(pamh, "authenticate", PAM_AUTH_ERR, flags, argc, argv);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return steplog(pamh, "setcred", PAM_CRED_ERR, flags, argc, argv);
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return steplog(pamh, "acct_mgmt", PAM_PERM_DENIED, flags, argc, argv);
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return steplog(pamh, "open_session", PAM_SESSION_ERR, flags, argc, argv);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return steplog(pamh, "close_session", PAM_SESSION_ERR, flags, argc, argv);
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return steplog(pamh, "chauthtok", PAM_AUTHTOK_ERR, flags, argc, argv);
}
