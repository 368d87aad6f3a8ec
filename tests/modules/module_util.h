/*
 * Helpers shared by the test modules in this directory: option parsing and
 * recording results in the PAM environment, where the tests read them back.
 * Included by each module's source; everything is static.
 */
#ifndef DRAXOFT_TEST_MODULE_UTIL_H
#define DRAXOFT_TEST_MODULE_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

static int starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Parses a whole decimal number (no trailing junk) into a long. */
static int parse_long(const char *text, long min, long max, long *value)
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
static int record(pam_handle_t *pamh, const char *name, const char *value)
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

static int record_long(pam_handle_t *pamh, const char *name, long value)
{
    char text[32];

    snprintf(text, sizeof(text), "%ld", value);
    return record(pamh, name, text);
}

#endif
