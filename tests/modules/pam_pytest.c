/*
 * pam_pytest.so -- a configurable PAM service module for the test suite of
 * draxoft.auth.pam.  It does nothing useful; it lets a test decide, from the
 * arguments of one stack line, what the module asks the application and what
 * it returns, and it reports what it saw back through the PAM environment
 * (which the application reads with pam_getenv / pam_getenvlist).
 *
 * All six service functions share the same options.  Within one call the
 * options act from left to right; a failing action returns at once.
 *
 *   ret=CODE          Code returned when every action succeeded.  CODE is a
 *                     name (PAM_AUTH_ERR, PAM_USER_UNKNOWN, ...) or a decimal
 *                     number.  Default PAM_SUCCESS.
 *   msg=STYLE:TEXT    Queue one conversation message.  STYLE is one of
 *                     echo_off, echo_on, error, info, radio, binary, or a
 *                     decimal style number (sent as is).  For binary, TEXT
 *                     is the payload in hex; the module sends a Linux-PAM
 *                     binary packet: 4-byte big-endian total length (header
 *                     included), control byte 0x01 (PAM_BPC_OK), payload.
 *                     Every msg= of one call goes out in ONE conversation
 *                     call, in order, when the first msg= is reached.  A
 *                     TEXT with spaces needs PAM's [ ] argument quoting.
 *   repeat=N          Send the msg= list N times in that one call (N >= 1).
 *   Results of the msg= conversation:
 *     PYTEST_CONV_RC=<rc>        the conversation's return code, always;
 *                                the module returns rc when it is not
 *                                PAM_SUCCESS.
 *     PYTEST_RESP_<i>=<text>     response i (0-based over all messages);
 *                                "<null>" when the response array or its
 *                                resp is NULL.  For binary messages, hex:
 *                                of the whole packet when the response
 *                                starts with a NUL (a packet's length
 *                                header: it must then be a whole packet of
 *                                at least 4 bytes), else of the bytes up
 *                                to the first NUL.
 *     PYTEST_CONV_RESP_ON_ERROR=1  the conversation failed but still handed
 *                                back a response array (not freed then,
 *                                since its owner is unclear).
 *   expect=I:VALUE    Return PAM_AUTH_ERR (recording PYTEST_EXPECT_FAILED=I)
 *                     unless response I equals VALUE ("<null>" for none, hex
 *                     for binary).  Needs an earlier msg= conversation.
 *   zero              Call the conversation with num_msg 0.
 *   nullmsg           Call the conversation with num_msg 1 and msg == NULL.
 *                     Both record PYTEST_CONV_RC and do not fail on it.
 *   setenv=NAME=VALUE pam_putenv("NAME=VALUE").
 *   unsetenv=NAME     pam_putenv("NAME").
 *   delay=USEC        pam_fail_delay(pamh, USEC).
 *   sleep=MS          Block in nanosleep for MS milliseconds.
 *   endsleep=MS       Block MS milliseconds later, inside pam_end (through
 *                     the cleanup of a pam_set_data item).
 *   items             Record each readable string item as PYTEST_ITEM_<NAME>
 *                     (SERVICE, USER, TTY, RHOST, RUSER, USER_PROMPT,
 *                     XDISPLAY, AUTHTOK_TYPE, AUTHTOK, OLDAUTHTOK; unset ones
 *                     are skipped) and PAM_XAUTHDATA, when it has a name, as
 *                     PYTEST_ITEM_XAUTHNAME, PYTEST_ITEM_XAUTHNAMELEN,
 *                     PYTEST_ITEM_XAUTHDATA (hex), PYTEST_ITEM_XAUTHDATALEN.
 *   getuser           pam_get_user(); records PYTEST_USER.
 *   authtok           pam_get_authtok(PAM_AUTHTOK); records PYTEST_AUTHTOK.
 *   stage             Records PYTEST_STAGE_<stage>=1 and
 *                     PYTEST_FLAGS_<stage>=<flags>; setcred also records
 *                     PYTEST_SETCRED_FLAGS=<flags>.  <stage> is auth,
 *                     setcred, acct, open, close, prechauthtok (the
 *                     PAM_PRELIM_CHECK pass of pam_chauthtok) or chauthtok
 *                     (its PAM_UPDATE_AUTHTOK pass).
 *   phase=prelim|update
 *                     In pam_chauthtok, act only in that pass and return
 *                     PAM_SUCCESS in the other.  Other stages ignore it.
 *   only=STAGE        Act only in STAGE (a <stage> name as for "stage":
 *                     auth, setcred, acct, open, close, prechauthtok,
 *                     chauthtok); return PAM_SUCCESS at once in the others.
 *                     Lets one line per stage stand in for pam_debug's
 *                     per-stage codes where pam_debug cannot be loaded.
 *
 * A malformed option makes the call record PYTEST_ERROR=<reason> and return
 * PAM_SERVICE_ERR, so a typo in a test cannot pass unnoticed.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <security/pam_appl.h>
#include <security/pam_modules.h>

#include "module_util.h"
#ifdef __LINUX_PAM__
#include <security/pam_ext.h>
#endif

/* Control byte put in binary packets: "continuation", the most neutral. */
#define PYTEST_BINARY_CONTROL 0x01
/* Upper bound for repeat= so a typo cannot exhaust memory. */
#define PYTEST_MAX_REPEAT 100000
#define PYTEST_NULL_TEXT "<null>"

