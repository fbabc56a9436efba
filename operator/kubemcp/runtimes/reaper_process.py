"""The reaper: a watchdog process that ends every local server process when its gateway is gone.

Run as `python -I -S reaper_process.py TOKEN` by `ProcessReaper`, with only the standard library. It
reads `+PGID` / `-PGID` lines from its stdin, which the gateway holds: when the gateway exits in any
way, SIGKILL included, the kernel closes that pipe and the reaper sees end of file. It then kills
every process group still registered and every process whose environment carries the gateway's
token (a server's children inherit it, also those that left the group), and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

TOKEN_VARIABLE = "KUBEMCP_REAP_TOKEN"  # noqa: S105 - a variable name, the token is random
SWEEPS = 5
SWEEP_PAUSE = 0.2


def _kill_group(pgid: int) -> None:
    if pgid <= 1 or pgid == os.getpgid(0):
        return
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


def _marked(marker: bytes) -> list[int]:
    """Processes of this user whose environment holds the marker (`/proc/PID/environ`)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                if marker in environ.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


def sweep(groups: set[int], token: str) -> None:
    for pgid in groups:
        _kill_group(pgid)
    marker = f"{TOKEN_VARIABLE}={token}".encode()
    for _ in range(SWEEPS):
        left = _marked(marker)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(OSError):
                _kill_group(os.getpgid(pid))
                os.kill(pid, signal.SIGKILL)
        time.sleep(SWEEP_PAUSE)


def main() -> None:
    token = sys.argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the gateway
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        text = line.strip().decode("ascii", errors="replace")
        if len(text) < 2 or not text[1:].isdigit():
            continue
        if text[0] == "+":
            groups.add(int(text[1:]))
        elif text[0] == "-":
            groups.discard(int(text[1:]))
    sweep(groups, token)


if __name__ == "__main__":
    main()
