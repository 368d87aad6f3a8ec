/*
 * The bindings exported by swig/pamlow.i, one per PAM call.
 *
 * Calls that can enter a module or read the file system (start, end and
 * the six operations) run without the GIL. The in-memory accessors (items,
 * environment, strerror) keep it: they cannot block, and holding it makes
 * each of them atomic for Python threads.
 */
#include "pamlow.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* What an item that cannot be read or set here is answered with. */
#ifdef HAVE_PAM_BAD_ITEM
#define PAMLOW_BAD_ITEM PAM_BAD_ITEM
#else
#define PAMLOW_BAD_ITEM PAM_SYSTEM_ERR
#endif

/* ------------------------------------------------------------------ */
/* The handle                                                           */

static pamlow_handle *
pamlow_handle_new(PyObject *conv)
{
    pamlow_handle *h;

    if (conv != Py_None && !PyCallable_Check(conv)) {
        PyErr_Format(PyExc_TypeError, "conv must be callable or None, not %.100s",
                     Py_TYPE(conv)->tp_name);
        return NULL;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (conv != Py_None) {
        Py_INCREF(conv);
        h->conv = conv;
    }
    h->last_status = PAM_SUCCESS;
    return h;
}

/* End the transaction (if still open) and drop the callables. */
static int
pamlow_handle_end(pamlow_handle *h, int status)
{
    pam_handle_t *pamh = h->pamh;
    int rc = PAM_SUCCESS;

    if (pamh != NULL) {
        /* Closed from here on, even for a callback that pam_end runs. */
        h->pamh = NULL;
        Py_BEGIN_ALLOW_THREADS
        rc = pam_end(pamh, status);
        Py_END_ALLOW_THREADS
    }
    Py_CLEAR(h->conv);
    Py_CLEAR(h->delay);
    return rc;
}

void
pamlow_handle_free(pamlow_handle *h)
{
    if (h == NULL)
        return;
    pamlow_handle_end(h, h->last_status);
    Py_CLEAR(h->error);
    free(h);
}

#define PAMLOW_CAPSULE "draxoft.auth._pamlow.handle"

static void
pamlow_capsule_free(PyObject *capsule)
{
    pamlow_handle_free(PyCapsule_GetPointer(capsule, PAMLOW_CAPSULE));
}

/* The Python object for h: a capsule that owns h and ends the transaction
 * when it is collected. */
PyObject *
pamlow_wrap_handle(pamlow_handle *h)
{
    return PyCapsule_New(h, PAMLOW_CAPSULE, pamlow_capsule_free);
}

pamlow_handle *
pamlow_handle_from(PyObject *o, int allow_closed)
{
    pamlow_handle *h;

    if (!PyCapsule_IsValid(o, PAMLOW_CAPSULE)) {
        PyErr_Format(PyExc_TypeError, "expected a PAM handle, not %.100s", Py_TYPE(o)->tp_name);
        return NULL;
    }
    h = PyCapsule_GetPointer(o, PAMLOW_CAPSULE);
    if (!allow_closed && h->pamh == NULL) {
        PyErr_SetString(PyExc_ValueError, "the PAM handle is closed");
        return NULL;
    }
    return h;
}

static PyObject *
pamlow_started(int rc, pamlow_handle *h, pam_handle_t *pamh)
{
    PyObject *obj;

    if (rc != PAM_SUCCESS || pamh == NULL) {
        pamlow_handle_free(h);
        return Py_BuildValue("(iO)", rc, Py_None);
    }
    h->pamh = pamh;
    obj = pamlow_wrap_handle(h);
    if (obj == NULL) {
        pamlow_handle_free(h);
        return NULL;
    }
    return Py_BuildValue("(iN)", rc, obj);
}

/* pam_start, or pam_start_confdir when confdir is not NULL. */
static PyObject *
pamlow_start_in(const char *service, const char *user, PyObject *conv,
                const char *confdir)
{
    pamlow_handle *h = pamlow_handle_new(conv);
    pam_handle_t *pamh = NULL;
    struct pam_conv c;
    int rc;

    if (h == NULL)
        return NULL;
    c.conv = pamlow_conv;
    c.appdata_ptr = h;
    Py_BEGIN_ALLOW_THREADS
#if defined(HAVE_OPENPAM_POLICY_PATH)
    rc = pamlow_openpam_start_confdir(service, user, &c, confdir, &pamh);
#elif defined(HAVE_PAM_START_CONFDIR)
    if (confdir != NULL)
        rc = pam_start_confdir(service, user, &c, confdir, &pamh);
    else
        rc = pam_start(service, user, &c, &pamh);
#else
    (void)confdir;
    rc = pam_start(service, user, &c, &pamh);
#endif
    Py_END_ALLOW_THREADS
    return pamlow_started(rc, h, pamh);
}

PyObject *
pamlow_start(const char *service, const char *user, PyObject *conv)
{
    return pamlow_start_in(service, user, conv, NULL);
}

#ifdef PAMLOW_HAVE_CONFDIR
PyObject *
pamlow_start_confdir(const char *service, const char *user, PyObject *conv,
                     const char *confdir)
{
    return pamlow_start_in(service, user, conv, confdir);
}
#endif

/* A handle already in a call is being used from one of its own callbacks,
 * or from another thread without the lock of the layer above. Either way
 * libpam would be entered twice: refuse. */
static int
pamlow_refuse_busy(pamlow_handle *h)
{
    if (h->busy > 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a PAM call is already running on this handle");
        return -1;
    }
    return 0;
}

int
pamlow_end(pamlow_handle *h, int status)
{
    if (pamlow_refuse_busy(h) < 0)
        return PAM_SYSTEM_ERR;
    return pamlow_handle_end(h, status);
}

/* The six operations differ only in the function they call. */
static int
pamlow_operation(pamlow_handle *h, int (*op)(pam_handle_t *, int), int flags)
{
    pam_handle_t *pamh = h->pamh;
    int rc;

    if (pamlow_refuse_busy(h) < 0)
        return PAM_SYSTEM_ERR;
    h->busy++;
    h->dispatched = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = op(pamh, flags);
    Py_END_ALLOW_THREADS
    h->busy--;
    h->last_status = rc;
    return rc;
}

int pamlow_authenticate(pamlow_handle *h, int flags) { return pamlow_operation(h, pam_authenticate, flags); }
int pamlow_setcred(pamlow_handle *h, int flags) { return pamlow_operation(h, pam_setcred, flags); }
int pamlow_acct_mgmt(pamlow_handle *h, int flags) { return pamlow_operation(h, pam_acct_mgmt, flags); }
int pamlow_open_session(pamlow_handle *h, int flags) { return pamlow_operation(h, pam_open_session, flags); }
int pamlow_close_session(pamlow_handle *h, int flags) { return pamlow_operation(h, pam_close_session, flags); }
int pamlow_chauthtok(pamlow_handle *h, int flags) { return pamlow_operation(h, pam_chauthtok, flags); }

/* ------------------------------------------------------------------ */
/* Items                                                                */

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

static PyObject *
pamlow_new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

static PyObject *
pamlow_item_value(pamlow_handle *h, int item, const void *value)
{
    if (item == PAM_CONV) {
        const struct pam_conv *c = value;
        if (c != NULL && c->conv == pamlow_conv && c->appdata_ptr == h && h->conv != NULL)
            return pamlow_new_ref(h->conv);
        Py_RETURN_NONE;
    }
#ifdef HAVE_PAM_FAIL_DELAY_ITEM
    if (item == PAM_FAIL_DELAY) {
        if (value == (const void *)pamlow_delay && h->delay != NULL)
            return pamlow_new_ref(h->delay);
        Py_RETURN_NONE;
    }
#endif
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

PyObject *
pamlow_get_item(pamlow_handle *h, int item)
{
    const void *value = NULL;
    PyObject *obj;
    int rc;

    if (!pamlow_is_string_item(item) && item != PAM_CONV
#ifdef HAVE_PAM_FAIL_DELAY_ITEM
        && item != PAM_FAIL_DELAY
#endif
#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
        && item != PAM_XAUTHDATA
#endif
       ) {
        /* We would not know how to read what PAM hands back. */
        return Py_BuildValue("(iO)", PAMLOW_BAD_ITEM, Py_None);
    }
    rc = pam_get_item(h->pamh, item, &value);
    if (rc != PAM_SUCCESS)
        return Py_BuildValue("(iO)", rc, Py_None);
    obj = pamlow_item_value(h, item, value);
    if (obj == NULL)
        return NULL;
    return Py_BuildValue("(iN)", rc, obj);
}

static int
pamlow_set_callable(PyObject **slot, PyObject *value, const char *what)
{
    if (value != Py_None && !PyCallable_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be callable or None, not %.100s",
                     what, Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_XINCREF(value == Py_None ? NULL : value);
    Py_XSETREF(*slot, value == Py_None ? NULL : value);
    return 0;
}

#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
static int
pamlow_set_xauthdata(pamlow_handle *h, PyObject *value)
{
    struct pam_xauth_data x;
    pamlow_buf name, data;
    int rc;

    if (value == Py_None) {
        /* Linux-PAM reads through the pointer unchecked, so clear with an
         * empty struct: it drops the old data, then fails to copy the NULL
         * name (PAM_BUF_ERR) and leaves the item zeroed, which is the
         * result asked for. */
        const void *now = NULL;
        memset(&x, 0, sizeof x);
        rc = pam_set_item(h->pamh, PAM_XAUTHDATA, &x);
        if (rc == PAM_BUF_ERR && pam_get_item(h->pamh, PAM_XAUTHDATA, &now) == PAM_SUCCESS
            && (now == NULL || ((const struct pam_xauth_data *)now)->name == NULL))
            rc = PAM_SUCCESS;
        return rc;
    }
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
        PyErr_SetString(PyExc_TypeError, "xauthdata must be a (name, data) pair or None");
        return PAM_SYSTEM_ERR;
    }
    if (pamlow_buf_from_any(PyTuple_GET_ITEM(value, 0), &name, "the xauthdata name", 0) < 0)
        return PAM_SYSTEM_ERR;
    if (pamlow_buf_from_any(PyTuple_GET_ITEM(value, 1), &data, "the xauthdata data", 1) < 0) {
        pamlow_buf_free(&name);
        return PAM_SYSTEM_ERR;
    }
    if (name.n > INT_MAX || data.n > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "xauthdata is too long");
        rc = PAM_SYSTEM_ERR;
    } else {
        x.name = name.p;
        x.namelen = (int)name.n;
        x.data = data.p;
        x.datalen = (int)data.n;
        rc = pam_set_item(h->pamh, PAM_XAUTHDATA, &x);
    }
    pamlow_buf_free(&name);
    pamlow_buf_free(&data);
    return rc;
}
#endif

int
pamlow_set_item(pamlow_handle *h, int item, PyObject *value)
{
    pamlow_buf b;
    int rc;

    if (item == PAM_CONV) {
        struct pam_conv c;
        /* The trampoline stays installed; None only silences it, since
         * PAM itself refuses a missing conversation. */
        if (value != Py_None) {
            c.conv = pamlow_conv;
            c.appdata_ptr = h;
            if (!PyCallable_Check(value)) {
                PyErr_Format(PyExc_TypeError, "conv must be callable or None, not %.100s",
                             Py_TYPE(value)->tp_name);
                return PAM_SYSTEM_ERR;
            }
            rc = pam_set_item(h->pamh, PAM_CONV, &c);
            if (rc != PAM_SUCCESS)
                return rc;
        }
        pamlow_set_callable(&h->conv, value, "conv");
        return PAM_SUCCESS;
    }
#ifdef HAVE_PAM_FAIL_DELAY_ITEM
    if (item == PAM_FAIL_DELAY) {
        if (value != Py_None && !PyCallable_Check(value)) {
            PyErr_Format(PyExc_TypeError, "delay must be callable or None, not %.100s",
                         Py_TYPE(value)->tp_name);
            return PAM_SYSTEM_ERR;
        }
        rc = pam_set_item(h->pamh, PAM_FAIL_DELAY,
                          value == Py_None ? NULL : (const void *)pamlow_delay);
        if (rc == PAM_SUCCESS)
            pamlow_set_callable(&h->delay, value, "delay");
        return rc;
    }
#endif
#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
    if (item == PAM_XAUTHDATA)
        return pamlow_set_xauthdata(h, value);
#endif
    if (!pamlow_is_string_item(item))
        return PAMLOW_BAD_ITEM;
    /* Linux-PAM lowercases the new service name in place without a NULL
     * check; a transaction always has a service anyway. */
    if (item == PAM_SERVICE && value == Py_None)
        return PAMLOW_BAD_ITEM;
#ifdef HAVE_LINUX_PAM
    /* A new service makes Linux-PAM unload the transaction's modules before
     * the next call, while data they registered with pam_set_data() keeps
     * pointers to their cleanup functions: pam_end() would then call into
     * unloaded code. Once an operation has run, the service stays. */
    if (item == PAM_SERVICE && h->dispatched)
        return PAMLOW_BAD_ITEM;
#endif
    if (pamlow_buf_from(value, &b, "an item value", 1) < 0)
        return PAM_SYSTEM_ERR;
    rc = pam_set_item(h->pamh, item, b.p);
    pamlow_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The environment                                                      */

PyObject *
pamlow_getenv(pamlow_handle *h, const char *name)
{
    const char *value = pam_getenv(h->pamh, name);

    if (value == NULL)
        Py_RETURN_NONE;
    return PyBytes_FromString(value);
}

int
pamlow_putenv(pamlow_handle *h, const char *name_value)
{
    return pam_putenv(h->pamh, name_value);
}

#ifdef HAVE_PAM_GETENVLIST
/* pam_getenvlist hands over a malloc'd copy; wipe and free every entry,
 * since modules leave secrets there too. */
PyObject *
pamlow_getenvlist(pamlow_handle *h)
{
    char **env = pam_getenvlist(h->pamh);
    PyObject *list = NULL;
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
#endif

PyObject *
pamlow_strerror(pamlow_handle *h_or_none, int code)
{
    const char *text = pam_strerror(h_or_none != NULL ? h_or_none->pamh : NULL, code);

    if (text == NULL)
        return PyUnicode_FromFormat("PAM error %d", code);
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "surrogateescape");
}

#ifdef HAVE_PAM_FAIL_DELAY_FN
int
pamlow_fail_delay(pamlow_handle *h, unsigned int usec)
{
    return pam_fail_delay(h->pamh, usec);
}
#endif

/* ------------------------------------------------------------------ */
/* What the layer above asks of the binding itself                      */

PyObject *
pamlow_take_error(pamlow_handle *any)
{
    PyObject *exc;

    if (any == NULL || any->error == NULL)
        Py_RETURN_NONE;
    exc = any->error;
    any->error = NULL;
    return exc;
}

PyObject *
pamlow_implementation(void)
{
#ifdef PAMLOW_IMPLEMENTATION
    return PyUnicode_FromString(PAMLOW_IMPLEMENTATION);
#else
    Py_RETURN_NONE;
#endif
}

PyObject *
pamlow_extensions(void)
{
    static const char *const names[] = {
#ifdef PAMLOW_HAVE_CONFDIR
        "confdir",
#endif
#if defined(HAVE_PAM_FAIL_DELAY_FN) && defined(HAVE_PAM_FAIL_DELAY_ITEM)
        "fail_delay",
#endif
#ifdef HAVE_PAM_PUTENV_DELETE
        "unsetenv",
#endif
#ifdef HAVE_PAM_GETENVLIST
        "getenvlist",
#endif
#ifdef HAVE_PAM_XDISPLAY
        "xdisplay",
#endif
#if defined(HAVE_PAM_XAUTHDATA) && defined(HAVE_STRUCT_PAM_XAUTH_DATA)
        "xauthdata",
#endif
#ifdef HAVE_PAM_AUTHTOK_TYPE
        "authtok_type",
#endif
#ifdef HAVE_PAM_BINARY_PROMPT
        "binary_prompt",
#endif
#ifdef HAVE_PAM_RADIO_TYPE
        "radio_type",
#endif
        NULL
    };
    PyObject *t;
    Py_ssize_t i, n = 0;

    while (names[n] != NULL)
        n++;
    t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(names[i]);
        if (s == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}
