/*
 * draxoft.auth._pamlow: PAM's application API, mapped by typemaps.
 *
 * The declarations below are PAM's own (pam_appl.h); the typemaps say how
 * each kind of argument crosses:
 *
 *   Python                        C
 *   callable or None (conv)   ->  const struct pam_conv *  (pamlow_conv)
 *   callable or None (item)   ->  PAM_FAIL_DELAY's function (pamlow_delay)
 *   handle (a capsule)        ->  pam_handle_t *
 *   (rc, handle or None)      <-  int + pam_handle_t ** (pam_start)
 *   str / bytes / bytearray   ->  const char *, a private copy wiped after the call
 *   (rc, typed value)         <-  int + const void ** (pam_get_item)
 *   bytes / list of bytes     <-  const char * / char ** (environment)
 *
 * Functions keep their C names and return PAM codes; only misuse (a closed
 * handle, a wrong type, a NUL inside a string, a call on a handle that is
 * already in a call) raises. An exception raised by a callable is kept on
 * the handle by its trampoline and handed out by pamlow_take_error() once
 * the PAM call has returned.
 *
 * The handle is a capsule, which does not take part in garbage collection,
 * so the layer above must hand it callables that do not refer back to
 * their owner.
 */
%module(package="draxoft.auth", docstring="Thin SWIG map of the PAM C API; use draxoft.auth.pam instead.") _pamlow

%begin %{
#define PY_SSIZE_T_CLEAN
%}

/* The HAVE_* macros, for SWIG's own preprocessor: %import reads them
 * without wrapping anything. */
%import "config.h"

%{
#include "config.h"
#include "pamlow.h"
#ifdef HAVE_OPENPAM_POLICY_PATH
/* OpenPAM has no pam_start_confdir, and its policy path is process-wide:
 * every pam_start of the binding goes through the one function that
 * swaps that path under a lock (pamlow_openpam.c). */
#define pam_start(service, user, conv, pamh) \
    pamlow_openpam_start_confdir((service), (user), (conv), NULL, (pamh))
#define pam_start_confdir pamlow_openpam_start_confdir
#endif
%}

/* A binding may leave a Python exception set and return a dummy value;
 * turn that into a raise. */
%exception {
    $action
    if (PyErr_Occurred()) SWIG_fail;
}

/* Calls that can enter a module or read the file system run without the
 * GIL; the in-memory accessors keep it, which makes each of them atomic
 * for Python threads. */
%define PAMLOW_WITHOUT_GIL(function)
%exception function {
    Py_BEGIN_ALLOW_THREADS
    $action
    Py_END_ALLOW_THREADS
    if (PyErr_Occurred()) SWIG_fail;
}
%enddef

/* ---------------------------------------------------------------------
 * Callbacks: a Python callable becomes the conversation. The handle is
 * born here, since its address is the conversation's appdata_ptr.
 */
%typemap(in) const struct pam_conv *pam_conversation (pamlow_handle *h = NULL, struct pam_conv c) {
    if ((h = pamlow_handle_new($input)) == NULL) SWIG_fail;
    c.conv = pamlow_conv;
    c.appdata_ptr = h;
    $1 = &c;
}
/* A transaction that started belongs to its capsule; any other is freed. */
%typemap(freearg) const struct pam_conv *pam_conversation {
    if (h$argnum != NULL && h$argnum->pamh == NULL) pamlow_handle_free(h$argnum);
}

/* pam_start's handle comes back beside the code: (rc, handle or None). */
%typemap(in, numinputs=0) pam_handle_t **pamh (pam_handle_t *started = NULL) {
    $1 = &started;
}
%typemap(argout) pam_handle_t **pamh {
    if (($result = pamlow_handle_started($result, result, started$argnum)) == NULL) SWIG_fail;
}

/* ---------------------------------------------------------------------
 * Handles. OPEN: an open handle. CALL: an open handle that is not already
 * in a call, for an operation. END: the same, closed before pam_end runs
 * (so callbacks that pam_end runs see a closed handle). OPEN_OR_NULL:
 * also None, for pam_strerror.
 */
