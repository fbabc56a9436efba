"""Local server processes end with their gateway, even when the gateway is killed (SIGKILL).

Each server runs in a process group of its own, which the gateway ends after every call. A gateway
that is killed cannot do that, and a server's children outlive their parent unless someone ends
them, so a small watchdog process (`reaper_process.py`) does it: the gateway registers each group
with it over a pipe, and when the pipe closes — the gateway is gone, however it went — the
watchdog kills the registered groups and every process carrying this gateway's token in its
environment.

Why a watchdog: `PR_SET_PDEATHSIG` must be set in the child between fork and exec (no `preexec_fn`
through anyio, or an extra exec per call) and covers only the direct child, not its children; a
subreaper dies with the gateway it lives in; cgroups need delegated write access a desktop user does
not have. The watchdog costs one small process per gateway and a pipe write per server start.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

from kubemcp.runtimes.reaper_process import TOKEN_VARIABLE

logger = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("reaper_process.py")
STOP_WAIT_SECONDS = 5.0


class ProcessReaper:
    def __init__(self) -> None:
        self.token = secrets.token_hex(12)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def environment(self) -> dict[str, str]:
        """The variable that marks a server (and its children) as this gateway's."""
        return {TOKEN_VARIABLE: self.token}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _write(self, line: str) -> None:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._process is not None
            assert self._process.stdin is not None
            try:
                self._process.stdin.write(line.encode())
                self._process.stdin.flush()
            except OSError as exc:
                logger.warning("the process reaper is not reachable (%s); starting another one", exc)
                self._start()

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SCRIPT), self.token],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's signals to the gateway's group do not reach it
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        logger.debug("started the process reaper (pid %d)", self._process.pid)

    def watch(self, pgid: int) -> None:
        self._write(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        with self._lock:
            running = self._process is not None and self._process.poll() is None
        if running:
            self._write(f"-{pgid}\n")

    def close(self) -> None:
        """Let the reaper go (it ends whatever is still registered) and wait for it."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