struct named_code {
    const char *name;
    int value;
};

/* Every return code the headers define, so ret= can name them. */
static const struct named_code return_codes[] = {
    {"PAM_SUCCESS", PAM_SUCCESS},
    {"PAM_OPEN_ERR", PAM_OPEN_ERR},
    {"PAM_SYMBOL_ERR", PAM_SYMBOL_ERR},
    {"PAM_SERVICE_ERR", PAM_SERVICE_ERR},
    {"PAM_SYSTEM_ERR", PAM_SYSTEM_ERR},
    {"PAM_BUF_ERR", PAM_BUF_ERR},
    {"PAM_PERM_DENIED", PAM_PERM_DENIED},
    {"PAM_AUTH_ERR", PAM_AUTH_ERR},
    {"PAM_CRED_INSUFFICIENT", PAM_CRED_INSUFFICIENT},
    {"PAM_AUTHINFO_UNAVAIL", PAM_AUTHINFO_UNAVAIL},
    {"PAM_USER_UNKNOWN", PAM_USER_UNKNOWN},
    {"PAM_MAXTRIES", PAM_MAXTRIES},
    {"PAM_NEW_AUTHTOK_REQD", PAM_NEW_AUTHTOK_REQD},
    {"PAM_ACCT_EXPIRED", PAM_ACCT_EXPIRED},
    {"PAM_SESSION_ERR", PAM_SESSION_ERR},
    {"PAM_CRED_UNAVAIL", PAM_CRED_UNAVAIL},
    {"PAM_CRED_EXPIRED", PAM_CRED_EXPIRED},
    {"PAM_CRED_ERR", PAM_CRED_ERR},
    {"PAM_NO_MODULE_DATA", PAM_NO_MODULE_DATA},
    {"PAM_CONV_ERR", PAM_CONV_ERR},
    {"PAM_AUTHTOK_ERR", PAM_AUTHTOK_ERR},
    {"PAM_AUTHTOK_RECOVERY_ERR", PAM_AUTHTOK_RECOVERY_ERR},
    {"PAM_AUTHTOK_LOCK_BUSY", PAM_AUTHTOK_LOCK_BUSY},
    {"PAM_AUTHTOK_DISABLE_AGING", PAM_AUTHTOK_DISABLE_AGING},
    {"PAM_TRY_AGAIN", PAM_TRY_AGAIN},
    {"PAM_IGNORE", PAM_IGNORE},
    {"PAM_ABORT", PAM_ABORT},
    {"PAM_AUTHTOK_EXPIRED", PAM_AUTHTOK_EXPIRED},
    {"PAM_MODULE_UNKNOWN", PAM_MODULE_UNKNOWN},
    /* XSSO's; OpenPAM has it as an enum member, not a macro. */
    {"PAM_BAD_ITEM", PAM_BAD_ITEM},
#ifdef PAM_CONV_AGAIN
    {"PAM_CONV_AGAIN", PAM_CONV_AGAIN},
#endif
#ifdef PAM_INCOMPLETE
    {"PAM_INCOMPLETE", PAM_INCOMPLETE},
#endif
    {NULL, 0}
};

