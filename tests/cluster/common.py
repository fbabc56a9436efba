"""Shared by the harness modules: the error type, log lines, running commands, bounded waits."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import procs


class ClusterError(RuntimeError):
    """The cluster could not be started or is not healthy."""


def log(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(argv), capture_output=True, text=True)
    if check and res.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


def wait(what: str, check: Callable[[], Any], timeout: float, watch: Sequence[str] = ()) -> Any:
    """Poll ``check`` until it returns something truthy; fail early when a watched process exits."""
    deadline = time.monotonic() + timeout
    last_err: Exception | None = None
    while time.monotonic() < deadline:
        for name in watch:
            if name not in procs.recorded():
                raise ClusterError(f"{name} exited while waiting for {what}:\n{procs.log_tail(name)}")
        try:
            res = check()
            if res:
                return res
        except Exception as e:
            last_err = e
        time.sleep(0.2)
    logs = "\n".join(f"--- {n} ---\n{procs.log_tail(n)}" for n in watch)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_err})\n{logs}")
