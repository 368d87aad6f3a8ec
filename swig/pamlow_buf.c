/*
 * Private copies of strings that go into PAM. Passwords travel through
 * here, so every copy is wiped before it is freed.
 */
/* memset_s is only declared when asked for, before any header. */
#define __STDC_WANT_LIB_EXT1__ 1
#include "pamlow.h"

#include <stdlib.h>
#include <string.h>
#ifdef HAVE_STRINGS_H
#include <strings.h>
#endif

#if !defined(HAVE_EXPLICIT_BZERO) && !defined(HAVE_MEMSET_S) && !defined(HAVE_EXPLICIT_MEMSET)
/* Called through a volatile pointer so the compiler cannot prove the
 * stores dead and drop them. */
static void *(*const volatile pamlow_memset)(void *, int, size_t) = memset;
#endif

void
pamlow_wipe(void *p, size_t n)
{
    if (p == NULL || n == 0)
        return;
#if defined(HAVE_EXPLICIT_BZERO)
    explicit_bzero(p, n);
#elif defined(HAVE_MEMSET_S)
    memset_s(p, n, 0, n);
#elif defined(HAVE_EXPLICIT_MEMSET)
    explicit_memset(p, 0, n);
#else
    pamlow_memset(p, 0, n);
#endif
}

/* Encode a str the way every string crosses into PAM: UTF-8, with lone
 * surrogates turned back into the bytes they stood for. */
static PyObject *
pamlow_encode(PyObject *o)
{
    return PyUnicode_AsEncodedString(o, "utf-8", "surrogateescape");
}

/* Wipe a bytes object that only we hold. Interned empty and one-byte
 * objects are shared by the whole interpreter and are left alone. */
static void
pamlow_wipe_private_bytes(PyObject *b)
{
    if (Py_REFCNT(b) == 1 && PyBytes_GET_SIZE(b) > 1)
        pamlow_wipe(PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
}

/* Copy str, bytes or bytearray into b. NUL bytes are refused unless
 * allow_nul (binary conversation responses). */
int
pamlow_buf_from_any(PyObject *o, pamlow_buf *b, const char *what, int allow_nul)
{
    PyObject *tmp = NULL;
    const char *src;
    Py_ssize_t n;

    b->p = NULL;
    b->n = 0;
    if (PyUnicode_Check(o)) {
        tmp = pamlow_encode(o);
        if (tmp == NULL)
            return -1;
        src = PyBytes_AS_STRING(tmp);
        n = PyBytes_GET_SIZE(tmp);
    } else if (PyBytes_Check(o)) {
        src = PyBytes_AS_STRING(o);
        n = PyBytes_GET_SIZE(o);
    } else if (PyByteArray_Check(o)) {
        src = PyByteArray_AS_STRING(o);
        n = PyByteArray_GET_SIZE(o);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be str, bytes or bytearray, not %.100s",
                     what, Py_TYPE(o)->tp_name);
        return -1;
    }
    if (!allow_nul && memchr(src, '\0', (size_t)n) != NULL) {
        PyErr_Format(PyExc_ValueError, "%s must not contain a NUL byte", what);
        goto fail;
    }
    b->p = malloc((size_t)n + 1);
    if (b->p == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    memcpy(b->p, src, (size_t)n);
    b->p[n] = '\0';
    b->n = (size_t)n;
    if (tmp != NULL) {
        pamlow_wipe_private_bytes(tmp);
        Py_DECREF(tmp);
    }
    return 0;
fail:
    if (tmp != NULL) {
        pamlow_wipe_private_bytes(tmp);
        Py_DECREF(tmp);
    }
    return -1;
}

int
pamlow_buf_from(PyObject *o, pamlow_buf *b, const char *what, int allow_none)
{
    if (o == Py_None) {
        b->p = NULL;
        b->n = 0;
        if (allow_none)
            return 0;
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not None", what);
        return -1;
    }
    return pamlow_buf_from_any(o, b, what, 0);
}

void
pamlow_buf_free(pamlow_buf *b)
{
    if (b->p != NULL) {
        pamlow_wipe(b->p, b->n);
        free(b->p);
    }
    b->p = NULL;
    b->n = 0;
}