static const struct named_code message_styles[] = {
    {"echo_off", PAM_PROMPT_ECHO_OFF},
    {"echo_on", PAM_PROMPT_ECHO_ON},
    {"error", PAM_ERROR_MSG},
    {"info", PAM_TEXT_INFO},
#ifdef PAM_RADIO_TYPE
    {"radio", PAM_RADIO_TYPE},
#endif
#ifdef PAM_BINARY_PROMPT
    {"binary", PAM_BINARY_PROMPT},
#endif
    {NULL, 0}
};

/* String items recorded by `items`, by the suffix of their variable name. */
static const struct named_code string_items[] = {
    {"SERVICE", PAM_SERVICE},
    {"USER", PAM_USER},
    {"TTY", PAM_TTY},
    {"RHOST", PAM_RHOST},
    {"RUSER", PAM_RUSER},
    {"USER_PROMPT", PAM_USER_PROMPT},
#ifdef PAM_XDISPLAY
    {"XDISPLAY", PAM_XDISPLAY},
#endif
#ifdef PAM_AUTHTOK_TYPE
    {"AUTHTOK_TYPE", PAM_AUTHTOK_TYPE},
#endif
    {"AUTHTOK", PAM_AUTHTOK},
    {"OLDAUTHTOK", PAM_OLDAUTHTOK},
    {NULL, 0}
};

/* The messages of one conversation call and what they own. */
struct conversation {
    size_t count;
    struct pam_message *messages;        /* contiguous array ... */
    const struct pam_message **pointers; /* ... and pointers to each one */
    unsigned char **packets;             /* binary packets, one per spec */
    size_t packet_count;
    struct pam_response *responses;      /* what the application returned */
};

static int lookup(const struct named_code *table, const char *name, int *value)
{
    for (; table->name != NULL; ++table) {
        if (strcmp(table->name, name) == 0) {
            *value = table->value;
            return 1;
        }
    }
    return 0;
}

static int parse_code(const char *text, int *value)
{
    long number;

    if (lookup(return_codes, text, value)) {
        return 1;
    }
    if (parse_long(text, INT_MIN, INT_MAX, &number)) {
        *value = (int)number;
        return 1;
    }
    return 0;
}

/* Splits "STYLE:TEXT" of a msg= option. */
static int parse_style(const char *spec, int *style, const char **text)
{
    const char *colon = strchr(spec, ':');
    char name[32];
    size_t length;
    long number;

    if (colon == NULL) {
        return 0;
    }
    length = (size_t)(colon - spec);
    if (length == 0 || length >= sizeof(name)) {
        return 0;
    }
    memcpy(name, spec, length);
    name[length] = '\0';
    *text = colon + 1;
    if (lookup(message_styles, name, style)) {
        return 1;
    }
    if (parse_long(name, INT_MIN, INT_MAX, &number)) {
        *style = (int)number;
        return 1;
    }
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Returns a malloc'd lowercase hex rendering of length bytes, or NULL. */
static char *to_hex(const unsigned char *bytes, size_t length)
{
    static const char digits[] = "0123456789abcdef";
    char *out = malloc(2 * length + 1);
    size_t i;

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < length; ++i) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * length] = '\0';
    return out;
}

/* Builds a binary packet from the hex payload; NULL on bad hex or memory. */
static unsigned char *make_packet(const char *hex, int *bad_hex)
{
    size_t digits = strlen(hex);
    size_t payload = digits / 2;
    size_t total = payload + 5;
    unsigned char *packet;
    size_t i;

    *bad_hex = 0;
    if (digits % 2 != 0 || total > 0xffffffffUL) {
        *bad_hex = 1;
        return NULL;
    }
    packet = malloc(total);
    if (packet == NULL) {
        return NULL;
    }
    packet[0] = (unsigned char)((total >> 24) & 0xff);
    packet[1] = (unsigned char)((total >> 16) & 0xff);
    packet[2] = (unsigned char)((total >> 8) & 0xff);
    packet[3] = (unsigned char)(total & 0xff);
    packet[4] = PYTEST_BINARY_CONTROL;
    for (i = 0; i < payload; ++i) {
        int high = hex_digit(hex[2 * i]);
        int low = hex_digit(hex[2 * i + 1]);

        if (high < 0 || low < 0) {
            free(packet);
            *bad_hex = 1;
            return NULL;
        }
        packet[5 + i] = (unsigned char)((high << 4) | low);
    }
    return packet;
}

