/*
 * pam_sandbox.so -- the PAM service module of draxoft.auth.pam.testing.
 *
 * A module for tests, never for a real system: it keeps passwords in a
 * plain file and does what its options tell it to. It is built with the
 * extension and installed next to draxoft/auth/pam/testing/__init__.py,
 * whose Sandbox writes the stack lines that use it; it needs nothing but
 * the PAM library (no pam_wrapper), on Linux-PAM and on OpenPAM.
 *
 * Every option is NAME=VALUE; every VALUE is percent-decoded (%20 is a
 * space), so that stack lines never need a PAM's own quoting, which
 * Linux-PAM and OpenPAM spell differently.
 *
 *   db=PATH        The password database: one "user:password" line per
 *                  user (the password runs to the end of the line). With
 *                  it, the module is a password module:
 *                    auth      pam_get_user, then the password from
 *                              PAM_AUTHTOK or, when that is unset, from a
 *                              "Password: " prompt (kept in PAM_AUTHTOK):
 *                              PAM_SUCCESS, PAM_AUTH_ERR (wrong) or
 *                              PAM_USER_UNKNOWN;
 *                    account   PAM_SUCCESS for a user of the file, else
 *                              PAM_USER_UNKNOWN;
 *                    password  first pass (PAM_PRELIM_CHECK): the old
 *                              password (PAM_OLDAUTHTOK or a prompt) must
 *                              be right, else PAM_AUTH_ERR; second pass
 *                              (PAM_UPDATE_AUTHTOK): the new password
 *                              (PAM_AUTHTOK, or asked twice: a mismatch,
 *                              an empty one or one with a newline is
 *                              PAM_AUTHTOK_ERR), written by replacing the
 *                              file (a new file of mode 0600, renamed);
 *                    setcred, session: PAM_SUCCESS.
 *   only=STEP      Act only in STEP, one of authenticate, setcred,
 *                  acct_mgmt, chauthtok, open_session, close_session;
 *                  in every other step return PAM_IGNORE at once.
 *   user=NAME      Act only when PAM_USER is NAME; for any other user (or
 *                  none yet) return PAM_IGNORE at once.
 *   sleep=MS       Sleep MS milliseconds first (a slow step).
 *   msg=STYLE:TEXT Send TEXT in one conversation call first; STYLE is
 *                  info, error, echo_on, echo_off or a number.
 *   answer=TEXT    With a prompt: the reply must be TEXT, else the module
 *                  returns PAM_AUTH_ERR.
 *   ret=CODE       Return CODE (a PAM_* name or a number) after the
 *                  above, instead of doing the password work. Without
 *                  ret= and db= the module returns PAM_IGNORE.
 *
 * In pam_chauthtok, sleep= and msg= act in the first pass only; ret= is
 * returned in both. OpenPAM goes on down the chain in the first pass of
 * pam_chauthtok after a "sufficient" success: so that a forced
 * PAM_SUCCESS there is final on both PAMs, the line that forces it leaves
 * a mark (pam_set_data) that makes a db= line below it succeed at once. A malformed option makes the module return
 * PAM_SERVICE_ERR and set PAM_SANDBOX_ERROR in the PAM environment, which
 * says what is wrong. Every buffer that held a password is wiped before
 * it is freed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_STRINGS_H
#include <strings.h>
#endif
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>
#include <security/pam_modules.h>

/* Where the file is larger, it is not a test's database. */
#define SANDBOX_MAX_DB (1024 * 1024)
#define SANDBOX_MAX_SLEEP_MS (10 * 60 * 1000)

enum step {
    STEP_AUTHENTICATE,
    STEP_SETCRED,
    STEP_ACCT_MGMT,
    STEP_CHAUTHTOK,
    STEP_OPEN_SESSION,
    STEP_CLOSE_SESSION
};

static const char *const step_names[] = {
    "authenticate", "setcred", "acct_mgmt", "chauthtok", "open_session", "close_session", NULL
};

struct code_name {
    const char *name;
    int value;
};

