"""Headless Chromium (Debian's package) driven through the DevTools protocol over a WebSocket.

Started with a fresh profile and no background traffic; stopped by its PID.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import pytest
from support import stop_process
from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path(os.environ.get("KUBEMCP_CHROMIUM", "/usr/bin/chromium"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class Chromium:
    def __init__(self, profile: Path, width: int = 1280, height: int = 900) -> None:
        if not CHROMIUM.is_file():
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
        self.profile = profile
        self.width, self.height = width, height
        self.process: subprocess.Popen[bytes] | None = None
        self.page: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._log: IO[bytes] | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Chromium:
        try:
            return self._start()
        except BaseException:
            self.__exit__()  # never leave a browser behind
            raise

    def _start(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        self._log = (self.profile / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}",
             "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )  # fmt: skip
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.profile / "chromium.log").read_text(errors="replace")
                raise AssertionError(f"chromium did not start:\n{log[-2000:]}")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        page = next(target for target in targets if target["type"] == "page")
        self.page = self._stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024))
        self.send("Emulation.setDeviceMetricsOverride",
                  width=self.width, height=self.height, deviceScaleFactor=1, mobile=False)  # fmt: skip
        return self

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.page is not None
        ident = next(self._ids)
        self.page.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.page.recv(timeout=30))
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def navigate(self, url: str) -> int:
        """Go to `url`; the HTTP status of the document (0 when none came)."""
        return self._next_document(lambda: self.send("Page.navigate", url=url))

    def leave(self, expression: str) -> int:
        """Run `expression` in the page, which leaves it (a form submitted, a reload); the HTTP status
        of the document it leads to (after any redirects)."""
        return self._next_document(lambda: self.evaluate(expression))

    def _next_document(self, go: Callable[[], object]) -> int:
        self.evaluate("window.kubemcpLeft = true")  # gone once the new document is there
        go()
        self.wait_for("!window.kubemcpLeft && document.readyState === 'complete'")
        status = self.evaluate("performance.getEntriesByType('navigation').map(e => e.responseStatus)[0] || 0")
        return int(status)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
            value = result["result"].get("value") if "exceptionDetails" not in result else None  # page still loading
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"not true within {timeout}s: {expression}")

    def screenshot(self, path: Path, full_page: bool = True) -> bytes:
        if full_page:
            height = int(self.evaluate("document.documentElement.scrollHeight"))
            self.send("Emulation.setDeviceMetricsOverride",
                      width=self.width, height=max(height, 200), deviceScaleFactor=1, mobile=False)  # fmt: skip
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        if self.process is not None:
            stop_process(self.process)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