%typemap(in) pam_handle_t *OPEN (pamlow_handle *h) {
    if ((h = pamlow_handle_from($input, 0)) == NULL) SWIG_fail;
    $1 = h->pamh;
}
%typemap(in) pam_handle_t *OPEN_OR_NULL {
    pamlow_handle *h = NULL;
    if ($input != Py_None && (h = pamlow_handle_from($input, 0)) == NULL) SWIG_fail;
    $1 = h != NULL ? h->pamh : NULL;
}
%typemap(in) pam_handle_t *CALL (pamlow_handle *h = NULL) {
    pamlow_handle *o = pamlow_handle_from($input, 0);
    if (o == NULL || pamlow_handle_enter(o, 1) < 0) SWIG_fail;
    h = o;
    $1 = h->pamh;
}
%typemap(argout) pam_handle_t *CALL {
    h$argnum->last_status = result;
}
%typemap(freearg) pam_handle_t *CALL {
    if (h$argnum != NULL) pamlow_handle_leave(h$argnum);
}
%typemap(in) pam_handle_t *END (pamlow_handle *h = NULL) {
    pamlow_handle *o = pamlow_handle_from($input, 0);
    if (o == NULL || pamlow_handle_enter(o, 0) < 0) SWIG_fail;
    h = o;
    $1 = h->pamh;
}
/* "check" runs once every argument is converted: nothing can fail
 * between closing the handle and calling pam_end. */
%typemap(check) pam_handle_t *END {
    h$argnum->pamh = NULL;
}
%typemap(freearg) pam_handle_t *END {
    if (h$argnum != NULL) {
        pamlow_handle_leave(h$argnum);
        if (h$argnum->pamh == NULL) pamlow_handle_ended(h$argnum);
    }
}

/* ---------------------------------------------------------------------
 * Strings: str (UTF-8, surrogateescape) or bytes-like, copied into a
 * private buffer that is wiped when the call is over.
 */
%typemap(in) const char *STR (pamlow_buf buf = {NULL, 0}) {
    if (pamlow_buf_from($input, &buf, "$1_name", 0) < 0) SWIG_fail;
    $1 = buf.p;
}
%typemap(freearg) const char *STR {
    pamlow_buf_free(&buf$argnum);
}
%typemap(in) const char *OPTSTR (pamlow_buf buf = {NULL, 0}) {
    if (pamlow_buf_from($input, &buf, "$1_name", 1) < 0) SWIG_fail;
    $1 = buf.p;
}
%typemap(freearg) const char *OPTSTR {
    pamlow_buf_free(&buf$argnum);
}
%apply const char *STR { const char *service_name, const char *confdir, const char *name, const char *name_value };
%apply const char *OPTSTR { const char *user };

/* What the environment gives back: bytes, None, a list of bytes. */
%typemap(out) const char *ENV {
    $result = $1 != NULL ? PyBytes_FromString($1) : (Py_INCREF(Py_None), Py_None);
}
%typemap(out) char **ENVLIST {
    $result = pamlow_envlist_out($1);
}
/* pam_strerror's text, as str; PAM may not know the code. */
%typemap(out) const char *TEXT {
    $result = $1 != NULL ? PyUnicode_DecodeUTF8($1, (Py_ssize_t)strlen($1), "surrogateescape")
                         : PyUnicode_FromFormat("PAM error %d", arg2);
}

/* ---------------------------------------------------------------------
 * Items, typed by the item number. Reading: pamlow_item_out.
 */
%typemap(in, numinputs=0) const void **item (const void *value = NULL) {
    $1 = ($1_ltype)&value;
}
%typemap(argout) const void **item {
    Py_DECREF($result);
    $result = pamlow_item_out(h1, arg2, result, value$argnum);
    if ($result == NULL) SWIG_fail;
}
/* Setting: the two callback items give PAM a trampoline and keep the
 * callable on the handle (once PAM took it, in pamlow_item_settle):
 *   PAM_CONV: struct pam_conv {pamlow_conv, handle}; None keeps that in
 *     place and silences it, since PAM refuses a missing conversation;
 *   PAM_FAIL_DELAY: pamlow_delay, which Linux-PAM calls with the
 *     conversation's appdata_ptr; None removes it.
 * Strings and PAM_XAUTHDATA's (name, data) are typed by pamlow_item_from.
 * (h1 and arg2: SWIG's names for the converted handle and item number.) */
%typemap(in) const void *item (pamlow_item_in v = {0}) {
    v.h = h1;
    v.item = arg2;
    if (arg2 == PAM_CONV) {
        if (pamlow_callable_in(&v, $input, "conv") < 0) SWIG_fail;
        v.conv.conv = pamlow_conv;
        v.conv.appdata_ptr = h1;
        v.ptr = &v.conv;
        if (v.clear_callable) {
            v.answered = 1;
            v.rc = PAM_SUCCESS;
        }
    } else if (pamlow_is_delay_item(arg2)) {
        if (pamlow_callable_in(&v, $input, "delay") < 0) SWIG_fail;
        v.ptr = v.callable != NULL ? (const void *)pamlow_delay : NULL;
    } else if (pamlow_item_from(h1, arg2, $input, &v) < 0) {
        SWIG_fail;
    }
    $1 = ($1_ltype)v.ptr;
}
%typemap(freearg) const void *item {
    pamlow_item_in_free(&v$argnum);
}
/* Some values are answered without PAM (an item we cannot type, a service
 * that must not change); the rest are settled with our side after PAM
 * took them. (v3: SWIG names a typemap's local after its argument.) */
