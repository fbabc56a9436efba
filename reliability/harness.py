"""Gateway processes for the cases, and what is measured of them: RSS, open files, descendants."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp.client import Client
from support import GatewayProcess, isolated_env, pid_alive, probe_entry, write_catalog

from .figures import Row

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_WAIT = 20.0


def rss_mb(pid: int) -> float:
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return resident * PAGE_KB / 1024


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_wait_seconds(pid: int) -> float:
    """Seconds a process has spent runnable but waiting for a CPU (the kernel's schedstat run delay)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _in_flight(metrics: str) -> int:
    """Tool calls being answered inside the gateway now, from its /metrics text."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("kubemcp_tool_calls_in_flight{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def still_alive(pids: set[int], within: float = 15.0) -> set[int]:
    """The processes among `pids` still running after waiting (bounded) for them to end."""
    deadline = time.monotonic() + within
    left = {pid for pid in pids if pid_alive(pid)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {pid for pid in left if pid_alive(pid)}
    return left


class Gateway:
    """`kubemcp gateway run` for one case: started with `start`, ended with `stop` (SIGTERM) or `kill`;
    every process it started is remembered, so that leftovers can be counted afterwards."""

    def __init__(
        self,
        root: Path,
        entries: dict[str, dict[str, Any]],
        *extra: str,
        transport: str = "streaming",
        open_files: int | None = None,
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.catalog = write_catalog(root / "catalog.yaml", entries)
        args = ["--transport", transport, "--port", "0", "--catalog", str(self.catalog), *extra]
        self.process = GatewayProcess(args, root / "gateway.log", isolated_env(root), open_files=open_files)
        self.seen: set[int] = set()

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def base(self) -> str:
        return self.process.base

    @property
    def log(self) -> str:
        return self.process.log

    def alive(self) -> bool:
        return self.process.process is not None and self.process.process.poll() is None

    def start(self) -> Gateway:
        self.process.start(timeout=120)
        return self

    def remember(self) -> set[int]:
        if self.alive():
            self.seen |= descendants(self.pid)
        return self.seen

    @property
    def headers(self) -> dict[str, str]:
        """The bearer token every HTTP request carries (the gateway requires one by default)."""
        return self.process.headers

    def client(self, **options: Any) -> Client:
        """An SDK client of this gateway, with its token."""
        return self.process.client(**options)

    def http(self, **options: Any) -> httpx2.AsyncClient:
        """An HTTP client sending the gateway's token with every request."""
        return httpx2.AsyncClient(headers=self.headers, **options)

    def health(self) -> dict[str, Any]:
        found: dict[str, Any] = httpx2.get(f"{self.base}/health", headers=self.headers, timeout=30).json()
        return found

    def stop(self, sig: signal.Signals = signal.SIGTERM, within: float = STOP_WAIT) -> float | None:
        """Signal the gateway; seconds until it exited (None: it had to be killed after `within`)."""
        self.remember()
        process = self.process.process
        if process is None or process.poll() is not None:
            return 0.0
        started = time.monotonic()
        process.send_signal(sig)
        try:
            process.wait(timeout=within)
        except Exception:  # still running: the case reports it
            process.kill()
            process.wait()
            return None
        return time.monotonic() - started

    def leftovers(self) -> int:
        """Processes this gateway started that are still running after it stopped."""
        return len(still_alive(self.seen))


def probe(name: str = "probe", **extra: Any) -> dict[str, Any]:
    """The test probe server as a catalog entry, its tools declared (no discovery start)."""
    tools = ["echo", "sleep", "spawn_and_sleep", "cut_output", "crash", "whoami"]
    return probe_entry(name, tools=[{"name": tool, "description": f"probe tool {tool}"} for tool in tools], **extra)


@asynccontextmanager
async def sampled(gateway: Gateway, row: Row, every: float = 0.25) -> AsyncIterator[dict[str, float]]:
    """Sample the gateway's RSS, open files, admission queue and tool calls in flight while the body
    runs; record the peaks in `row` (RSS and fds as before → peak) and yield the running maxima of the
    health figures (`queued`, `running`, `in_flight`); once the body is done it also holds the CPU
    seconds the gateway (`gateway_cpu`) and the servers it started (`backend_cpu`) used meanwhile, and
    how long the gateway was runnable but waited for a CPU (`gateway_cpu_wait`)."""
    before_rss, before_fds = rss_mb(gateway.pid), open_fds(gateway.pid)
    peak_rss, peak_fds = before_rss, before_fds
    peaks: dict[str, float] = {"queued": 0, "running": 0, "in_flight": 0}
    gateway_cpu, gateway_wait = cpu_seconds(gateway.pid), cpu_wait_seconds(gateway.pid)
    backend_cpu: dict[int, float] = {}  # the last figure seen of each process below the gateway

    async def sample() -> None:
        nonlocal peak_rss, peak_fds
        async with gateway.http(timeout=10) as http:
            while True:
                peak_rss = max(peak_rss, rss_mb(gateway.pid))
                peak_fds = max(peak_fds, open_fds(gateway.pid))
                for pid in gateway.remember():
                    backend_cpu[pid] = max(backend_cpu.get(pid, 0.0), cpu_seconds(pid))
                try:
                    admission = (await http.get(f"{gateway.base}/health")).json()["admission"]
                    peaks["queued"] = max(peaks["queued"], admission["queued"])
                    peaks["running"] = max(peaks["running"], admission["running"])
                    peaks["in_flight"] = max(
                        peaks["in_flight"], _in_flight((await http.get(f"{gateway.base}/metrics")).text)
                    )
                except (httpx2.HTTPError, ValueError, KeyError):
                    pass
                await anyio.sleep(every)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sample)
        try:
            yield peaks
        finally:
            tg.cancel_scope.cancel()
    row.rss_mb = (before_rss, max(peak_rss, rss_mb(gateway.pid)))
    row.fds = (before_fds, max(peak_fds, open_fds(gateway.pid)))
    peaks["gateway_cpu"] = cpu_seconds(gateway.pid) - gateway_cpu
    peaks["gateway_cpu_wait"] = cpu_wait_seconds(gateway.pid) - gateway_wait
    peaks["backend_cpu"] = sum(backend_cpu.values())