/* Records why the module refused its arguments; the caller returns the
 * service error whatever the recording does. */
static int config_error(pam_handle_t *pamh, const char *what, const char *arg)
{
    size_t size = strlen(what) + strlen(arg) + 3;
    char *text = malloc(size);

    if (text != NULL) {
        snprintf(text, size, "%s: %s", what, arg);
        (void)record(pamh, "PYTEST_ERROR", text);
        free(text);
    }
#ifdef __LINUX_PAM__
    pam_syslog(pamh, LOG_ERR, "pam_pytest: %s: %s", what, arg);
#endif
    return PAM_SERVICE_ERR;
}

static int get_conv(pam_handle_t *pamh, const struct pam_conv **conv)
{
    const void *item = NULL;
    int rc = pam_get_item(pamh, PAM_CONV, &item);

    if (rc != PAM_SUCCESS) {
        return rc;
    }
    *conv = item;
    if (*conv == NULL || (*conv)->conv == NULL) {
        (void)record(pamh, "PYTEST_ERROR", "no conversation function");
        return PAM_SYSTEM_ERR;
    }
    return PAM_SUCCESS;
}

static void free_conversation(struct conversation *c)
{
    size_t i;

    free_responses(c->responses, c->count);
    for (i = 0; i < c->packet_count; ++i) {
        free(c->packets[i]);
    }
    free(c->packets);
    free(c->pointers);
    free(c->messages);
    memset(c, 0, sizeof(*c));
}

/* Lays out the msg= specs, repeated, as one message list. */
static int build_conversation(pam_handle_t *pamh, int argc, const char **argv,
                              size_t spec_count, size_t repeat,
                              struct conversation *c)
{
    size_t spec = 0;
    size_t i;
    int a;

    memset(c, 0, sizeof(*c));
    c->count = spec_count * repeat;
    c->messages = calloc(c->count, sizeof(*c->messages));
    c->pointers = calloc(c->count, sizeof(*c->pointers));
    c->packets = calloc(spec_count, sizeof(*c->packets));
    if (c->messages == NULL || c->pointers == NULL || c->packets == NULL) {
        free_conversation(c);
        return PAM_BUF_ERR;
    }
    c->packet_count = spec_count; /* unused slots stay NULL */
    for (a = 0; a < argc; ++a) {
        const char *text = NULL;
        int style = 0;

        if (!starts_with(argv[a], "msg=")) {
            continue;
        }
        (void)parse_style(argv[a] + 4, &style, &text); /* checked earlier */
        c->messages[spec].msg_style = style;
#ifdef PAM_BINARY_PROMPT
        if (style == PAM_BINARY_PROMPT) {
            int bad_hex = 0;

            c->packets[spec] = make_packet(text, &bad_hex);
            if (c->packets[spec] == NULL) {
                free_conversation(c);
                if (bad_hex) {
                    return config_error(pamh, "bad hex payload", argv[a]);
                }
                return PAM_BUF_ERR;
            }
            text = (const char *)c->packets[spec];
        }
#endif
        c->messages[spec].msg = text;
        ++spec;
    }
    for (i = spec_count; i < c->count; ++i) {
        c->messages[i] = c->messages[i % spec_count];
    }
    /* Both layouts at once: Linux-PAM reads msg[i], Solaris/OpenPAM read
     * (*msg)[i]; an array of pointers into a contiguous array suits both. */
    for (i = 0; i < c->count; ++i) {
        c->pointers[i] = &c->messages[i];
    }
    return PAM_SUCCESS;
}

