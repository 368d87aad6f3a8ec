/*
 * The handle object behind the typemaps of swig/pamlow.i: one PAM
 * transaction, its callables and the first exception they raised, held by
 * a capsule that ends the transaction when it is collected.
 */
#include "pamlow.h"

#include <stdlib.h>

#define PAMLOW_CAPSULE "draxoft.auth._pamlow.handle"

/* A handle for pam_start, before PAM has one: conv is a callable or None. */
pamlow_handle *
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

/* pam_end has run, or is about to (the pointer is already gone): the
 * callables go, the exception stays to be taken. */
void
pamlow_handle_ended(pamlow_handle *h)
{
    Py_CLEAR(h->conv);
    Py_CLEAR(h->delay);
}

void
pamlow_handle_free(pamlow_handle *h)
{
    pam_handle_t *pamh;

    if (h == NULL)
        return;
    pamh = h->pamh;
    if (pamh != NULL) {
        /* Closed from here on, even for a callback that pam_end runs. */
        h->pamh = NULL;
        Py_BEGIN_ALLOW_THREADS
        pam_end(pamh, h->last_status);
        Py_END_ALLOW_THREADS
    }
    pamlow_handle_ended(h);
    Py_CLEAR(h->error);
    free(h);
}

static void
pamlow_capsule_free(PyObject *capsule)
{
    pamlow_handle_free(PyCapsule_GetPointer(capsule, PAMLOW_CAPSULE));
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

/* A handle already in a call is being used from one of its own callbacks,
 * or from another thread without the lock of the layer above. Either way
 * libpam would be entered twice: refuse. An operation also marks the
 * handle as one whose modules may hold data. */
int
pamlow_handle_enter(pamlow_handle *h, int operation)
{
    if (h->busy > 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a PAM call is already running on this handle");
        return -1;
    }
    h->busy++;
    if (operation)
        h->dispatched = 1;
    return 0;
}

void
pamlow_handle_leave(pamlow_handle *h)
{
    h->busy--;
}

/* After pam_start: (rc, capsule) or (rc, None), taking over rc_obj. Our
 * handle is found where PAM keeps it, as the conversation's appdata_ptr;
 * pam_start runs no module, so nothing can have replaced it. The capsule
 * is made last: once it owns the handle nothing may fail. A handle that
 * did not start is freed by the conversation typemap's freearg. */
PyObject *
pamlow_handle_started(PyObject *rc_obj, int rc, pam_handle_t *pamh)
{
    PyObject *pair = PyTuple_New(2), *capsule;
    const void *item = NULL;
    pamlow_handle *h;

    if (rc != PAM_SUCCESS || pamh == NULL) {
        if (pair == NULL)
            return NULL;
        Py_INCREF(Py_None);
        PyTuple_SET_ITEM(pair, 0, rc_obj);
        PyTuple_SET_ITEM(pair, 1, Py_None);
        return pair;
    }
    if (pair == NULL) {
        pam_end(pamh, PAM_SYSTEM_ERR);
        return NULL;
    }
    if (pam_get_item(pamh, PAM_CONV, &item) != PAM_SUCCESS || item == NULL) {
        PyErr_SetString(PyExc_SystemError, "pam_start kept no conversation");
        pam_end(pamh, PAM_SYSTEM_ERR);
        Py_DECREF(pair);
        return NULL;
    }
    h = ((const struct pam_conv *)item)->appdata_ptr;
    capsule = PyCapsule_New(h, PAMLOW_CAPSULE, pamlow_capsule_free);
    if (capsule == NULL) {
        pam_end(pamh, PAM_SYSTEM_ERR);
        Py_DECREF(pair);
        return NULL;
    }
    h->pamh = pamh;
    PyTuple_SET_ITEM(pair, 0, rc_obj);
    PyTuple_SET_ITEM(pair, 1, capsule);
    return pair;
}
