/*
 * The C side of draxoft.auth._pamlow: the handle, private string buffers,
 * the callback trampolines and the bindings that swig/pamlow.i exports.
 */
#ifndef DRAXOFT_PAMLOW_H
#define DRAXOFT_PAMLOW_H

#include "config.h"

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>
#include <stddef.h>

#ifdef HAVE_SECURITY_PAM_APPL_H
#include <security/pam_appl.h>
#else
#include <pam/pam_appl.h>
#endif

/* One PAM transaction and what the trampolines need to reach Python.
 * Its address is the appdata_ptr of the conversation, which Linux-PAM also
 * hands to the fail-delay function. */
typedef struct pamlow_handle {
    pam_handle_t *pamh;  /* NULL once pam_end has run */
    PyObject *conv;      /* conversation callable, or NULL */
    PyObject *delay;     /* fail-delay callable, or NULL */
    PyObject *error;     /* first exception a callable raised, not yet taken */
    int busy;            /* PAM calls in flight; changed only with the GIL */
    int last_status;     /* for pam_end when the handle is collected */
    int dispatched;      /* an operation has run: modules may hold data */
} pamlow_handle;

/* A private, NUL-terminated copy of a string argument or response. */
typedef struct pamlow_buf {
    char *p;
    size_t n;            /* length without the terminating NUL */
} pamlow_buf;

/* pamlow_buf.c */
void pamlow_wipe(void *p, size_t n);
int pamlow_buf_from(PyObject *o, pamlow_buf *b, const char *what, int allow_none);
int pamlow_buf_from_any(PyObject *o, pamlow_buf *b, const char *what, int allow_nul);
void pamlow_buf_free(pamlow_buf *b);

/* pamlow_callbacks.c */
int pamlow_conv(int num_msg, const struct pam_message **msg,
                struct pam_response **resp, void *appdata_ptr);
void pamlow_delay(int retval, unsigned usec, void *appdata_ptr);
void pamlow_keep_error(pamlow_handle *h);

/* pamlow_api.c: the handle as a Python object */
PyObject *pamlow_wrap_handle(pamlow_handle *h);
pamlow_handle *pamlow_handle_from(PyObject *o, int allow_closed);

/* pamlow_api.c: the functions swig/pamlow.i exports */
void pamlow_handle_free(pamlow_handle *h);
PyObject *pamlow_start(const char *service, const char *user, PyObject *conv);
#ifdef PAMLOW_HAVE_CONFDIR
PyObject *pamlow_start_confdir(const char *service, const char *user,
                               PyObject *conv, const char *confdir);
#endif
int pamlow_end(pamlow_handle *h, int status);
int pamlow_authenticate(pamlow_handle *h, int flags);
int pamlow_setcred(pamlow_handle *h, int flags);
int pamlow_acct_mgmt(pamlow_handle *h, int flags);
int pamlow_open_session(pamlow_handle *h, int flags);
int pamlow_close_session(pamlow_handle *h, int flags);
int pamlow_chauthtok(pamlow_handle *h, int flags);
PyObject *pamlow_get_item(pamlow_handle *h, int item);
int pamlow_set_item(pamlow_handle *h, int item, PyObject *value);
PyObject *pamlow_getenv(pamlow_handle *h, const char *name);
int pamlow_putenv(pamlow_handle *h, const char *name_value);
#ifdef HAVE_PAM_GETENVLIST
PyObject *pamlow_getenvlist(pamlow_handle *h);
#endif
PyObject *pamlow_strerror(pamlow_handle *h_or_none, int code);
#ifdef HAVE_PAM_FAIL_DELAY_FN
int pamlow_fail_delay(pamlow_handle *h, unsigned int usec);
#endif
PyObject *pamlow_take_error(pamlow_handle *any);
PyObject *pamlow_implementation(void);
PyObject *pamlow_extensions(void);

#ifdef HAVE_OPENPAM_POLICY_PATH
/* pamlow_openpam.c: pam_start on OpenPAM, reading the policy from confdir
 * alone when it is not NULL; every pam_start of the binding goes here. */
int pamlow_openpam_start_confdir(const char *service, const char *user,
                                 const struct pam_conv *conv, const char *confdir,
                                 pam_handle_t **pamh);
#endif

#endif