static const struct code_name codes[] = {
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
#ifdef HAVE_PAM_BAD_ITEM
    {"PAM_BAD_ITEM", PAM_BAD_ITEM},
#endif
#ifdef PAM_CONV_AGAIN
    {"PAM_CONV_AGAIN", PAM_CONV_AGAIN},
#endif
#ifdef PAM_INCOMPLETE
    {"PAM_INCOMPLETE", PAM_INCOMPLETE},
#endif
    {NULL, 0}
};

static const struct code_name styles[] = {
    {"info", PAM_TEXT_INFO},
    {"error", PAM_ERROR_MSG},
    {"echo_on", PAM_PROMPT_ECHO_ON},
    {"echo_off", PAM_PROMPT_ECHO_OFF},
    {NULL, 0}
};

/* What one stack line asks for; the strings are decoded copies. */
struct options {
    char *db;
    char *user;         /* act for this user only, if not NULL */
    int only;           /* an enum step, or -1 for every step */
    long sleep_ms;
    int has_msg;
    int msg_style;
    char *msg_text;
    char *answer;
    int has_ret;
    int ret;
};

#if !defined(HAVE_EXPLICIT_BZERO) && !defined(HAVE_EXPLICIT_MEMSET)
/* Through a volatile pointer, so that the stores cannot be proven dead. */
static void *(*const volatile sandbox_memset)(void *, int, size_t) = memset;
#endif

static void
wipe(void *p, size_t n)
{
    if (p == NULL || n == 0)
        return;
#if defined(HAVE_EXPLICIT_BZERO)
    explicit_bzero(p, n);
#elif defined(HAVE_EXPLICIT_MEMSET)
    explicit_memset(p, 0, n);
#else
    sandbox_memset(p, 0, n);
#endif
}

/* Free a string that may have held a password. */
static void
free_secret(char *s)
{
    if (s != NULL) {
        wipe(s, strlen(s));
        free(s);
    }
}

/* Tell the test what went wrong, where it can read it: the PAM
 * environment (no syslog to search). */
static int
option_error(pam_handle_t *pamh, const char *what, const char *arg)
{
    char line[512];

    snprintf(line, sizeof line, "PAM_SANDBOX_ERROR=%s: %s", what, arg);
#ifdef HAVE_PAM_PUTENV
    pam_putenv(pamh, line);
#else
    (void)pamh;
#endif
    return PAM_SERVICE_ERR;
}

static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A decoded copy of the percent-encoded s; NULL on a bad escape, a NUL
 * or no memory (*bad tells which). */
