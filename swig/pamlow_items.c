/*
 * Items typed by their number, for the typemaps of pam_get_item and
 * pam_set_item in swig/pamlow.i, and the environment list of
 * pam_getenvlist. Strings cross as wiped private copies; the conversation
 * and the fail delay cross as the trampolines of pamlow_callbacks.c.
 */
#include "pamlow.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>


/* Items whose value is a C string. */
static int
pamlow_is_string_item(int item)
{
    switch (item) {
    case PAM_SERVICE:
    case PAM_USER:
    case PAM_TTY:
    case PAM_RHOST:
    case PAM_RUSER:
    case PAM_USER_PROMPT:
    case PAM_AUTHTOK:
    case PAM_OLDAUTHTOK:
#ifdef HAVE_PAM_XDISPLAY
    case PAM_XDISPLAY:
#endif
#ifdef HAVE_PAM_AUTHTOK_TYPE
    case PAM_AUTHTOK_TYPE:
#endif
#ifdef HAVE_PAM_HOST
    case PAM_HOST:
#endif
#ifdef HAVE_PAM_AUTHTOK_PROMPT
    case PAM_AUTHTOK_PROMPT:
#endif
#ifdef HAVE_PAM_OLDAUTHTOK_PROMPT
    case PAM_OLDAUTHTOK_PROMPT:
#endif
        return 1;
    default:
        return 0;
    }
}

static int
pamlow_is_xauth_item(int item)
{
#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
    return item == PAM_XAUTHDATA;
#else
    (void)item;
    return 0;
#endif
}

static PyObject *
pamlow_new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

/* ------------------------------------------------------------------ */
/* pam_get_item                                                         */

static PyObject *
pamlow_item_value(pamlow_handle *h, int item, const void *value)
{
    if (item == PAM_CONV) {
        const struct pam_conv *c = value;
        if (c != NULL && c->conv == pamlow_conv && c->appdata_ptr == h && h->conv != NULL)
            return pamlow_new_ref(h->conv);
        Py_RETURN_NONE;
    }
    if (pamlow_is_delay_item(item)) {
        if (value == (const void *)pamlow_delay && h->delay != NULL)
            return pamlow_new_ref(h->delay);
        Py_RETURN_NONE;
    }
    if (value == NULL)
        Py_RETURN_NONE;
#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
    if (item == PAM_XAUTHDATA) {
        const struct pam_xauth_data *x = value;
        /* Linux-PAM hands out its embedded, zeroed struct when unset. */
        if (x->name == NULL && x->data == NULL)
            Py_RETURN_NONE;
        return Py_BuildValue("(y#y#)",
                             x->name ? x->name : "", (Py_ssize_t)(x->name ? x->namelen : 0),
                             x->data ? x->data : "", (Py_ssize_t)(x->data ? x->datalen : 0));
    }
#endif
    return PyBytes_FromString(value);
}

/* (rc, value) for what pam_get_item gave. Reading an item has no effect,
 * so an item we cannot type is asked for all the same and answered here:
 * we would not know how to read what PAM handed back. */
PyObject *
pamlow_item_out(pamlow_handle *h, int item, int rc, const void *value)
{
    PyObject *obj;

    if (!pamlow_is_string_item(item) && item != PAM_CONV && !pamlow_is_delay_item(item)
        && !pamlow_is_xauth_item(item))
        return Py_BuildValue("(iO)", PAMLOW_BAD_ITEM, Py_None);
    if (rc != PAM_SUCCESS)
        return Py_BuildValue("(iO)", rc, Py_None);
    obj = pamlow_item_value(h, item, value);
    if (obj == NULL)
        return NULL;
    return Py_BuildValue("(iN)", rc, obj);
}

/* ------------------------------------------------------------------ */
/* pam_set_item                                                         */

static int
pamlow_answer(pamlow_item_in *v, int rc)
{
    v->answered = 1;
    v->rc = rc;
    return 0;
}

/* The conversation or the fail delay's callable, or None, for the item
 * typemap of swig/pamlow.i, which gives PAM the trampoline. */
