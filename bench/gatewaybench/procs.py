"""Processes: CPU accounting from /proc and getrusage, and the served processes the benchmark starts."""

from __future__ import annotations

import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

import anyio

from .settings import KUBEMCP, PROBE, BenchError

READY_TIMEOUT = 180.0  # a shared machine under load can take minutes to start Python
STOP_TIMEOUT = 10.0
READY_LINE = re.compile(r"serving MCP on (http://[^\s\"]+)")

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def bench_token(folder: Path) -> tuple[str, Path]:
    """A bearer token and the tokens file (mode 0600) that grants it: the benchmark's gateways require one,
    as a gateway does by default."""
    token = secrets.token_urlsafe(32)
    tokens = folder / "tokens.env"
    tokens.write_text(f"bench={token}\n")
    tokens.chmod(0o600)
    return token, tokens


def proc_cpu(pid: int | None) -> tuple[float, float]:
    """CPU seconds of a live process and of its reaped children, from /proc (0 when it is gone)."""
    if pid is None:
        return 0.0, 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def children_of(pid: int, needle: str = "") -> list[int]:
    """Live child processes of `pid` whose command line contains `needle`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and needle in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_leftovers(pids: Sequence[int], owner: str, grace: float = 3.0) -> None:
    """End, by PID, any process of `pids` still running `grace` seconds after its parent stopped."""
    running = [pid for pid in pids if alive(pid)]
    if not running:
        return
    print(f"bench: {owner}: {len(running)} child process(es) outlived it: {running}", file=sys.stderr)
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        time.sleep(0.05)
        running = [pid for pid in running if alive(pid)]
    for pid in running:
        print(f"bench: {owner}: killing leftover process {pid}", file=sys.stderr)
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class ServedProcess:
    """A child process that announces `serving MCP on URL` on stderr; stopped by its PID."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.seen_children: set[int] = set()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.name} is not running")
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self) -> ServedProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=self.env
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            match = READY_LINE.search(self.log())
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            await anyio.sleep(0.05)
        raise BenchError(f"{self.name} did not become ready within {READY_TIMEOUT:.0f}s:\n{self.log()[-3000:]}")

    def children(self) -> list[int]:
        found = children_of(self.pid, str(PROBE)) if self.process is not None else []
        self.seen_children.update(found)
        return found

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            self.children()
            os.kill(process.pid, sig)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        kill_leftovers(sorted(self.seen_children), self.name)


def streaming_gateway(
    label: str, folder: Path, index: int, catalog: Path, tokens: Path, extra: Sequence[str] = ()
) -> ServedProcess:
    """A gateway serving `catalog` over streamable HTTP on a free loopback port, requiring the bench's token,
    with a home and cache of its own under `folder` (nothing read from the user's ~/.kubemcp)."""
    home = folder / f"gateway-{index}"
    env = {**os.environ, "KUBEMCP_HOME": str(home / "home"), "XDG_CACHE_HOME": str(home / "cache")}
    argv = [str(KUBEMCP), "gateway", "run", "--transport", "streaming", "--catalog", str(catalog), "--no-watch"]
    argv += ["--port", "0", "--host", "127.0.0.1", "--tokens-file", str(tokens), *extra]
    return ServedProcess(f"gateway {label}", argv, folder / f"gateway-{index}.log", env)