static char *
decode(const char *s, int *bad)
{
    size_t n = strlen(s), i, j;
    char *out = malloc(n + 1);

    *bad = 0;
    if (out == NULL)
        return NULL;
    for (i = 0, j = 0; i < n; ++i) {
        if (s[i] == '%') {
            /* s ends in a NUL, which is no digit: no read past it. */
            int hi = hex_digit(s[i + 1]);
            int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                /* Not NUL-terminated yet: wipe all of it. */
                wipe(out, n + 1);
                free(out);
                *bad = 1;
                return NULL;
            }
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

static int
lookup(const struct code_name *table, const char *name, int *value)
{
    for (; table->name != NULL; ++table) {
        if (strcmp(table->name, name) == 0) {
            *value = table->value;
            return 1;
        }
    }
    return 0;
}

/* A decimal int, the whole string. */
static int
parse_int(const char *s, long low, long high, long *value)
{
    char *end;
    long v;

    if (*s == '\0')
        return 0;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < low || v > high)
        return 0;
    *value = v;
    return 1;
}

static void
free_options(struct options *o)
{
    free(o->db);
    free(o->user);
    free_secret(o->msg_text);
    free_secret(o->answer);
}

static int
parse_options(pam_handle_t *pamh, int argc, const char **argv, struct options *o)
{
    int i;

    memset(o, 0, sizeof *o);
    o->only = -1;
    for (i = 0; i < argc; ++i) {
        const char *eq = strchr(argv[i], '=');
        size_t name_len;
        char *value;
        int bad;

        if (eq == NULL)
            return option_error(pamh, "not NAME=VALUE", argv[i]);
        name_len = (size_t)(eq - argv[i]);
        value = decode(eq + 1, &bad);
        if (value == NULL)
            return bad ? option_error(pamh, "bad %-escape", argv[i]) : PAM_BUF_ERR;
#define IS(name) (name_len == strlen(name) && strncmp(argv[i], name, name_len) == 0)
        if (IS("db")) {
            free(o->db);
            o->db = value;
            if (value[0] != '/')
                return option_error(pamh, "db= needs an absolute path", argv[i]);
        } else if (IS("user")) {
            free(o->user);
            o->user = value;
        } else if (IS("only")) {
            int k;
            for (k = 0; step_names[k] != NULL && strcmp(step_names[k], value) != 0; ++k)
                ;
            free(value);
            if (step_names[k] == NULL)
                return option_error(pamh, "unknown step", argv[i]);
            o->only = k;
        } else if (IS("sleep")) {
            int ok = parse_int(value, 0, SANDBOX_MAX_SLEEP_MS, &o->sleep_ms);
            free(value);
            if (!ok)
                return option_error(pamh, "sleep= takes milliseconds", argv[i]);
        } else if (IS("ret")) {
            long number;
            int ok = lookup(codes, value, &o->ret);
            if (!ok && parse_int(value, INT_MIN, INT_MAX, &number)) {
                o->ret = (int)number;
                ok = 1;
            }
            free(value);
            if (!ok)
                return option_error(pamh, "unknown return code", argv[i]);
            o->has_ret = 1;
        } else if (IS("msg")) {
            char *colon = strchr(value, ':');
            size_t value_len = strlen(value);  /* before the split below */
            long number;
            if (colon == NULL) {
                free_secret(value);
                return option_error(pamh, "msg= is STYLE:TEXT", argv[i]);
            }
            *colon = '\0';
            if (!lookup(styles, value, &o->msg_style)) {
                if (!parse_int(value, INT_MIN, INT_MAX, &number)) {
                    wipe(value, value_len);
                    free(value);
                    return option_error(pamh, "unknown message style", argv[i]);
                }
                o->msg_style = (int)number;
            }
            free_secret(o->msg_text);
            o->msg_text = strdup(colon + 1);
            wipe(value, value_len);
            free(value);
            if (o->msg_text == NULL)
                return PAM_BUF_ERR;
            o->has_msg = 1;
        } else if (IS("answer")) {
            free_secret(o->answer);
            o->answer = value;
        } else {
            free(value);
            return option_error(pamh, "unknown option", argv[i]);
        }
#undef IS
    }
    if (o->answer != NULL && !o->has_msg)
        return option_error(pamh, "answer= needs a msg=", "answer");
    return PAM_SUCCESS;
}

/* One message through the application's conversation. *reply gets the
 * reply's text (the caller wipes and frees it) when reply is not NULL. */
static int
converse(pam_handle_t *pamh, int style, const char *text, char **reply)
{
    const void *item = NULL;
    const struct pam_conv *conv;
    struct pam_message message;
    const struct pam_message *messages[1];
    struct pam_response *responses = NULL;
    int rc;

    if (reply != NULL)
        *reply = NULL;
    rc = pam_get_item(pamh, PAM_CONV, &item);
    if (rc != PAM_SUCCESS)
        return rc;
    conv = item;
    if (conv == NULL || conv->conv == NULL)
        return PAM_CONV_ERR;
    message.msg_style = style;
    message.msg = (char *)text;  /* OpenPAM: char *; never written */
    messages[0] = &message;
    /* The cast: Linux-PAM and OpenPAM declare the array differently. */
    rc = conv->conv(1, (void *)messages, &responses, conv->appdata_ptr);
    if (rc != PAM_SUCCESS) {
        /* A failed conversation owns nothing it handed back. */
        return rc;
    }
    if (responses != NULL) {
        if (reply != NULL)
            *reply = responses[0].resp;
        else
            free_secret(responses[0].resp);
        free(responses);
    }
    return PAM_SUCCESS;
}

/* A password: the item if a module before set it, else asked for. The
 * copy in *out is the caller's to wipe and free. */
static int
get_secret(pam_handle_t *pamh, int item_type, const char *prompt, char **out)
{
    const void *item = NULL;
    int rc;

    *out = NULL;
    rc = pam_get_item(pamh, item_type, &item);
    if (rc == PAM_SUCCESS && item != NULL) {
        *out = strdup(item);
        return *out == NULL ? PAM_BUF_ERR : PAM_SUCCESS;
    }
    rc = converse(pamh, PAM_PROMPT_ECHO_OFF, prompt, out);
    if (rc != PAM_SUCCESS)
        return rc;
    if (*out == NULL)
        return PAM_CONV_ERR;
    return PAM_SUCCESS;
}

/* Equal strings, in a time that does not depend on where they differ. */
static int
same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i;
    unsigned char diff = (unsigned char)(la != lb);

    for (i = 0; i < la && i < lb; ++i)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* The whole database, NUL-terminated; the caller wipes and frees it. */
static int
read_db(const char *path, char **text, size_t *length)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf;
    size_t got = 0;

    *text = NULL;
    if (fd < 0)
        return PAM_AUTHINFO_UNAVAIL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SANDBOX_MAX_DB) {
        close(fd);
        return PAM_AUTHINFO_UNAVAIL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return PAM_BUF_ERR;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *text = buf;
    *length = got;
    return PAM_SUCCESS;
}

