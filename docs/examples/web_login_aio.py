"""A web login page whose passwords PAM checks, on asyncio (aiohttp).

    python web_login_aio.py [--service NAME] [--confdir DIR] [--host ADDR] [--port N]

The asyncio twin of web_login.py, with the same form, answers and status
codes. One event loop serves every request; draxoft.auth.pam.aio runs the
PAM calls in its worker threads, and awaits a failed login's fail delay on
the loop, so that a flood of wrong passwords holds no thread and slows
nobody else down.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import logging
import sys
from typing import Optional

from aiohttp import web

from draxoft.auth import pam
from draxoft.auth.pam import aio
from web_login import ANSWERS, FORM  # the pages of the threaded version

log = logging.getLogger("web_login_aio")


async def check_login(user: str, password: str, client_ip: Optional[str], service: str,
                      confdir: Optional[str] = None) -> str:
    """Check a login with PAM: "ok", "refused", "expired" or "unavailable"."""
    try:
        if await aio.authenticate(user, password, service,
                                  rhost=client_ip, confdir=confdir):
            return "ok"
        return "refused"
    except ValueError:
        # A NUL byte in the user name or password: nobody has such a name.
        return "refused"
    except pam.PamError as e:
        if e.errno == pam.PAM_NEW_AUTHTOK_REQD:
            return "expired"
        log.error("PAM failed checking %r from %s: %s", user, client_ip, e)
        return "unavailable"


def page(status: str, message: str) -> web.Response:
    """The form with a message, under an HTTP status like "403 Forbidden"."""
    text = FORM.format(message=html.escape(message))
    code = int(status.split()[0])
    return web.Response(status=code, text=text, content_type="text/html")


def make_app(service: str, confdir: Optional[str] = None) -> web.Application:
    """The aiohttp application, checking logins against the PAM *service*."""

    async def form(request: web.Request) -> web.Response:
        return page("200 OK", "Please log in.")

    async def login(request: web.Request) -> web.Response:
        fields = await request.post()
        user, password = str(fields.get("user", "")), str(fields.get("password", ""))
        # The address of the client, not a host name (see the tutorial).
        result = await check_login(user, password, request.remote, service, confdir)
        status, message = ANSWERS[result]
        return page(status, message.format(user=user))

    app = web.Application(client_max_size=10_000)
    app.add_routes([web.get("/", form), web.post("/login", login)])
    return app


async def serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(make_app(args.service, args.confdir))
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    host, port = runner.addresses[0][:2]
    print(f"Serving on http://{host}:{port}/", flush=True)
    try:
        await asyncio.Event().wait()  # until interrupted
    finally:
        await runner.cleanup()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="A web login page checked by PAM, on asyncio.")
    parser.add_argument("--service", default="webapp",
                        help="the PAM service (default: webapp)")
    parser.add_argument("--confdir",
                        help="read the service from DIR instead of /etc/pam.d")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
