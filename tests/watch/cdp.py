"""One headless Chromium page driven over the DevTools protocol, for what --dump-dom cannot do: watch one
page over real time (its server dies while it is open). Only Runtime.evaluate and Page.navigate are used.

websockets comes with web3 (a dependency of belt_gate); its synchronous client is enough here.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.watch.browser import FLAGS, chromium


class Page:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self._ids)
        self._ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv(timeout=30))
            if msg.get("id") == n:
                assert "error" not in msg, f"{method}: {msg['error']}"
                result: dict[str, Any] = msg.get("result", {})
                return result

    def eval(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in r, f"{expression}: {r['exceptionDetails']}"
        return r["result"].get("value")

    def html(self) -> str:
        """The DOM now (what --dump-dom prints)."""
        return str(self.eval("document.documentElement.outerHTML"))

    def reload(self) -> None:
        """A fresh load of the page (its scripts start again from nothing)."""
        self.call("Page.reload", ignoreCache=True)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll `expression` until it is truthy (a condition with a deadline, not a sleep)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.eval(expression)
            except AssertionError:  # e.g. the document is not there yet
                value = None
            if value:
                return value
            assert time.monotonic() < deadline, f"not true within {timeout} s: {expression}"
            time.sleep(0.1)


@contextlib.contextmanager
def page(url: str, size: str = "1500,1000") -> Iterator[Page]:
    """A page at `url` in its own headless Chromium, stopped (by its pid) afterwards."""
    with tempfile.TemporaryDirectory(prefix="belt-cdp-") as profile:
        proc = subprocess.Popen(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                f"--window-size={size}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            deadline = time.monotonic() + 60
            port = None
            while port is None:
                line = proc.stderr.readline()
                m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
                if m:
                    port = int(m.group(1))
                assert line or proc.poll() is None, "chromium exited before DevTools listened"
                assert time.monotonic() < deadline, "chromium's DevTools did not start within 60 s"
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
            with connect(ws_url, max_size=None, open_timeout=20) as ws:
                p = Page(ws)
                p.call("Page.navigate", url=url)
                yield p
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