%exception pam_set_item {
    result = PAM_SUCCESS;
    if (!v3.answered) {
        $action
    }
    result = pamlow_item_settle(&v3, result);
    if (PyErr_Occurred()) SWIG_fail;
}

/* ---------------------------------------------------------------------
 * The API: PAM's declarations.
 */
%feature("autodoc", "pam_start(service_name: _Str, user: Optional[_Str], pam_conversation: _Conv) -> tuple[int, Optional[_Handle]]") pam_start;
PAMLOW_WITHOUT_GIL(pam_start)
int pam_start(const char *service_name, const char *user,
              const struct pam_conv *pam_conversation, pam_handle_t **pamh);
#ifdef PAMLOW_HAVE_CONFDIR
%feature("autodoc", "pam_start_confdir(service_name: _Str, user: Optional[_Str], pam_conversation: _Conv, confdir: _Str) -> tuple[int, Optional[_Handle]]") pam_start_confdir;
PAMLOW_WITHOUT_GIL(pam_start_confdir)
int pam_start_confdir(const char *service_name, const char *user,
                      const struct pam_conv *pam_conversation, const char *confdir,
                      pam_handle_t **pamh);
#endif

%apply pam_handle_t *END { pam_handle_t *pamh };
%feature("autodoc", "pam_end(pamh: _Handle, pam_status: int) -> int") pam_end;
PAMLOW_WITHOUT_GIL(pam_end)
int pam_end(pam_handle_t *pamh, int pam_status);
%clear pam_handle_t *pamh;

%apply pam_handle_t *CALL { pam_handle_t *pamh };
%feature("autodoc", "pam_authenticate(pamh: _Handle, flags: int) -> int") pam_authenticate;
%feature("autodoc", "pam_setcred(pamh: _Handle, flags: int) -> int") pam_setcred;
%feature("autodoc", "pam_acct_mgmt(pamh: _Handle, flags: int) -> int") pam_acct_mgmt;
%feature("autodoc", "pam_open_session(pamh: _Handle, flags: int) -> int") pam_open_session;
%feature("autodoc", "pam_close_session(pamh: _Handle, flags: int) -> int") pam_close_session;
%feature("autodoc", "pam_chauthtok(pamh: _Handle, flags: int) -> int") pam_chauthtok;
PAMLOW_WITHOUT_GIL(pam_authenticate)
PAMLOW_WITHOUT_GIL(pam_setcred)
PAMLOW_WITHOUT_GIL(pam_acct_mgmt)
PAMLOW_WITHOUT_GIL(pam_open_session)
PAMLOW_WITHOUT_GIL(pam_close_session)
PAMLOW_WITHOUT_GIL(pam_chauthtok)
int pam_authenticate(pam_handle_t *pamh, int flags);
int pam_setcred(pam_handle_t *pamh, int flags);
int pam_acct_mgmt(pam_handle_t *pamh, int flags);
int pam_open_session(pam_handle_t *pamh, int flags);
int pam_close_session(pam_handle_t *pamh, int flags);
int pam_chauthtok(pam_handle_t *pamh, int flags);
%clear pam_handle_t *pamh;

%apply pam_handle_t *OPEN { pam_handle_t *pamh };
%feature("autodoc", "pam_get_item(pamh: _Handle, item_type: int) -> tuple[int, Any]") pam_get_item;
int pam_get_item(pam_handle_t *pamh, int item_type, const void **item);
%feature("autodoc", "pam_set_item(pamh: _Handle, item_type: int, item: Any) -> int") pam_set_item;
int pam_set_item(pam_handle_t *pamh, int item_type, const void *item);

%apply const char *ENV { const char *pam_getenv };
%feature("autodoc", "pam_getenv(pamh: _Handle, name: _Str) -> Optional[bytes]") pam_getenv;
const char *pam_getenv(pam_handle_t *pamh, const char *name);
%feature("autodoc", "pam_putenv(pamh: _Handle, name_value: _Str) -> int") pam_putenv;
int pam_putenv(pam_handle_t *pamh, const char *name_value);
#ifdef HAVE_PAM_GETENVLIST
%apply char **ENVLIST { char **pam_getenvlist };
%feature("autodoc", "pam_getenvlist(pamh: _Handle) -> Optional[list[bytes]]") pam_getenvlist;
char **pam_getenvlist(pam_handle_t *pamh);
#endif
#ifdef HAVE_PAM_FAIL_DELAY_FN
%feature("autodoc", "pam_fail_delay(pamh: _Handle, musec_delay: int) -> int") pam_fail_delay;
int pam_fail_delay(pam_handle_t *pamh, unsigned int musec_delay);
#endif
%clear pam_handle_t *pamh;