/* Renders response i the way PYTEST_RESP_<i> and expect= show it. */
static char *response_text(const struct conversation *c, size_t i)
{
    const char *resp;

    if (c->responses == NULL || c->responses[i].resp == NULL) {
        return strdup(PYTEST_NULL_TEXT);
    }
    resp = c->responses[i].resp;
#ifdef PAM_BINARY_PROMPT
    if (c->messages[i].msg_style == PAM_BINARY_PROMPT) {
        const unsigned char *bytes = (const unsigned char *)resp;
        size_t size;

        /* Text (first byte not NUL) cannot be a packet below 16 MiB. */
        if (bytes[0] != 0) {
            return to_hex(bytes, strlen(resp));
        }
        size = ((size_t)bytes[0] << 24) | ((size_t)bytes[1] << 16) |
               ((size_t)bytes[2] << 8) | (size_t)bytes[3];
        return to_hex(bytes, size < 5 ? 4 : size);
    }
#endif
    return strdup(resp);
}

/* Notes a response array handed back by a failed conversation.  It is left
 * alone: freeing memory the application may have freed would be worse. */
static int check_failed_conversation(pam_handle_t *pamh,
                                     struct pam_response *responses)
{
    if (responses != NULL) {
        return record(pamh, "PYTEST_CONV_RESP_ON_ERROR", "1");
    }
    return PAM_SUCCESS;
}

static int converse(pam_handle_t *pamh, struct conversation *c)
{
    const struct pam_conv *conv = NULL;
    struct pam_response *responses = NULL;
    char name[48];
    size_t i;
    int rc;

    rc = get_conv(pamh, &conv);
    if (rc != PAM_SUCCESS) {
        return rc;
    }
    if (c->count > INT_MAX) {
        return PAM_BUF_ERR;
    }
    rc = conv->conv((int)c->count, c->pointers, &responses,
                    conv->appdata_ptr);
    if (record_long(pamh, "PYTEST_CONV_RC", rc) != PAM_SUCCESS) {
        if (rc == PAM_SUCCESS) {
            free_responses(responses, c->count);
        }
        return PAM_BUF_ERR;
    }
    if (rc != PAM_SUCCESS) {
        (void)check_failed_conversation(pamh, responses);
        return rc;
    }
    c->responses = responses;
    for (i = 0; i < c->count; ++i) {
        char *text = response_text(c, i);
        int put;

        if (text == NULL) {
            return PAM_BUF_ERR;
        }
        snprintf(name, sizeof(name), "PYTEST_RESP_%zu", i);
        put = record(pamh, name, text);
        free(text);
        if (put != PAM_SUCCESS) {
            return put;
        }
    }
    return PAM_SUCCESS;
}

/* zero / nullmsg: a degenerate conversation call whose outcome is only
 * recorded, since the point is that the application survives it. */
static int degenerate_conversation(pam_handle_t *pamh, int nullmsg)
{
    const struct pam_conv *conv = NULL;
    struct pam_response *responses = NULL;
    struct pam_message message = {PAM_TEXT_INFO, "unused"};
    const struct pam_message *pointers[1] = {&message};
    int rc;
    int put;

    rc = get_conv(pamh, &conv);
    if (rc != PAM_SUCCESS) {
        return rc;
    }
    if (nullmsg) {
        rc = conv->conv(1, NULL, &responses, conv->appdata_ptr);
    } else {
        rc = conv->conv(0, pointers, &responses, conv->appdata_ptr);
    }
    put = record_long(pamh, "PYTEST_CONV_RC", rc);
    if (rc == PAM_SUCCESS) {
        free_responses(responses, nullmsg ? 1 : 0);
    } else if (put == PAM_SUCCESS) {
        put = check_failed_conversation(pamh, responses);
    }
    return put;
}

static int expect_response(pam_handle_t *pamh, const struct conversation *c,
                           const char *arg)
{
    const char *spec = arg + strlen("expect=");
    const char *colon = strchr(spec, ':');
    char index_text[24];
    size_t length;
    long index;
    char *text;
    int same;

    if (colon == NULL || (length = (size_t)(colon - spec)) == 0 ||
        length >= sizeof(index_text)) {
        return config_error(pamh, "bad expect= option", arg);
    }
    memcpy(index_text, spec, length);
    index_text[length] = '\0';
    if (!parse_long(index_text, 0, LONG_MAX, &index)) {
        return config_error(pamh, "bad expect= index", arg);
    }
    if (c->messages == NULL || (size_t)index >= c->count) {
        return config_error(pamh, "expect= has no such response", arg);
    }
    text = response_text(c, (size_t)index);
    if (text == NULL) {
        return PAM_BUF_ERR;
    }
    same = strcmp(text, colon + 1) == 0;
    free(text);
    if (!same) {
        int rc = record_long(pamh, "PYTEST_EXPECT_FAILED", index);

        return rc != PAM_SUCCESS ? rc : PAM_AUTH_ERR;
    }
    return PAM_SUCCESS;
}

