/*
 * Helpers shared by the test modules in this directory: option parsing and
 * recording results in the PAM environment, where the tests read them back,
 * and freeing what the conversation returned.
 * Included by each module's source; all static inline, so that a module
 * need not use every one.
 */
#ifndef DRAXOFT_TEST_MODULE_UTIL_H
#define DRAXOFT_TEST_MODULE_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

static inline int starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Parses a whole decimal number (no trailing junk) into a long. */
static inline int parse_long(const char *text, long min, long max, long *value)
{
    char *end = NULL;
    long parsed;

    if (*text == '\0') {
        return 0;
    }
    errno = 0;
    parsed = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || parsed < min || parsed > max) {
        return 0;
    }
    *value = parsed;
    return 1;
}

/* pam_putenv("NAME=VALUE") through a temporary buffer (PAM copies it). */
static inline int record(pam_handle_t *pamh, const char *name, const char *value)
{
    size_t size = strlen(name) + strlen(value) + 2;
    char *entry = malloc(size);
    int rc;

    if (entry == NULL) {
        return PAM_BUF_ERR;
    }
    snprintf(entry, size, "%s=%s", name, value);
    rc = pam_putenv(pamh, entry);
    free(entry);
    return rc;
}

static inline int record_long(pam_handle_t *pamh, const char *name, long value)
{
    char text[32];

    snprintf(text, sizeof(text), "%ld", value);
    return record(pamh, name, text);
}

/* Frees a response array handed back by the conversation, wiping every
 * answer first: answers can be passwords. */
static inline void free_responses(struct pam_response *responses, size_t count)
{
    size_t i;

    if (responses == NULL) {
        return;
    }
    for (i = 0; i < count; ++i) {
        if (responses[i].resp != NULL) {
            memset(responses[i].resp, 0, strlen(responses[i].resp));
            free(responses[i].resp);
        }
    }
    free(responses);
}

#endif