/* The line of user in text: where it starts and how long it is; 0 if
 * there is none. */
static int
find_user(const char *text, const char *user, const char **line, size_t *line_len)
{
    size_t ulen = strlen(user);
    const char *p = text;

    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > ulen && p[ulen] == ':' && strncmp(p, user, ulen) == 0) {
            *line = p;
            *line_len = len;
            return 1;
        }
        p += len + (end != NULL);
    }
    return 0;
}

/* The user's password from the database, in *password (wiped and freed by
 * the caller): PAM_SUCCESS, PAM_USER_UNKNOWN or a read error. */
static int
stored_password(const char *db, const char *user, char **password)
{
    char *text;
    size_t length, line_len, ulen = strlen(user);
    const char *line;
    int rc = read_db(db, &text, &length);

    *password = NULL;
    if (rc != PAM_SUCCESS)
        return rc;
    if (!find_user(text, user, &line, &line_len)) {
        rc = PAM_USER_UNKNOWN;
    } else {
        *password = malloc(line_len - ulen);
        if (*password == NULL) {
            rc = PAM_BUF_ERR;
        } else {
            memcpy(*password, line + ulen + 1, line_len - ulen - 1);
            (*password)[line_len - ulen - 1] = '\0';
        }
    }
    wipe(text, length);
    free(text);
    return rc;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* Replace the user's password: the new database goes to a private
 * temporary file beside the old one, which is then renamed over it, so
 * that a reader sees the old file or the new one, never half of one. */
static int
store_password(const char *db, const char *user, const char *password)
{
    char *text, *tmp;
    size_t length, line_len, ulen = strlen(user), tmp_len = strlen(db) + 8;
    const char *line;
    int fd, ok, rc = read_db(db, &text, &length);

    if (rc != PAM_SUCCESS)
        return rc;
    if (!find_user(text, user, &line, &line_len)) {
        wipe(text, length);
        free(text);
        return PAM_USER_UNKNOWN;
    }
    tmp = malloc(tmp_len);
    if (tmp == NULL) {
        wipe(text, length);
        free(text);
        return PAM_BUF_ERR;
    }
    snprintf(tmp, tmp_len, "%s.XXXXXX", db);
    fd = mkstemp(tmp);  /* mode 0600 */
    if (fd < 0) {
        wipe(text, length);
        free(text);
        free(tmp);
        return PAM_AUTHTOK_ERR;
    }
    ok = fchmod(fd, S_IRUSR | S_IWUSR) == 0
        && write_all(fd, text, (size_t)(line - text) + ulen + 1)
        && write_all(fd, password, strlen(password))
        && write_all(fd, line + line_len, length - (size_t)(line - text) - line_len)
        && (line + line_len < text + length || write_all(fd, "\n", 1))
        && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, db) == 0;
    if (!ok)
        unlink(tmp);
    wipe(text, length);
    free(text);
    free(tmp);
    return ok ? PAM_SUCCESS : PAM_AUTHTOK_ERR;
}

