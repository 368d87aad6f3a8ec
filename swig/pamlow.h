/*
 * The C that swig/pamlow.i's typemaps call: the handle object, private
 * string buffers, the two callback trampolines and the typing of items.
 * Nothing here is wrapped by SWIG; every PAM call is declared in pamlow.i.
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

/* What an item that cannot be read or set here is answered with. */
#ifdef HAVE_PAM_BAD_ITEM
#define PAMLOW_BAD_ITEM PAM_BAD_ITEM
#else
#define PAMLOW_BAD_ITEM PAM_SYSTEM_ERR
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

/* An item value on its way into pam_set_item, typed by the item: the
 * pointer PAM gets and the storage behind it, owned by the wrapper call. */
typedef struct pamlow_item_in {
    pamlow_handle *h;
    int item;
    const void *ptr;     /* what pam_set_item receives */
    int answered;        /* PAM is not called: rc is the answer */
    int rc;
    PyObject *callable;  /* new conversation or delay callable, or NULL */
    int clear_callable;  /* None was given for the conversation or delay */
    pamlow_buf text;     /* a string item */
    pamlow_buf name, data;  /* PAM_XAUTHDATA */
#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
    struct pam_xauth_data xauth;
#endif
    struct pam_conv conv;
} pamlow_item_in;

/* pamlow_buf.c */
void pamlow_wipe(void *p, size_t n);
int pamlow_buf_from(PyObject *o, pamlow_buf *b, const char *what, int allow_none);
int pamlow_buf_from_any(PyObject *o, pamlow_buf *b, const char *what, int allow_nul);
void pamlow_buf_free(pamlow_buf *b);

/* pamlow_callbacks.c: the trampolines */
int pamlow_conv(int num_msg, const struct pam_message **msg,
                struct pam_response **resp, void *appdata_ptr);
void pamlow_delay(int retval, unsigned usec, void *appdata_ptr);
void pamlow_keep_error(pamlow_handle *h);

/* pamlow_handle.c: the handle as a Python object */
pamlow_handle *pamlow_handle_new(PyObject *conv);
void pamlow_handle_free(pamlow_handle *h);
pamlow_handle *pamlow_handle_from(PyObject *o, int allow_closed);
int pamlow_handle_enter(pamlow_handle *h, int operation);
void pamlow_handle_leave(pamlow_handle *h);
PyObject *pamlow_handle_started(PyObject *rc_obj, int rc, pam_handle_t *pamh);
void pamlow_handle_ended(pamlow_handle *h);

/* Is item the fail-delay function (Linux-PAM's PAM_FAIL_DELAY)? */
static inline int
pamlow_is_delay_item(int item)
{
#ifdef HAVE_PAM_FAIL_DELAY_ITEM
    return item == PAM_FAIL_DELAY;
#else
    (void)item;
    return 0;
#endif
}

/* pamlow_items.c: typed items and environment lists */
int pamlow_callable_in(pamlow_item_in *v, PyObject *value, const char *what);
int pamlow_item_from(pamlow_handle *h, int item, PyObject *value, pamlow_item_in *v);
int pamlow_item_settle(pamlow_item_in *v, int rc);
void pamlow_item_in_free(pamlow_item_in *v);
PyObject *pamlow_item_out(pamlow_handle *h, int item, int rc, const void *value);
PyObject *pamlow_envlist_out(char **env);

#ifdef HAVE_OPENPAM_POLICY_PATH
/* pamlow_openpam.c: pam_start on OpenPAM, reading the policy from confdir
 * alone when it is not NULL; every pam_start of the binding goes here. */
int pamlow_openpam_start_confdir(const char *service, const char *user,
                                 const struct pam_conv *conv, const char *confdir,
                                 pam_handle_t **pamh);
#endif

#endif
