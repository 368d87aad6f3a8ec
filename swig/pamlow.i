/*
 * draxoft.auth._pamlow: a thin map of the PAM application API.
 *
 * Functions keep their C names and return PAM codes; only misuse (a closed
 * handle, a wrong type, a NUL inside a string, a call on a handle that is
 * already in a call) raises. Python callables stand in for the conversation
 * and fail-delay functions through one C trampoline each (pamlow_callbacks.c).
 * An exception raised by a callable is kept on the handle and handed out
 * by pamlow_take_error() once the PAM call has returned.
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
%}

/* Every binding below may leave a Python exception set and return a dummy
 * value; turn that into a raise. */
%exception {
    $action
    if (PyErr_Occurred()) SWIG_fail;
}

/* ---------------------------------------------------------------------
 * Argument conversions.
 */

/* The handle travels as a capsule (see pamlow_api.c). A closed one is a
 * ValueError, as everywhere in the layer above. */
%typemap(in) pamlow_handle *OPEN {
    $1 = pamlow_handle_from($input, 0);
    if ($1 == NULL) SWIG_fail;
}

/* An open handle, or None (pam_strerror needs none). */
%typemap(in) pamlow_handle *OPEN_OR_NONE {
    $1 = NULL;
    if ($input != Py_None && ($1 = pamlow_handle_from($input, 0)) == NULL) SWIG_fail;
}

/* Any handle, closed too, or None: what a callback raised in pam_end is
 * still to be taken afterwards. */
%typemap(in) pamlow_handle *ANY {
    $1 = NULL;
    if ($input != Py_None && ($1 = pamlow_handle_from($input, 1)) == NULL) SWIG_fail;
}

/* Strings: str (UTF-8, surrogateescape) or bytes-like, copied into a
 * private buffer that is wiped when the call is over. */
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

%apply pamlow_handle *OPEN { pamlow_handle *h };
%apply pamlow_handle *OPEN_OR_NONE { pamlow_handle *h_or_none };
%apply const char *STR { const char *service, const char *confdir, const char *name, const char *name_value };
%apply const char *OPTSTR { const char *user };

/* ---------------------------------------------------------------------
 * The API. Each pamlow_X is exported under the C name pam_X.
 */
%rename(pam_start) pamlow_start;
%rename(pam_start_confdir) pamlow_start_confdir;
%rename(pam_end) pamlow_end;
%rename(pam_authenticate) pamlow_authenticate;
%rename(pam_setcred) pamlow_setcred;
%rename(pam_acct_mgmt) pamlow_acct_mgmt;
%rename(pam_open_session) pamlow_open_session;
%rename(pam_close_session) pamlow_close_session;
%rename(pam_chauthtok) pamlow_chauthtok;
%rename(pam_get_item) pamlow_get_item;
%rename(pam_set_item) pamlow_set_item;
%rename(pam_getenv) pamlow_getenv;
%rename(pam_putenv) pamlow_putenv;
%rename(pam_getenvlist) pamlow_getenvlist;
%rename(pam_strerror) pamlow_strerror;
%rename(pam_fail_delay) pamlow_fail_delay;

%feature("autodoc", "pam_start(service, user, conv) -> (rc, handle or None)") pamlow_start;
PyObject *pamlow_start(const char *service, const char *user, PyObject *conv);
#ifdef PAMLOW_HAVE_CONFDIR
%feature("autodoc", "pam_start_confdir(service, user, conv, confdir) -> (rc, handle or None)") pamlow_start_confdir;
PyObject *pamlow_start_confdir(const char *service, const char *user, PyObject *conv, const char *confdir);
#endif
%feature("autodoc", "pam_end(handle, status) -> rc; the handle is closed afterwards") pamlow_end;
int pamlow_end(pamlow_handle *h, int status);

int pamlow_authenticate(pamlow_handle *h, int flags);
int pamlow_setcred(pamlow_handle *h, int flags);
int pamlow_acct_mgmt(pamlow_handle *h, int flags);
int pamlow_open_session(pamlow_handle *h, int flags);
int pamlow_close_session(pamlow_handle *h, int flags);
int pamlow_chauthtok(pamlow_handle *h, int flags);

%feature("autodoc", "pam_get_item(handle, item) -> (rc, value)") pamlow_get_item;
PyObject *pamlow_get_item(pamlow_handle *h, int item);
%feature("autodoc", "pam_set_item(handle, item, value) -> rc") pamlow_set_item;
int pamlow_set_item(pamlow_handle *h, int item, PyObject *value);

%feature("autodoc", "pam_getenv(handle, name) -> bytes or None") pamlow_getenv;
PyObject *pamlow_getenv(pamlow_handle *h, const char *name);
%feature("autodoc", "pam_putenv(handle, 'NAME=value' or 'NAME') -> rc") pamlow_putenv;
int pamlow_putenv(pamlow_handle *h, const char *name_value);
#ifdef HAVE_PAM_GETENVLIST
%feature("autodoc", "pam_getenvlist(handle) -> list of b'NAME=value', or None") pamlow_getenvlist;
PyObject *pamlow_getenvlist(pamlow_handle *h);
#endif
%feature("autodoc", "pam_strerror(handle or None, code) -> str") pamlow_strerror;
PyObject *pamlow_strerror(pamlow_handle *h_or_none, int code);
#ifdef HAVE_PAM_FAIL_DELAY_FN
int pamlow_fail_delay(pamlow_handle *h, unsigned int usec);
#endif

%feature("autodoc", "pamlow_take_error(handle) -> the first exception a callback raised since the last take, or None") pamlow_take_error;
%apply pamlow_handle *ANY { pamlow_handle *any };
PyObject *pamlow_take_error(pamlow_handle *any);
%feature("autodoc", "pamlow_implementation() -> 'Linux-PAM', 'OpenPAM' or None") pamlow_implementation;
PyObject *pamlow_implementation(void);
%feature("autodoc", "pamlow_extensions() -> tuple of the optional features this build has") pamlow_extensions;
PyObject *pamlow_extensions(void);

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