static int
get_user(pam_handle_t *pamh, const char **user)
{
    int rc = pam_get_user(pamh, user, NULL);

    if (rc != PAM_SUCCESS)
        return rc;
    if (*user == NULL || **user == '\0' || strchr(*user, ':') != NULL || strchr(*user, '\n') != NULL)
        return PAM_USER_UNKNOWN;
    return PAM_SUCCESS;
}

static int
do_authenticate(pam_handle_t *pamh, const char *db, int flags)
{
    const char *user;
    char *given = NULL, *stored = NULL;
    int rc = get_user(pamh, &user);

    if (rc != PAM_SUCCESS)
        return rc;
    rc = get_secret(pamh, PAM_AUTHTOK, "Password: ", &given);
    if (rc != PAM_SUCCESS)
        return rc;
    rc = pam_set_item(pamh, PAM_AUTHTOK, given);
    if (rc == PAM_SUCCESS)
        rc = stored_password(db, user, &stored);
    if (rc == PAM_SUCCESS) {
        if ((flags & PAM_DISALLOW_NULL_AUTHTOK) && stored[0] == '\0')
            rc = PAM_AUTH_ERR;
        else if (!same_secret(given, stored))
            rc = PAM_AUTH_ERR;
    }
    free_secret(given);
    free_secret(stored);
    return rc;
}

static int
do_account(pam_handle_t *pamh, const char *db)
{
    const char *user;
    char *stored = NULL;
    int rc = get_user(pamh, &user);

    if (rc != PAM_SUCCESS)
        return rc;
    rc = stored_password(db, user, &stored);
    free_secret(stored);
    return rc;
}

/* The old password must be right; it stays in PAM_OLDAUTHTOK. */
static int
check_old(pam_handle_t *pamh, const char *db, const char *user)
{
    char *given = NULL, *stored = NULL;
    int rc = stored_password(db, user, &stored);

    if (rc == PAM_SUCCESS)
        rc = get_secret(pamh, PAM_OLDAUTHTOK, "Current password: ", &given);
    if (rc == PAM_SUCCESS)
        rc = same_secret(given, stored) ? pam_set_item(pamh, PAM_OLDAUTHTOK, given) : PAM_AUTH_ERR;
    free_secret(given);
    free_secret(stored);
    return rc;
}

/* The new password: PAM_AUTHTOK if set, else asked for twice. */
static int
new_password(pam_handle_t *pamh, char **out)
{
    const void *item = NULL;
    char *again = NULL;
    int rc;

    *out = NULL;
    if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item != NULL) {
        *out = strdup(item);
        return *out == NULL ? PAM_BUF_ERR : PAM_SUCCESS;
    }
    rc = converse(pamh, PAM_PROMPT_ECHO_OFF, "New password: ", out);
    if (rc == PAM_SUCCESS && *out == NULL)
        rc = PAM_CONV_ERR;
    if (rc == PAM_SUCCESS)
        rc = converse(pamh, PAM_PROMPT_ECHO_OFF, "Retype new password: ", &again);
    if (rc == PAM_SUCCESS && (again == NULL || strcmp(*out, again) != 0))
        rc = PAM_AUTHTOK_ERR;
    free_secret(again);
    if (rc != PAM_SUCCESS) {
        free_secret(*out);
        *out = NULL;
    }
    return rc;
}

static int
do_chauthtok(pam_handle_t *pamh, const char *db, int flags)
{
    const char *user;
    char *fresh = NULL;
    int rc = get_user(pamh, &user);

    if (rc != PAM_SUCCESS)
        return rc;
    rc = check_old(pamh, db, user);
    if (rc != PAM_SUCCESS || (flags & PAM_PRELIM_CHECK))
        return rc;
    rc = new_password(pamh, &fresh);
    if (rc != PAM_SUCCESS)
        return rc;
    if (fresh[0] == '\0' || strchr(fresh, '\n') != NULL)
        rc = PAM_AUTHTOK_ERR;
    else
        rc = pam_set_item(pamh, PAM_AUTHTOK, fresh);
    if (rc == PAM_SUCCESS)
        rc = store_password(db, user, fresh);
    free_secret(fresh);
    return rc;
}

