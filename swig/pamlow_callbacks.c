/*
 * The two trampolines through which PAM reaches Python: the conversation
 * and the fail delay. Each takes the GIL, calls the handle's callable,
 * and on any failure frees what it built, keeps the first exception on
 * the handle and reports failure to PAM. The exception is raised again by
 * the layer above once the PAM call has returned.
 */
#include "pamlow.h"

#include <stdlib.h>
#include <string.h>

/* Move the exception being raised onto the handle, unless one is already
 * waiting there: the first exception of a call is the one that explains
 * it. Needs the GIL and a raised exception. */
void
pamlow_keep_error(pamlow_handle *h)
{
    PyObject *exc;
#if PY_VERSION_HEX >= 0x030C0000
    exc = PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    exc = value;
#endif
    if (h->error == NULL)
        h->error = exc;
    else
        Py_XDECREF(exc);
}

/* May a thread of a module enter Python? Not once the interpreter has
 * begun to end: a daemon thread inside PAM can come back to a callback
 * after Py_Finalize has torn down the thread-state machinery, and
 * PyGILState_Ensure would then crash the process on its way out. The
 * callback is refused instead; the process is ending anyway. */
static int
pamlow_python_alive(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsInitialized() && !Py_IsFinalizing();
#else
    return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

/* The message as Python sees it: bytes of the text, or for a binary prompt
 * the whole packet, whose first four bytes give its length (big endian). */
static PyObject *
pamlow_message_bytes(const struct pam_message *m)
{
    const unsigned char *p = (const unsigned char *)m->msg;

    if (p == NULL)
        return PyBytes_FromStringAndSize("", 0);
#ifdef HAVE_PAM_BINARY_PROMPT
    if (m->msg_style == PAM_BINARY_PROMPT) {
        size_t n = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
        if (n < 5)
            n = 5;
        return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
    }
#endif
    return PyBytes_FromString((const char *)p);
}

/* Turn what the callable returned into one pam_response; *len gets the
 * length of the copy (binary answers may hold NUL bytes, so strlen cannot
 * tell how much to wipe). */
static int
pamlow_response(PyObject *value, int style, struct pam_response *r, size_t *len)
{
    pamlow_buf b;
    int binary = 0;

    r->resp_retcode = 0;
    r->resp = NULL;
    *len = 0;
    if (value == Py_None)
        return 0;
#ifdef HAVE_PAM_BINARY_PROMPT
    binary = (style == PAM_BINARY_PROMPT);
#else
    (void)style;
#endif
    if (!PyUnicode_Check(value) && !PyBytes_Check(value) && !PyByteArray_Check(value)) {
        PyErr_Format(PyExc_TypeError,
                     "a conversation response must be str, bytes, bytearray or None, not %.100s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    if (pamlow_buf_from_any(value, &b, "a conversation response", binary) < 0)
        return -1;
    r->resp = b.p;  /* PAM frees it */
    *len = b.n;
    return 0;
}

/* Free responses that will not reach PAM, wiping each first. */
static void
pamlow_free_responses(struct pam_response *r, const size_t *len, int n)
{
    int i;

    if (r == NULL)
        return;
    for (i = 0; i < n; i++) {
        if (r[i].resp != NULL) {
            pamlow_wipe(r[i].resp, len[i]);
            free(r[i].resp);
        }
    }
    free(r);
}

int
pamlow_conv(int num_msg, const struct pam_message **msg,
            struct pam_response **resp, void *appdata_ptr)
{
    pamlow_handle *h = appdata_ptr;
    struct pam_response *r = NULL;
    size_t *len = NULL;
    PyObject *conv = NULL;
    PyGILState_STATE gil;
    int i, rc = PAM_CONV_ERR;

    /* Some modules pass no response pointer with messages that need no
     * answer: the messages are still shown, the answers dropped. */
    if (resp != NULL)
        *resp = NULL;
    /* Malformed calls from a module are refused without touching Python. */
    if (h == NULL || msg == NULL || num_msg <= 0)
        return PAM_CONV_ERR;
    for (i = 0; i < num_msg; i++)
        if (msg[i] == NULL)
            return PAM_CONV_ERR;

    if (!pamlow_python_alive())
        return PAM_CONV_ERR;
    gil = PyGILState_Ensure();
    /* Once a call has failed in Python it is failing: do not ask again. */
    if (h->error != NULL || h->conv == NULL)
        goto out;
    r = calloc((size_t)num_msg, sizeof *r);
    len = calloc((size_t)num_msg, sizeof *len);
    if (r == NULL || len == NULL) {
        free(r);
        r = NULL;
        rc = PAM_BUF_ERR;
        goto out;
    }
    /* The callable may replace itself (pam_set_item) while it runs. */
    conv = h->conv;
    Py_INCREF(conv);
    for (i = 0; i < num_msg; i++) {
        PyObject *text, *value;

        text = pamlow_message_bytes(msg[i]);
        if (text == NULL)
            goto fail;
        value = PyObject_CallFunction(conv, "iN", msg[i]->msg_style, text);
        if (value == NULL)
            goto fail;
        if (pamlow_response(value, msg[i]->msg_style, &r[i], &len[i]) < 0) {
            Py_DECREF(value);
            goto fail;
        }
        Py_DECREF(value);
    }
    if (resp != NULL)
        *resp = r;
    else
        pamlow_free_responses(r, len, num_msg);
    r = NULL;
    rc = PAM_SUCCESS;
    goto out;
fail:
    pamlow_keep_error(h);
    pamlow_free_responses(r, len, num_msg);
    r = NULL;
out:
    free(len);
    Py_XDECREF(conv);
    PyGILState_Release(gil);
    return rc;
}

void
pamlow_delay(int retval, unsigned usec, void *appdata_ptr)
{
    pamlow_handle *h = appdata_ptr;
    PyGILState_STATE gil;
    PyObject *delay, *value;

    if (h == NULL || !pamlow_python_alive())
        return;
    gil = PyGILState_Ensure();
    if (h->error == NULL && h->delay != NULL) {
        delay = h->delay;
        Py_INCREF(delay);
        value = PyObject_CallFunction(delay, "iI", retval, usec);
        if (value == NULL)
            pamlow_keep_error(h);
        Py_XDECREF(value);
        Py_DECREF(delay);
    }
    PyGILState_Release(gil);
}
