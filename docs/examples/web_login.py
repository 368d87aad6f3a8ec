"""A web login page whose passwords PAM checks (standard library only).

    python web_login.py [--service NAME] [--confdir DIR] [--host ADDR] [--port N]

GET / shows a form; POST /login checks the user name and password with
PAM and answers 200 (welcome), 403 (refused or expired password) or 503
(PAM failed: try later). Each request runs in its own thread, so one slow
PAM check does not hold up the others.
"""

from __future__ import annotations

import argparse
import html
import logging
import socketserver
import sys
import urllib.parse
from typing import Callable, Iterable, Optional
from wsgiref.simple_server import WSGIServer, make_server

from draxoft.auth import pam

log = logging.getLogger("web_login")

FORM = """<!doctype html>
<title>Log in</title>
<p>{message}</p>
<form method="post" action="/login">
  <label>User name <input name="user" autocomplete="username"></label>
  <label>Password
    <input name="password" type="password" autocomplete="current-password"></label>
  <button>Log in</button>
</form>
"""


def check_login(user: str, password: str, client_ip: str, service: str,
                confdir: Optional[str] = None) -> str:
    """Check a login with PAM: "ok", "refused", "expired" or "unavailable".

    "refused" covers a wrong password, an unknown user and an account
    that may not log in: the client must not learn which it was.
    """
    try:
        if pam.authenticate(user, password, service, rhost=client_ip, confdir=confdir):
            return "ok"
        return "refused"
    except ValueError:
        # A NUL byte in the user name or password: nobody has such a name.
        return "refused"
    except pam.PamError as e:
        if e.errno == pam.PAM_NEW_AUTHTOK_REQD:
            return "expired"
        # The stack itself failed (a module is missing, a directory server is
        # down...): that is for the administrator, not for the client.
        log.error("PAM failed checking %r from %s: %s", user, client_ip, e)
        return "unavailable"


ANSWERS = {
    "ok": ("200 OK", "Welcome, {user}."),
    "refused": ("403 Forbidden", "Wrong user name or password."),
    "expired": ("403 Forbidden",
                "Your password has expired. Change it, then log in again."),
    "unavailable": ("503 Service Unavailable",
                    "Logging in is not possible right now. Try again later."),
}


def make_app(service: str,
             confdir: Optional[str] = None) -> Callable[..., Iterable[bytes]]:
    """The WSGI application, checking logins against the PAM *service*."""

    def app(environ: dict, start_response: Callable[..., object]) -> Iterable[bytes]:
        message = "Please log in."
        status = "200 OK"
        if environ["PATH_INFO"] == "/login" and environ["REQUEST_METHOD"] == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            data = environ["wsgi.input"].read(min(size, 10_000))
            form = urllib.parse.parse_qs(data.decode("utf-8", "replace"))
            user = form.get("user", [""])[0]
            password = form.get("password", [""])[0]
            # The address of the client, not a host name (see the tutorial).
            client_ip = environ["REMOTE_ADDR"]
            result = check_login(user, password, client_ip, service, confdir)
            status, message = ANSWERS[result]
            message = message.format(user=user)
        elif environ["PATH_INFO"] != "/":
            status, message = "404 Not Found", "Nothing here."
        body = FORM.format(message=html.escape(message)).encode("utf-8")
        start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Length", str(len(body)))])
        return [body]

    return app


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request."""

    daemon_threads = True


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="A web login page checked by PAM.")
    parser.add_argument("--service", default="webapp",
                        help="the PAM service (default: webapp)")
    parser.add_argument("--confdir",
                        help="read the service from DIR instead of /etc/pam.d")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    app = make_app(args.service, args.confdir)
    with make_server(args.host, args.port, app, ThreadingWSGIServer) as server:
        print(f"Serving on http://{args.host}:{server.server_port}/", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