/* The mark of a forced success in pam_chauthtok, and its value. */
#define FORCED_SUCCESS "draxoft.auth.pam.testing.forced-success"
static char forced_success_mark = 1;

static void
mark_forced_success(pam_handle_t *pamh, int forced)
{
    pam_set_data(pamh, FORCED_SUCCESS, forced ? &forced_success_mark : NULL, NULL);
}

static int
forced_success(pam_handle_t *pamh)
{
    const void *data = NULL;

    return pam_get_data(pamh, FORCED_SUCCESS, &data) == PAM_SUCCESS && data == &forced_success_mark;
}

/* What every service function does: the options' actions, then the
 * forced code, the password work or PAM_IGNORE. */
static int
act(enum step step, pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct options o;
    int rc = parse_options(pamh, argc, argv, &o);
    /* In pam_chauthtok the module is called twice: act once. */
    int first_pass = step != STEP_CHAUTHTOK || (flags & PAM_PRELIM_CHECK);

    if (rc != PAM_SUCCESS) {
        free_options(&o);
        return rc;
    }
    if (o.only >= 0 && o.only != (int)step) {
        free_options(&o);
        return PAM_IGNORE;
    }
    if (o.user != NULL) {
        const void *item = NULL;
        if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || item == NULL
            || strcmp(item, o.user) != 0) {
            if (o.has_ret && step == STEP_CHAUTHTOK)
                mark_forced_success(pamh, 0);
            free_options(&o);
            return PAM_IGNORE;
        }
    }
    if (first_pass && o.sleep_ms > 0) {
        struct timespec left = {o.sleep_ms / 1000, (o.sleep_ms % 1000) * 1000000L};
        while (nanosleep(&left, &left) != 0 && errno == EINTR)
            ;
    }
    if (first_pass && o.has_msg) {
        int prompt = o.msg_style == PAM_PROMPT_ECHO_OFF || o.msg_style == PAM_PROMPT_ECHO_ON;
        char *reply = NULL;
        rc = converse(pamh, o.msg_style, o.msg_text, prompt ? &reply : NULL);
        if (rc == PAM_SUCCESS && o.answer != NULL && (reply == NULL || strcmp(reply, o.answer) != 0))
            rc = PAM_AUTH_ERR;
        free_secret(reply);
        if (rc != PAM_SUCCESS) {
            free_options(&o);
            return rc;
        }
    }
    if (o.has_ret && step == STEP_CHAUTHTOK)
        mark_forced_success(pamh, o.ret == PAM_SUCCESS);
    if (o.has_ret)
        rc = o.ret;
    else if (o.db != NULL && step == STEP_CHAUTHTOK && forced_success(pamh))
        rc = PAM_SUCCESS;
    else if (o.db == NULL)
        rc = PAM_IGNORE;
    else if (step == STEP_AUTHENTICATE)
        rc = do_authenticate(pamh, o.db, flags);
    else if (step == STEP_ACCT_MGMT)
        rc = do_account(pamh, o.db);
    else if (step == STEP_CHAUTHTOK)
        rc = do_chauthtok(pamh, o.db, flags);
    else
        rc = PAM_SUCCESS;
    free_options(&o);
    return rc;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return act(STEP_AUTHENTICATE, pamh, flags, argc, argv);
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return act(STEP_SETCRED, pamh, flags, argc, argv);
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return act(STEP_ACCT_MGMT, pamh, flags, argc, argv);
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return act(STEP_CHAUTHTOK, pamh, flags, argc, argv);
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return act(STEP_OPEN_SESSION, pamh, flags, argc, argv);
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return act(STEP_CLOSE_SESSION, pamh, flags, argc, argv);
}