int
pamlow_callable_in(pamlow_item_in *v, PyObject *value, const char *what)
{
    if (value == Py_None) {
        v->clear_callable = 1;
        return 0;
    }
    if (!PyCallable_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be callable or None, not %.100s",
                     what, Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_INCREF(value);
    v->callable = value;
    return 0;
}

#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
static int
pamlow_xauth_from(pamlow_item_in *v, PyObject *value)
{
    memset(&v->xauth, 0, sizeof v->xauth);
    v->ptr = &v->xauth;
    /* None: Linux-PAM reads through the pointer unchecked, so clear with
     * an empty struct (pamlow_item_settle judges the outcome). */
    if (value == Py_None)
        return 0;
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
        PyErr_SetString(PyExc_TypeError, "xauthdata must be a (name, data) pair or None");
        return -1;
    }
    if (pamlow_buf_from_any(PyTuple_GET_ITEM(value, 0), &v->name, "the xauthdata name", 0) < 0
        || pamlow_buf_from_any(PyTuple_GET_ITEM(value, 1), &v->data, "the xauthdata data", 1) < 0)
        return -1;
    if (v->name.n > INT_MAX || v->data.n > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "xauthdata is too long");
        return -1;
    }
    v->xauth.name = v->name.p;
    v->xauth.namelen = (int)v->name.n;
    v->xauth.data = v->data.p;
    v->xauth.datalen = (int)v->data.n;
    return 0;
}
#endif

/* Type a value that is not a callback (swig/pamlow.i maps those) by its
 * item into v. Returns -1 with an exception set; otherwise either v->ptr
 * is what PAM gets, or v->answered says PAM is not called. */
int
pamlow_item_from(pamlow_handle *h, int item, PyObject *value, pamlow_item_in *v)
{
#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
    if (item == PAM_XAUTHDATA)
        return pamlow_xauth_from(v, value);
#endif
    if (!pamlow_is_string_item(item))
        return pamlow_answer(v, PAMLOW_BAD_ITEM);
    /* Linux-PAM lowercases the new service name in place without a NULL
     * check; a transaction always has a service anyway. */
    if (item == PAM_SERVICE && value == Py_None)
        return pamlow_answer(v, PAMLOW_BAD_ITEM);
#ifdef HAVE_LINUX_PAM
    /* A new service makes Linux-PAM unload the transaction's modules before
     * the next call, while data they registered with pam_set_data() keeps
     * pointers to their cleanup functions: pam_end() would then call into
     * unloaded code. Once an operation has run, the service stays. */
    if (item == PAM_SERVICE && h->dispatched)
        return pamlow_answer(v, PAMLOW_BAD_ITEM);
#endif
    if (pamlow_buf_from(value, &v->text, "an item value", 1) < 0)
        return -1;
    v->ptr = v->text.p;
    return 0;
}

/* What pam_set_item returned, once our side follows: a conversation or
 * delay callable is kept only when PAM took its trampoline. */
int
pamlow_item_settle(pamlow_item_in *v, int rc)
{
    pamlow_handle *h = v->h;
    PyObject **slot = v->item == PAM_CONV ? &h->conv : pamlow_is_delay_item(v->item) ? &h->delay : NULL;

    if (v->answered)
        rc = v->rc;   /* PAM_SUCCESS unless pamlow_answer said otherwise */
#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
    /* Clearing PAM_XAUTHDATA: Linux-PAM drops the old data, then fails to
     * copy the NULL name (PAM_BUF_ERR) and leaves the item zeroed, which
     * is the result asked for. */
    if (v->item == PAM_XAUTHDATA && v->name.p == NULL && rc == PAM_BUF_ERR) {
        const void *now = NULL;
        if (pam_get_item(h->pamh, PAM_XAUTHDATA, &now) == PAM_SUCCESS
            && (now == NULL || ((const struct pam_xauth_data *)now)->name == NULL))
            rc = PAM_SUCCESS;
    }
#endif
    if (slot != NULL && rc == PAM_SUCCESS && (v->callable != NULL || v->clear_callable)) {
        Py_XSETREF(*slot, v->callable);
        v->callable = NULL;
    }
    return rc;
}

void
pamlow_item_in_free(pamlow_item_in *v)
{
    pamlow_buf_free(&v->text);
    pamlow_buf_free(&v->name);
    pamlow_buf_free(&v->data);
    Py_CLEAR(v->callable);
}

/* ------------------------------------------------------------------ */
/* pam_getenvlist                                                       */

/* pam_getenvlist hands over a malloc'd copy: a list of bytes, or None.
 * Every entry is wiped and freed, since modules leave secrets there too. */
PyObject *
pamlow_envlist_out(char **env)
{
    PyObject *list;
    size_t i;

    if (env == NULL)
        Py_RETURN_NONE;
    list = PyList_New(0);
    for (i = 0; env[i] != NULL; i++) {
        if (list != NULL) {
            PyObject *item = PyBytes_FromString(env[i]);
            if (item == NULL || PyList_Append(list, item) < 0)
                Py_CLEAR(list);
            Py_XDECREF(item);
        }
        pamlow_wipe(env[i], strlen(env[i]));
        free(env[i]);
    }
    free(env);
    return list;
}
