/*
 * The C floor of benchmarks/bench_speed.py: the same transactions as the
 * Python runners (start, authenticate with the conversation answering the
 * password, account check, end), in plain C against the same libpam.
 *
 *   floor SERVICE CONFDIR USER PASSWORD COUNT naive|resident
 *
 * "resident" keeps one more handle of the service open for the whole run,
 * so that the dynamic loader only counts references to the modules instead
 * of loading them at every pam_start. Prints microseconds per transaction.
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
answer(int n, const struct pam_message **msg, struct pam_response **resp, void *password)
{
    struct pam_response *r = calloc((size_t)n, sizeof *r);
    int i;

    if (r == NULL)
        return PAM_BUF_ERR;
    for (i = 0; i < n; i++)
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
            r[i].resp = strdup(password);
    *resp = r;
    return PAM_SUCCESS;
}

static int
start(const char *service, const char *confdir, const char *user, const struct pam_conv *conv,
      pam_handle_t **pamh)
{
#ifdef FLOOR_NO_CONFDIR
    (void)confdir;
    return pam_start(service, user, conv, pamh);
#else
    return pam_start_confdir(service, user, conv, confdir, pamh);
#endif
}

int
main(int argc, char **argv)
{
    struct pam_conv conv = {answer, NULL};
    pam_handle_t *keep = NULL, *pamh;
    struct timespec t0, t1;
    long i, count;
    int rc;

    if (argc != 7) {
        fprintf(stderr, "usage: floor SERVICE CONFDIR USER PASSWORD COUNT naive|resident\n");
        return 2;
    }
    conv.appdata_ptr = argv[4];
    count = atol(argv[5]);
    if (strcmp(argv[6], "resident") == 0
        && start(argv[1], argv[2], NULL, &conv, &keep) != PAM_SUCCESS) {
        fprintf(stderr, "floor: cannot start %s\n", argv[1]);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < count; i++) {
        rc = start(argv[1], argv[2], argv[3], &conv, &pamh);
        if (rc == PAM_SUCCESS)
            rc = pam_authenticate(pamh, 0);
        if (rc == PAM_SUCCESS)
            rc = pam_acct_mgmt(pamh, 0);
        pam_end(pamh, rc);
        if (rc != PAM_SUCCESS) {
            fprintf(stderr, "floor: transaction %ld failed: %d\n", i, rc);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (keep != NULL)
        pam_end(keep, PAM_SUCCESS);
    printf("%.3f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / count);
    return 0;
}