%apply pam_handle_t *OPEN_OR_NULL { pam_handle_t *pamh };
%apply const char *TEXT { const char *pam_strerror };
%feature("autodoc", "pam_strerror(pamh: Optional[_Handle], errnum: int) -> str") pam_strerror;
const char *pam_strerror(pam_handle_t *pamh, int errnum);
%clear pam_handle_t *pamh;

/* ---------------------------------------------------------------------
 * What the layer above asks of the binding itself.
 */
%typemap(in) pamlow_handle *ANY {
    $1 = NULL;
    if ($input != Py_None && ($1 = pamlow_handle_from($input, 1)) == NULL) SWIG_fail;
}
%apply pamlow_handle *ANY { pamlow_handle *handle };
%feature("autodoc", "pamlow_take_error(handle: Optional[_Handle]) -> Optional[BaseException]") pamlow_take_error;
%feature("autodoc", "pamlow_implementation() -> Optional[str]") pamlow_implementation;
%feature("autodoc", "pamlow_extensions() -> tuple[str, ...]") pamlow_extensions;
%feature("autodoc", "pamlow_secret_bytes(value: _Str) -> bytearray") pamlow_secret_bytes;
%inline %{
/* The first exception a callback raised since the last take, or None;
 * a closed handle too, since pam_end runs callbacks. */
static PyObject *
pamlow_take_error(pamlow_handle *handle)
{
    PyObject *exc;

    if (handle == NULL || handle->error == NULL)
        Py_RETURN_NONE;
    exc = handle->error;
    handle->error = NULL;
    return exc;
}

/* A secret (a password going to an isolated worker) as a new bytearray
 * the caller can wipe: a str is encoded as every string that crosses to
 * PAM is, and the temporary copy that encoding makes is wiped here, which
 * Python code could not do. */
static PyObject *
pamlow_secret_bytes(PyObject *value)
{
    pamlow_buf b;
    PyObject *result;

    if (pamlow_buf_from_any(value, &b, "a secret", 1) < 0)
        return NULL;
    result = PyByteArray_FromStringAndSize(b.p, (Py_ssize_t)b.n);
    pamlow_buf_free(&b);
    return result;
}

/* "Linux-PAM", "OpenPAM", or None when configure did not know. */
static PyObject *
pamlow_implementation(void)
{
#ifdef PAMLOW_IMPLEMENTATION
    return PyUnicode_FromString(PAMLOW_IMPLEMENTATION);
#else
    Py_RETURN_NONE;
#endif
}

/* The optional features this build has, by name. */
static PyObject *
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
    if ((t = PyTuple_New(n)) == NULL)
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
%}

/* What the extension was built from (setup.py's source_digest()): the test
 * suite compares it with the tree it tests. */
%{
#ifndef PAMLOW_SOURCE_DIGEST
#define PAMLOW_SOURCE_DIGEST "unknown"
#endif
%}
%constant const char *PAMLOW_SOURCE_DIGEST = PAMLOW_SOURCE_DIGEST;

/* ---------------------------------------------------------------------
 * Constants: every PAM_* name the headers define, read by SWIG from the
 * headers themselves so that there is one source of truth. Nothing else
 * in them is wrapped.
 */
%rename("$ignore", %$isfunction) "";
%rename("$ignore", %$isclass) "";
%rename("$ignore", %$isvariable) "";
%rename("$ignore", %$istypedef) "";
%rename("$ignore", %$isconstant, notregexmatch$name="^PAM_") "";
%rename("$ignore", %$isenumitem, notregexmatch$name="^PAM_") "";
#if defined(HAVE_LINUX_PAM)
%include <security/_pam_types.h>
%include <security/pam_appl.h>
%include <security/pam_modules.h>
#elif defined(HAVE_OPENPAM)
/* OpenPAM ends its prototypes in GCC attributes from openpam_attr.h, which
 * SWIG's parser does not know: for SWIG alone they say nothing. */
#define OPENPAM_NONNULL(params)
#define OPENPAM_FORMAT(params)
#define OPENPAM_UNUSED(var) var
#  if defined(PAM_HEADER_DIR_PAM)
%include <pam/pam_constants.h>
%include <pam/pam_types.h>
%include <pam/pam_appl.h>
%include <pam/pam_modules.h>
#  else
%include <security/pam_constants.h>
%include <security/pam_types.h>
%include <security/pam_appl.h>
%include <security/pam_modules.h>
#  endif
#elif defined(PAM_HEADER_DIR_PAM)
%include <pam/pam_appl.h>
#else
%include <security/pam_appl.h>
#endif