static int record_items(pam_handle_t *pamh)
{
    const struct named_code *item;
    char name[64];
    int rc;

    for (item = string_items; item->name != NULL; ++item) {
        const void *value = NULL;

        rc = pam_get_item(pamh, item->value, &value);
        if (rc == PAM_BAD_ITEM) {
            continue; /* not readable here: nothing to report */
        }
        if (rc != PAM_SUCCESS) {
            return rc;
        }
        if (value == NULL) {
            continue;
        }
        snprintf(name, sizeof(name), "PYTEST_ITEM_%s", item->name);
        rc = record(pamh, name, value);
        if (rc != PAM_SUCCESS) {
            return rc;
        }
    }
#ifdef PAM_XAUTHDATA
    {
        const void *value = NULL;
        const struct pam_xauth_data *xauth;
        char *hex;

        rc = pam_get_item(pamh, PAM_XAUTHDATA, &value);
        if (rc != PAM_SUCCESS) {
            return rc;
        }
        xauth = value;
        if (xauth == NULL || xauth->name == NULL) {
            return PAM_SUCCESS;
        }
        if ((rc = record(pamh, "PYTEST_ITEM_XAUTHNAME", xauth->name)) ||
            (rc = record_long(pamh, "PYTEST_ITEM_XAUTHNAMELEN",
                              xauth->namelen)) ||
            (rc = record_long(pamh, "PYTEST_ITEM_XAUTHDATALEN",
                              xauth->datalen))) {
            return rc;
        }
        if (xauth->datalen < 0 ||
            (xauth->data == NULL && xauth->datalen != 0)) {
            return record(pamh, "PYTEST_ITEM_XAUTHDATA", PYTEST_NULL_TEXT);
        }
        hex = to_hex((const unsigned char *)xauth->data,
                     (size_t)xauth->datalen);
        if (hex == NULL) {
            return PAM_BUF_ERR;
        }
        rc = record(pamh, "PYTEST_ITEM_XAUTHDATA", hex);
        free(hex);
        if (rc != PAM_SUCCESS) {
            return rc;
        }
    }
#endif
    return PAM_SUCCESS;
}

static int record_stage(pam_handle_t *pamh, const char *stage, int flags)
{
    char name[64];
    int rc;

    snprintf(name, sizeof(name), "PYTEST_STAGE_%s", stage);
    rc = record(pamh, name, "1");
    if (rc != PAM_SUCCESS) {
        return rc;
    }
    snprintf(name, sizeof(name), "PYTEST_FLAGS_%s", stage);
    rc = record_long(pamh, name, flags);
    if (rc == PAM_SUCCESS && strcmp(stage, "setcred") == 0) {
        rc = record_long(pamh, "PYTEST_SETCRED_FLAGS", flags);
    }
    return rc;
}

static int sleep_ms(long ms)
{
    struct timespec left;

    left.tv_sec = ms / 1000;
    left.tv_nsec = (ms % 1000) * 1000000L;
    /* Resume after signals so the blocking time is what the test asked. */
    while (nanosleep(&left, &left) != 0) {
        if (errno != EINTR) {
            return PAM_SYSTEM_ERR;
        }
    }
    return PAM_SUCCESS;
}

#define PYTEST_ENDSLEEP_DATA "pam_pytest_endsleep"

/* pam_set_data cleanup: sleeps when pam_end drops the data, not when a
 * later endsleep= merely replaces it. */
static void endsleep_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
    (void)pamh;
#ifdef PAM_DATA_REPLACE
    if (!(error_status & PAM_DATA_REPLACE)) {
        (void)sleep_ms(*(long *)data);
    }
