"""The process reaper ends server process groups and marked processes once its gateway's pipe closes."""

from __future__ import annotations

import os
import subprocess
import time

from kubemcp.runtimes.reaper import ProcessReaper
from support import pid_alive


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if pid_alive(pid)]


def test_registered_groups_and_marked_processes_end_when_the_pipe_closes() -> None:
    reaper = ProcessReaper()
    env = {**os.environ, **reaper.environment}
    # A "server" leading its own group with a child in that group, and a marked process that left it.
    server = subprocess.Popen(
        ["sh", "-c", "sleep 600 & echo $!; wait"], stdout=subprocess.PIPE, env=env, start_new_session=True
    )
    assert server.stdout is not None
    child = int(server.stdout.readline())
    escaped = subprocess.Popen(["sleep", "600"], env=env, start_new_session=True)
    unrelated = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        reaper.watch(server.pid)
        assert reaper.pid is not None
        assert pid_alive(reaper.pid)
        reaper.close()  # what the kernel does for a gateway that is killed: the pipe closes
        server.wait(timeout=10)
        escaped.wait(timeout=10)
        assert _wait_gone([child]) == []
        assert pid_alive(unrelated.pid)  # only this gateway's processes
    finally:
        for process in (server, escaped, unrelated):
            if process.poll() is None:
                process.kill()
            process.wait()
        if server.stdout is not None:
            server.stdout.close()


def test_forgotten_groups_are_left_alone() -> None:
    reaper = ProcessReaper()
    server = subprocess.Popen(["sleep", "600"], start_new_session=True)  # not marked
    try:
        reaper.watch(server.pid)
        reaper.forget(server.pid)
        reaper.close()
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()
