#!/usr/bin/env python3
"""Build the HTML docs, look at every page in headless Chromium, and fail
when a code block of a tutorial needs horizontal scrolling.

Each page is opened at 1280 and at 400 CSS pixels wide (a laptop and a
phone); a full-page screenshot of each is written to the output directory
(docs/_build/screenshots by default), named after the page and the width:
``tutorials-web-login-1280.png``. For every code block (``pre``) the
script measures whether its text is wider than the block, and prints
every block that scrolls, with its widest line.

The exit status is 1 when a code block of a tutorial (docs/tutorials/)
scrolls sideways at 1280 pixels; blocks that scroll elsewhere, or at 400
pixels, where long lines cannot all fit, are reported and do not fail
(those at 400 pixels are counted, and listed with ``--verbose``).
``--strict`` fails on any page at 1280 pixels.

Needs Sphinx with the project's docs extra (``pip install '.[docs]'``),
Graphviz's ``dot`` and Chromium (Debian: ``apt-get install graphviz
chromium``). Chromium is driven through the DevTools protocol over a pair
of pipes (``--remote-debugging-pipe``), with no network and a fresh
profile; nothing outside this machine is contacted.

Usage: python scripts/docs-screenshots.py [--out DIR] [--html DIR] [--strict] [--verbose]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WIDTHS = (1280, 400)
CHECKED_WIDTH = 1280
HEIGHT = 900  # the window; screenshots cover the whole page
MAX_SHOT_HEIGHT = 16000  # Chromium cannot capture much taller in one piece
TIMEOUT = 30.0

# Run in each page once it has loaded: every code block whose text is wider
# than the block (it scrolls), and whether the page itself is too wide.
MEASURE = r"""
(() => {
  const blocks = [];
  let index = 0;
  for (const pre of document.querySelectorAll("article pre")) {
    index += 1;
    const overflow = pre.scrollWidth - pre.clientWidth;
    if (overflow <= 1) continue;
    const lines = pre.innerText.split("\n");
    const widest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
    const section = pre.closest("section");
    const title = section ? section.querySelector("h1, h2, h3, h4") : null;
    const heading = title ? title.textContent.replace(/[#\u00b6]\s*$/, "").trim() : "";
    blocks.push({index, overflow, width: pre.clientWidth, widest, heading});
  }
  return {
    blocks,
    count: document.querySelectorAll("article pre").length,
    pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
    height: document.documentElement.scrollHeight,
  };
})()
"""


class Chromium:
    """Headless Chromium, driven through the DevTools protocol on two pipes:
    it reads commands from its fd 3 and writes answers and events to fd 4,
    each a JSON text ended by a NUL byte."""

    def __init__(self, executable: str, profile: str) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        args = [
            executable,
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--mute-audio",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to sandbox as root

        def place_pipes() -> None:  # in the child: fd 3 and fd 4, as Chromium wants them
            # Out of the way first, in case a pipe already is fd 3 or 4.
            high_r = os.dup(to_child_r) if to_child_r < 5 else to_child_r
            high_w = os.dup(from_child_w) if from_child_w < 5 else from_child_w
            os.dup2(high_r, 3)  # inheritable; every other pipe end closes at exec
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Not close_fds: it would run after place_pipes and close 3 and 4.
            # Python's own descriptors are not inheritable anyway.
            close_fds=False,
            preexec_fn=place_pipes,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_child], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise TimeoutError(f"Chromium did not answer in {TIMEOUT:.0f} s")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (status {self.process.poll()})")
            self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(text)
        return message

    def send(self, method: str, params: Optional[dict[str, Any]] = None,
             session: Optional[str] = None) -> dict[str, Any]:
        """Run one command; its result. Events that come meanwhile are kept."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            command["sessionId"] = session
        os.write(self._to_child, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self._events.append(message)

    def wait_for(self, event: str, session: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, message in enumerate(self._events):
                if message.get("method") == event and message.get("sessionId") == session:
                    del self._events[i]
                    return
            message = self._read_message(deadline)
            if "method" in message:
                self._events.append(message)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_child)
        os.close(self._from_child)


def build(html: Path) -> None:
    """sphinx-build -W, as the test suite does."""
    print(f"building the HTML docs into {html}")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
         "-d", str(html.parent / "doctrees"), str(DOCS), str(html)],
        cwd=ROOT, check=False,
    )
    if done.returncode != 0:
        sys.exit("docs-screenshots: the HTML build failed")


def pages(html: Path) -> list[Path]:
    """Every page of the build, the generated index and search pages too."""
    skip = {"_static", "_sources", "_images"}
    return sorted(p for p in html.rglob("*.html") if not skip & set(p.relative_to(html).parts))


def find_chromium(given: Optional[str]) -> str:
    for name in ([given] if given else ["chromium", "chromium-browser", "google-chrome"]):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("docs-screenshots: Chromium not found (Debian: apt-get install chromium), or give --chromium")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_build" / "screenshots",
                        help="where the screenshots go (default: docs/_build/screenshots)")
    parser.add_argument("--html", type=Path, help="use this HTML build instead of building anew")
    parser.add_argument("--chromium", help="the Chromium executable (default: chromium on PATH)")
    parser.add_argument("--strict", action="store_true",
                        help="fail when a code block of any page scrolls at 1280 pixels")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list the code blocks that scroll at 400 pixels")
    args = parser.parse_args(argv)

    chromium_path = find_chromium(args.chromium)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    html = args.html.resolve() if args.html else out / "html"
    if not args.html:
        build(html)

    failures: list[str] = []
    notes: list[str] = []
    shots = 0
    with tempfile.TemporaryDirectory(prefix="docs-screenshots-") as profile:
        browser = Chromium(chromium_path, profile)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            browser.send("Page.enable", session=session)
            for page in pages(html):
                name = page.relative_to(html).with_suffix("").as_posix()
                tutorial = name.startswith("tutorials/")
                summary = []
                for width in WIDTHS:
                    browser.send("Emulation.setDeviceMetricsOverride",
                                 {"width": width, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
                                 session=session)
                    browser.send("Page.navigate", {"url": page.as_uri()}, session=session)
                    browser.wait_for("Page.loadEventFired", session)
                    browser.send("Runtime.evaluate", {"expression": "document.fonts.ready.then(() => true)",
                                                      "awaitPromise": True}, session=session)
                    found = browser.send("Runtime.evaluate", {"expression": MEASURE, "returnByValue": True},
                                         session=session)["result"]["value"]
                    height = min(int(found["height"]), MAX_SHOT_HEIGHT)
                    shot = browser.send("Page.captureScreenshot", {
                        "format": "png", "captureBeyondViewport": True,
                        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                    }, session=session)
                    (out / f"{name.replace('/', '-')}-{width}.png").write_bytes(base64.b64decode(shot["data"]))
                    shots += 1
                    summary.append(f"{width}px: {len(found['blocks'])}/{found['count']} blocks scroll")
                    if found["pageOverflow"] > 1:
                        notes.append(f"{name} at {width}px: the page is {found['pageOverflow']}px too wide")
                    for block in found["blocks"]:
                        where = (f"{name} at {width}px, code block {block['index']}"
                                 f" ({block['heading']}): {block['overflow']}px too wide for"
                                 f" {block['width']}px: {block['widest'].strip()[:90]}")
                        if width == CHECKED_WIDTH and (tutorial or args.strict):
                            failures.append(where)
                        elif width == CHECKED_WIDTH or args.verbose:
                            notes.append(where)
                print(f"  {name:32} " + "; ".join(summary))
        finally:
            browser.close()

    print(f"{shots} screenshots in {out}")
    for note in notes:
        print(f"note: {note}")
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        print(f"docs-screenshots: {len(failures)} code block(s) scroll sideways at {CHECKED_WIDTH}px")
        return 1
    print(f"docs-screenshots: no code block of the tutorials scrolls at {CHECKED_WIDTH}px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