#else
    (void)error_status;
    (void)sleep_ms(*(long *)data);
#endif
    free(data);
}

static int arm_endsleep(pam_handle_t *pamh, long ms)
{
    long *data = malloc(sizeof(*data));
    int rc;

    if (data == NULL) {
        return PAM_BUF_ERR;
    }
    *data = ms;
    rc = pam_set_data(pamh, PYTEST_ENDSLEEP_DATA, data, endsleep_cleanup);
    if (rc != PAM_SUCCESS) {
        free(data);
    }
    return rc;
}

/* First pass: validates every option before anything happens, and
 * collects what the second pass needs to know up front. */
static int check_options(pam_handle_t *pamh, int argc, const char **argv,
                         int *result, size_t *spec_count, size_t *repeat,
                         const char **phase, const char **only)
{
    int a;

    *result = PAM_SUCCESS;
    *spec_count = 0;
    *repeat = 1;
    *phase = NULL;
    *only = NULL;
    for (a = 0; a < argc; ++a) {
        const char *arg = argv[a];
        const char *text = NULL;
        long number;
        int style;

        if (starts_with(arg, "ret=")) {
            if (!parse_code(arg + 4, result)) {
                return config_error(pamh, "unknown return code", arg);
            }
        } else if (starts_with(arg, "msg=")) {
            if (!parse_style(arg + 4, &style, &text)) {
                return config_error(pamh, "bad msg= option", arg);
            }
            ++*spec_count;
        } else if (starts_with(arg, "repeat=")) {
            if (!parse_long(arg + 7, 1, PYTEST_MAX_REPEAT, &number)) {
                return config_error(pamh, "bad repeat= count", arg);
            }
            *repeat = (size_t)number;
        } else if (starts_with(arg, "delay=")) {
            if (!parse_long(arg + 6, 0, (long)UINT_MAX, &number)) {
                return config_error(pamh, "bad delay= value", arg);
            }
        } else if (starts_with(arg, "sleep=")) {
            if (!parse_long(arg + 6, 0, 3600000L, &number)) {
                return config_error(pamh, "bad sleep= value", arg);
            }
        } else if (starts_with(arg, "endsleep=")) {
            if (!parse_long(arg + 9, 0, 3600000L, &number)) {
                return config_error(pamh, "bad endsleep= value", arg);
            }
        } else if (starts_with(arg, "setenv=")) {
            if (strchr(arg + 7, '=') == NULL || arg[7] == '=') {
                return config_error(pamh, "bad setenv= option", arg);
            }
        } else if (starts_with(arg, "unsetenv=")) {
            if (arg[9] == '\0' || strchr(arg + 9, '=') != NULL) {
                return config_error(pamh, "bad unsetenv= option", arg);
            }
        } else if (starts_with(arg, "phase=")) {
            if (strcmp(arg + 6, "prelim") != 0 &&
                strcmp(arg + 6, "update") != 0) {
                return config_error(pamh, "bad phase= option", arg);
            }
            *phase = arg + 6;
        } else if (starts_with(arg, "only=")) {
            static const char *const stages[] = {
                "auth", "setcred", "acct", "open", "close", "prechauthtok", "chauthtok", NULL
            };
            size_t i;

            for (i = 0; stages[i] != NULL && strcmp(arg + 5, stages[i]) != 0; ++i) {
            }
            if (stages[i] == NULL) {
                return config_error(pamh, "bad only= stage", arg);
            }
            *only = arg + 5;
        } else if (starts_with(arg, "expect=")) {
            /* checked when it runs: it needs the responses */
        } else if (strcmp(arg, "zero") != 0 && strcmp(arg, "nullmsg") != 0 &&
                   strcmp(arg, "items") != 0 && strcmp(arg, "getuser") != 0 &&
                   strcmp(arg, "authtok") != 0 && strcmp(arg, "stage") != 0) {
            return config_error(pamh, "unknown option", arg);
        }
    }
    return PAM_SUCCESS;
}

static int run_action(pam_handle_t *pamh, const char *arg, const char *stage,
                      int flags, struct conversation *c)
{
    long number = 0;
    int rc;

    if (starts_with(arg, "setenv=")) {
        return pam_putenv(pamh, arg + 7);
    }
    if (starts_with(arg, "unsetenv=")) {
        return pam_putenv(pamh, arg + 9);
    }
    if (starts_with(arg, "delay=")) {
        (void)parse_long(arg + 6, 0, (long)UINT_MAX, &number);
#ifdef __LINUX_PAM__
        return pam_fail_delay(pamh, (unsigned int)number);
#else
        return config_error(pamh, "pam_fail_delay is missing", arg);
#endif
    }
    if (starts_with(arg, "sleep=")) {
        (void)parse_long(arg + 6, 0, 3600000L, &number);
        return sleep_ms(number);
    }
    if (starts_with(arg, "endsleep=")) {
        (void)parse_long(arg + 9, 0, 3600000L, &number);
        return arm_endsleep(pamh, number);
    }
    if (starts_with(arg, "expect=")) {
        return expect_response(pamh, c, arg);
    }
    if (strcmp(arg, "zero") == 0 || strcmp(arg, "nullmsg") == 0) {
        return degenerate_conversation(pamh, strcmp(arg, "nullmsg") == 0);
    }
    if (strcmp(arg, "items") == 0) {
        return record_items(pamh);
    }
    if (strcmp(arg, "stage") == 0) {
        return record_stage(pamh, stage, flags);
    }
    if (strcmp(arg, "getuser") == 0) {
        const char *user = NULL;

        rc = pam_get_user(pamh, &user, NULL);
        if (rc != PAM_SUCCESS) {
            return rc;
        }
        return record(pamh, "PYTEST_USER",
                      user != NULL ? user : PYTEST_NULL_TEXT);
    }
    if (strcmp(arg, "authtok") == 0) {
        const char *token = NULL;

        rc = pam_get_authtok(pamh, PAM_AUTHTOK, &token, NULL);
        if (rc != PAM_SUCCESS) {
            return rc;
        }
        return record(pamh, "PYTEST_AUTHTOK",
                      token != NULL ? token : PYTEST_NULL_TEXT);
    }
    return PAM_SUCCESS; /* ret=, msg= after the first, repeat=, phase= */
}

static int run(pam_handle_t *pamh, const char *stage, int flags, int argc,
               const char **argv)
{
    struct conversation c;
    size_t spec_count;
    size_t repeat;
    const char *phase;
    const char *only;
    int conversed = 0;
    int result;
    int rc;
    int a;

    memset(&c, 0, sizeof(c));
    rc = check_options(pamh, argc, argv, &result, &spec_count, &repeat,
                       &phase, &only);
    if (rc != PAM_SUCCESS) {
        return rc;
    }
    if (only != NULL && strcmp(stage, only) != 0) {
        return PAM_SUCCESS;
    }
    if (phase != NULL &&
        ((strcmp(stage, "prechauthtok") == 0 && strcmp(phase, "prelim")) ||
         (strcmp(stage, "chauthtok") == 0 && strcmp(phase, "update")))) {
        return PAM_SUCCESS;
    }
    for (a = 0; a < argc; ++a) {
        if (starts_with(argv[a], "msg=")) {
            if (conversed) {
                continue;
            }
            conversed = 1;
            rc = build_conversation(pamh, argc, argv, spec_count, repeat, &c);
            if (rc == PAM_SUCCESS) {
                rc = converse(pamh, &c);
            }
        } else {
            rc = run_action(pamh, argv[a], stage, flags, &c);
        }
        if (rc != PAM_SUCCESS) {
            break;
        }
    }
    free_conversation(&c);
    return rc != PAM_SUCCESS ? rc : result;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
                                   const char **argv)
{
    return run(pamh, "auth", flags, argc, argv);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
                              const char **argv)
{
    return run(pamh, "setcred", flags, argc, argv);
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
                                const char **argv)
{
    return run(pamh, "acct", flags, argc, argv);
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
                                   const char **argv)
{
    return run(pamh, "open", flags, argc, argv);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
                                    const char **argv)
{
    return run(pamh, "close", flags, argc, argv);
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc,
                                const char **argv)
{
    const char *stage =
        (flags & PAM_PRELIM_CHECK) ? "prechauthtok" : "chauthtok";

    return run(pamh, stage, flags, argc, argv);
}
