"""tools/call latency and throughput of kubemcp against its baselines, all local processes on loopback.

Configurations, each in front of the same backend (tests/peers/probe_server.py, tool `echo`):

  (a)  the mcp SDK client straight to the backend over stdio, one long-lived session;
  (b)  through `kubemcp gateway run --transport streaming --long-lived` (streamable HTTP on 127.0.0.1);
  (b') the same gateway over stdio instead of HTTP (supplementary: separates transport cost from gateway cost);
  (c)  through `kubemcp gateway run --transport streaming` with the default per-call lifecycle;
  (d)  FastMCP's proxy, `fastmcp.server.create_proxy(<connected client>)`, over streamable HTTP on 127.0.0.1;
  spawn baseline: start the backend, complete the MCP handshake, make one call, close (what (c) does per call).

Every loop has a fixed number of calls and a time cap. The fast paths ((a), (b), (b'), (d)) and the
per-call paths ((c), spawn baseline) are measured in interleaved blocks, so load from other work on
the machine falls on every configuration alike. Results go to stdout and to docs/benchmarks.md, where
only the part between the gateway-bench marker comments is rewritten.

Run: `make bench` (= `.venv/bin/python bench/gateway_bench.py`); `--quick` is a short smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import math
import os
import platform
import pstats
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import yaml
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PROBE = REPO / "tests" / "peers" / "probe_server.py"
DOCS = REPO / "docs" / "benchmarks.md"
PYTHON = sys.executable
KUBEMCP = Path(PYTHON).parent / "kubemcp"

START_MARK = "<!-- gateway-bench:start -->"
END_MARK = "<!-- gateway-bench:end -->"
DOCS_HEADER = """# Benchmarks

Each section below is written by a script, which rewrites only the part between its own marker
comments; run the script again to refresh its numbers.
"""

TEXT = "kubemcp benchmark payload " + "x" * 38  # 64 bytes echoed by every call
CALL_TIMEOUT = 30.0  # seconds one call may take before the run fails
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
READY_LINE = re.compile(r"serving MCP on (http://[^\s\"]+)")

# Targets from the benchmark issue (reported, not asserted).
MAX_ADDED_P50_MS = 1.0
MIN_THROUGHPUT_RATIO = 1.5
MAX_PER_CALL_RATIO = 1.10

PER_CALL_BLOCK = 5  # sequential calls per round for (c) and the spawn baseline
PER_CALL_CONCURRENT_BLOCK = 20  # concurrent calls per round for them

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Op = Callable[[], Awaitable[None]]
Cpu = dict[str, float]  # role ("client", "intermediary", "backend") -> cumulative CPU seconds


class BenchError(RuntimeError):
    pass


# -- processes ---------------------------------------------------------------------------------


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
        found = children_of(self.pid) if self.process is not None else []
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


# -- configurations and measurements ---------------------------------------------------------------


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)  # sequential calls, ms
    seq_calls: int = 0
    seq_seconds: float = 0.0
    conc_calls: int = 0
    conc_seconds: float = 0.0
    conc_latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # role -> CPU seconds used during the sequential calls
    capped: list[str] = field(default_factory=list)
    protocol: str = "?"
    phases: list[tuple[float, float, float]] = field(default_factory=list)  # spawn baseline: start, call, close
    block_p50s: list[float] = field(default_factory=list)  # one per interleaved round, in round order
    block_seq_rates: list[float] = field(default_factory=list)
    block_conc_rates: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)

    @property
    def seq_rate(self) -> float:
        return self.seq_calls / self.seq_seconds if self.seq_seconds else math.nan

    @property
    def conc_rate(self) -> float:
        return self.conc_calls / self.conc_seconds if self.conc_seconds else math.nan

    def cpu_ms_per_call(self, role: str) -> float:
        if role not in self.cpu or not self.seq_calls:
            return math.nan
        return self.cpu[role] / self.seq_calls * 1000


@dataclass
class Config:
    key: str
    label: str
    make_client: Callable[[], Client]
    cpu: Callable[[], Cpu]
    shared_session: bool = False  # workers share one session (a stdio server has exactly one client)
    spawn_per_call: bool = False  # every call opens a new client, which starts its own server
    measured: Measured = field(default_factory=Measured)
    op: Op | None = None
    worker_ops: list[Op] = field(default_factory=list)
    session: Client | None = None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def call_echo(client: Client) -> None:
    with anyio.fail_after(CALL_TIMEOUT):
        result = await client.call_tool("echo", {"text": TEXT})
    block = result.content[0] if result.content else None
    if result.is_error or not isinstance(block, types.TextContent) or block.text != TEXT:
        raise BenchError(f"unexpected echo result: {result}")


async def spawn_and_call(make_client: Callable[[], Client], phases: list[tuple[float, float, float]]) -> None:
    """Start, handshake, call, close; records the three phases' durations (ms)."""
    with anyio.fail_after(CALL_TIMEOUT):
        t0 = time.perf_counter_ns()
        async with make_client() as client:
            t1 = time.perf_counter_ns()
            await call_echo(client)
            t2 = time.perf_counter_ns()
        t3 = time.perf_counter_ns()
    phases.append(((t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6))


async def prepare(config: Config, stack: AsyncExitStack, workers: int, warmup: int) -> None:
    """Open the sessions a configuration is measured on, and warm them up."""
    if config.spawn_per_call:
        async with config.make_client() as client:
            config.measured.protocol = client.protocol_version
            await call_echo(client)
        config.op = partial(spawn_and_call, config.make_client, config.measured.phases)
        config.worker_ops = [partial(spawn_and_call, config.make_client, [])] * workers  # phases: sequential only
        for _ in range(warmup):
            await config.op()
        config.measured.phases.clear()
        return
    main = await stack.enter_async_context(config.make_client())
    config.session = main
    config.measured.protocol = main.protocol_version
    config.op = partial(call_echo, main)
    if config.shared_session:
        sessions = [main] * workers
    else:
        sessions = [await stack.enter_async_context(config.make_client()) for _ in range(workers)]
    config.worker_ops = [partial(call_echo, session) for session in sessions]
    for _ in range(warmup):
        await config.op()
    for op in config.worker_ops:
        for _ in range(max(1, warmup // 10)):
            await op()


async def sequential_block(config: Config, count: int, cap: float) -> None:
    assert config.op is not None
    measured = config.measured
    deadline = time.monotonic() + cap
    before = config.cpu()
    started = time.perf_counter()
    block: list[float] = []
    for _ in range(count):
        if time.monotonic() > deadline:
            measured.capped.append(f"sequential block stopped by the {cap:.0f}s cap after {len(block)} calls")
            break
        t0 = time.perf_counter_ns()
        await config.op()
        block.append((time.perf_counter_ns() - t0) / 1e6)
    elapsed = time.perf_counter() - started
    measured.latencies += block
    measured.seq_seconds += elapsed
    measured.seq_calls += len(block)
    measured.block_p50s.append(percentile(block, 0.5))
    measured.block_seq_rates.append(len(block) / elapsed if elapsed else math.nan)
    after = config.cpu()
    for role, value in after.items():
        measured.cpu[role] = measured.cpu.get(role, 0.0) + value - before.get(role, 0.0)


async def concurrent_block(config: Config, count: int, cap: float) -> None:
    """`count` calls shared by the workers (each takes the next call until none is left)."""
    measured = config.measured
    deadline = time.monotonic() + cap
    left = count
    done = 0
    stopped = False

    async def worker(op: Op) -> None:
        nonlocal left, done, stopped
        while left > 0:
            if time.monotonic() > deadline:
                stopped = True
                return
            left -= 1
            t0 = time.perf_counter_ns()
            await op()
            measured.conc_latencies.append((time.perf_counter_ns() - t0) / 1e6)
            done += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for op in config.worker_ops:
            tg.start_soon(worker, op)
    elapsed = time.perf_counter() - started
    measured.conc_seconds += elapsed
    measured.conc_calls += done
    measured.block_conc_rates.append(done / elapsed if elapsed else math.nan)
    if stopped:
        measured.capped.append(f"concurrent block stopped by the {cap:.0f}s cap after {done} calls")


def split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def interleaved(
    configs: list[Config], total: int, blocks: int, run: Callable[[Config, int], Awaitable[None]]
) -> None:
    """Run `total` calls per configuration as `blocks` blocks, rotating which configuration goes first."""
    for index, count in enumerate(split(total, blocks)):
        shift = index % len(configs)
        for config in configs[shift:] + configs[:shift]:
            await run(config, count)


# -- profile -------------------------------------------------------------------------------------------

WAIT = "(waiting in epoll)"


def area_of(filename: str, function: str) -> str:
    if filename == "~":  # a builtin or C method: name it after the module that defines it
        if "poll" in function and ("select.epoll" in function or "selectors" in function):
            return WAIT
        owner = re.search(r"of '([\w.]+)' objects", function) or re.search(r"<built-in method ([\w.]+)", function)
        module = owner.group(1).split(".")[0].lstrip("_") if owner else "builtins"
        return f"{module} (C)"
    if "/site-packages/" in filename:
        parts = filename.split("/site-packages/", 1)[1].split("/")
        if parts[0] == "mcp" and len(parts) > 2:  # the SDK's server, client and shared halves apart
            return f"mcp/{parts[1]}"
        return parts[0].removesuffix(".py")
    if "/operator/kubemcp/" in filename:
        return "kubemcp"
    stdlib = re.search(r"/lib/python3\.\d+/([\w]+)", filename)
    if stdlib:
        return f"stdlib {stdlib.group(1)}"
    if filename.startswith("<frozen"):
        return "stdlib (frozen)"
    return filename


PROFILE_GROUPS = (
    ("event loop, tasks and streams (asyncio, anyio)", ("anyio", "stdlib asyncio", "asyncio (C)", "stdlib selectors")),
    ("HTTP serving (uvicorn, h11, starlette)", ("uvicorn", "h11", "starlette", "httptools", "sse_starlette")),
    (
        "MCP SDK and pydantic (validation, serialization)",
        ("mcp/", "mcp_types", "pydantic", "stdlib json", "json (C)"),
    ),
    ("kubemcp", ("kubemcp",)),
)


def profile_groups(profile: Profile) -> list[tuple[str, float]]:
    """Shares of the profiled CPU by layer; builtins and everything else as 'other'."""
    shares = dict.fromkeys([name for name, _ in PROFILE_GROUPS] + ["other (builtins, copy, tracing hooks, ...)"], 0.0)
    for area, seconds in profile.areas:
        group = next((name for name, prefixes in PROFILE_GROUPS if area.startswith(prefixes)), None)
        shares[group or "other (builtins, copy, tracing hooks, ...)"] += seconds / profile.total_seconds
    return list(shares.items())


def short_location(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    for marker in ("/site-packages/", "/operator/", "/lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line} {function}"


@dataclass
class Profile:
    calls: int
    total_seconds: float  # profiled CPU (wait excluded)
    wait_seconds: float
    areas: list[tuple[str, float]]
    functions: list[tuple[str, float, int]]  # by own time
    gateway_functions: list[tuple[str, float, int]]  # kubemcp's own functions, by cumulative time


def read_profile(path: Path, calls: int) -> Profile:
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.__dict__["stats"]
    areas: dict[str, float] = {}
    functions: list[tuple[str, float, int]] = []
    gateway_functions: list[tuple[str, float, int]] = []
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in raw.items():
        area = area_of(filename, function)
        areas[area] = areas.get(area, 0.0) + tottime
        if area != WAIT:
            functions.append((short_location(filename, line, function), tottime, ncalls))
        if area == "kubemcp":
            gateway_functions.append((short_location(filename, line, function), cumtime, ncalls))
    wait = areas.pop(WAIT, 0.0)
    return Profile(
        calls=calls,
        total_seconds=sum(areas.values()),
        wait_seconds=wait,
        areas=sorted(areas.items(), key=lambda item: -item[1]),
        functions=sorted(functions, key=lambda item: -item[1]),
        gateway_functions=sorted(gateway_functions, key=lambda item: -item[1]),
    )


# -- environment -------------------------------------------------------------------------------------


def version_of(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "operator"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + uncommitted changes under operator/' if dirty else ''}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def environment() -> dict[str, str]:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu_count": str(os.cpu_count()),
        "cpu": cpu_model(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": ", ".join(
            f"{name} {version_of(name)}"
            for name in ("kubemcp", "mcp", "fastmcp", "uvicorn", "starlette", "httpx2", "anyio", "pydantic")
        ),
        "git": git_state(),
        "load_start": load_average(),
    }


# -- report ------------------------------------------------------------------------------------------


def fmt(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def _minus(x: float, y: float) -> float:
    return x - y


def _ratio(x: float, y: float) -> float:
    return x / y if y else math.nan


def paired(xs: Sequence[float], ys: Sequence[float], combine: Callable[[float, float], float]) -> float:
    """The median over rounds of `combine(x, y)` for the two configurations' blocks of the same round."""
    return percentile([combine(x, y) for x, y in zip(xs, ys, strict=False)], 0.5)


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**MISS**"


@dataclass
class Report:
    env: dict[str, str]
    args: argparse.Namespace
    configs: dict[str, Config]
    profile: Profile | None
    notes: list[str]
    tool_count: int

    def m(self, key: str) -> Measured:
        return self.configs[key].measured

    def table(self) -> list[str]:
        workers = self.args.workers
        lines = [
            f"| Configuration | p50 ms | p99 ms | calls/s sequential | calls/s {workers} workers "
            "| client CPU ms/call | gateway or proxy CPU ms/call | backend CPU ms/call |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key in ("a", "b", "d", "b_stdio", "spawn", "c"):
            if key not in self.configs:
                continue
            config = self.configs[key]
            m = config.measured
            lines.append(
                f"| {config.label} | {fmt(m.p50)} | {fmt(m.p99)} | {fmt(m.seq_rate, 1)} | {fmt(m.conc_rate, 1)} "
                f"| {fmt(m.cpu_ms_per_call('client'))} | {fmt(m.cpu_ms_per_call('intermediary'))} "
                f"| {fmt(m.cpu_ms_per_call('backend'))} |"
            )
        return lines

    def targets(self) -> list[str]:
        a, b, c, d, spawn = (self.m(key) for key in ("a", "b", "c", "d", "spawn"))
        added = b.p50 - a.p50
        conc = b.conc_rate / d.conc_rate
        seq = b.seq_rate / d.seq_rate
        per_call = c.p50 / spawn.p50
        workers = self.args.workers
        rounds = len(b.block_p50s)
        return [
            "PASS/MISS is judged on the table's numbers (all calls of a configuration pooled). In brackets: the "
            f"median over the {rounds} interleaved rounds of the same comparison made within each round, which "
            "is less sensitive to load from other work that changed during the run.",
            "",
            f"- (b) p50 - (a) p50 = **{added:+.2f} ms** [{paired(b.block_p50s, a.block_p50s, _minus):+.2f} ms] "
            f"(target ≤ +{MAX_ADDED_P50_MS:.0f} ms): {verdict(added <= MAX_ADDED_P50_MS)}",
            f"- (b) ÷ (d) calls/s with {workers} concurrent workers = **{conc:.2f}x** "
            f"[{paired(b.block_conc_rates, d.block_conc_rates, _ratio):.2f}x] "
            f"(target ≥ {MIN_THROUGHPUT_RATIO}x): {verdict(conc >= MIN_THROUGHPUT_RATIO)}",
            f"- (b) ÷ (d) calls/s, sequential = **{seq:.2f}x** "
            f"[{paired(b.block_seq_rates, d.block_seq_rates, _ratio):.2f}x] (target ≥ {MIN_THROUGHPUT_RATIO}x): "
            f"{verdict(seq >= MIN_THROUGHPUT_RATIO)}",
            f"- (c) p50 ÷ spawn-and-initialize(+call) p50 = **{per_call:.3f}** ({per_call - 1:+.1%}) "
            f"[{paired(c.block_p50s, spawn.block_p50s, _ratio):.3f}] "
            f"(target within +{MAX_PER_CALL_RATIO - 1:.0%}): {verdict(per_call <= MAX_PER_CALL_RATIO)}",
            f"- (c) ÷ spawn baseline calls/s with {workers} concurrent workers = "
            f"{c.conc_rate / spawn.conc_rate:.3f} (information)",
        ]

    def findings(self) -> list[str]:
        """The facts each target's outcome rests on, computed from this run."""
        a, b, c, d, spawn = (self.m(key) for key in ("a", "b", "c", "d", "spawn"))
        nproc = int(self.env["nproc"])
        gateway_cpu = b.cpu_ms_per_call("intermediary")
        client_extra = b.cpu_ms_per_call("client") - a.cpu_ms_per_call("client")
        added = b.p50 - a.p50
        on_path = gateway_cpu + client_extra
        lines = [
            f"- (b) vs (a): per call, the gateway process uses {gateway_cpu:.2f} ms of CPU and the HTTP client "
            f"{client_extra:+.2f} ms more client CPU than the stdio client of (a); together {on_path:.2f} ms, "
            f"against {added:.2f} ms of added p50 latency"
            + (
                ": the added latency is CPU work on the request path."
                if on_path >= 0.75 * added
                else "; the rest is waiting (scheduling on a busy machine, wake-ups between processes)."
            )
        ]
        if "b_stdio" in self.configs:
            b_stdio = self.m("b_stdio")
            stdio_cpu = b_stdio.cpu_ms_per_call("intermediary")
            lines.append(
                f"- Without HTTP, the same gateway over stdio (b') adds {b_stdio.p50 - a.p50:+.2f} ms p50 "
                f"[{paired(b_stdio.block_p50s, a.block_p50s, _minus):+.2f} ms] and uses {stdio_cpu:.2f} ms gateway "
                f"CPU per call, against {gateway_cpu:.2f} ms over streamable HTTP: a budget of "
                f"+{MAX_ADDED_P50_MS:.0f} ms is exceeded by the gateway's request path alone, before HTTP."
                if stdio_cpu > MAX_ADDED_P50_MS
                else f"- Without HTTP, the same gateway over stdio (b') adds {b_stdio.p50 - a.p50:+.2f} ms p50 "
                f"and uses {stdio_cpu:.2f} ms gateway CPU per call, against {gateway_cpu:.2f} ms over HTTP."
            )
        if self.profile is not None:
            groups = ", ".join(f"{name} {share:.0%}" for name, share in profile_groups(self.profile))
            lines.append(f"- Where the gateway's CPU goes (profile below): {groups}.")
            listing = next((f for f in self.profile.gateway_functions if f[0].endswith(" build_listing")), None)
            if listing is not None:
                lines.append(
                    f"- The gateway rebuilds its whole tool listing {listing[2] / self.profile.calls:.0f} times per "
                    f"tool call (`build_listing`, {listing[1] / self.profile.total_seconds:.1%} of its profiled "
                    f"CPU here, with one server of {self.tool_count} tools; the cost grows with the number of "
                    "served tools)."
                )
        total_b, total_d = self._total_cpu(b), self._total_cpu(d)
        needed = total_d / MIN_THROUGHPUT_RATIO - (total_b - gateway_cpu)
        lines.append(
            f"- (b) vs (d): FastMCP's proxy uses {d.cpu_ms_per_call('intermediary'):.2f} ms CPU per call, the "
            f"gateway {gateway_cpu:.2f} ms. Client, intermediary and backend share {nproc} CPUs, so calls/s under "
            f"load is bounded by the CPU per call of the whole chain: (b) {total_b:.2f} ms, (d) {total_d:.2f} ms "
            f"(at most {1000 * nproc / total_b:.0f} and {1000 * nproc / total_d:.0f} calls/s on an idle machine). "
            f"For {MIN_THROUGHPUT_RATIO}x (d), the gateway would have to use at most {needed:.2f} ms per call."
        )
        if spawn.phases:
            start, call, close = (percentile([phase[i] for phase in spawn.phases], 0.5) for i in range(3))
            lines.append(
                f"- (c) vs the spawn baseline: the baseline's p50 phases are start + handshake {start:.0f} ms, "
                f"call {call:.1f} ms, close (stdin closed, exit awaited) {close:.0f} ms; (c) is "
                f"{c.p50 - spawn.p50:+.0f} ms from it at p50. The started backend uses "
                f"{c.cpu_ms_per_call('backend'):.0f} ms CPU per call under the gateway and "
                f"{spawn.cpu_ms_per_call('backend'):.0f} ms in the baseline: Python start-up and imports dominate."
            )
        return lines

    @staticmethod
    def _total_cpu(m: Measured) -> float:
        return sum(m.cpu_ms_per_call(role) for role in ("client", "intermediary", "backend") if role in m.cpu)

    def profile_lines(self) -> list[str]:
        profile = self.profile
        if profile is None:
            return []
        per_call = profile.total_seconds / profile.calls * 1000
        lines = [
            "### Where the gateway's time goes, path (b)",
            "",
            f"cProfile (clock: process CPU time) of a separate long-lived gateway over streamable HTTP during "
            f"{profile.calls} sequential calls, start-up and warm-up excluded: {per_call:.2f} ms of profiled CPU "
            "per call, inflated by the profiler itself, so read the shares. By package (C functions are listed "
            "under the module that defines them):",
            "",
            "| Package | share | profiled ms/call |",
            "|---|---:|---:|",
        ]
        for name, seconds in profile.areas[:12]:
            lines.append(f"| {name} | {seconds / profile.total_seconds:.1%} | {seconds / profile.calls * 1000:.3f} |")
        lines += ["", "Top functions by own time:", "", "| Function | share | calls per tool call |", "|---|---:|---:|"]
        for location, seconds, ncalls in profile.functions[:15]:
            lines.append(f"| `{location}` | {seconds / profile.total_seconds:.1%} | {ncalls / profile.calls:.1f} |")
        lines += [
            "",
            "The gateway's own functions by cumulative time (including what they call; a coroutine is entered "
            "again at every resumption):",
            "",
            "| Function | cumulative share | entries per tool call |",
            "|---|---:|---:|",
        ]
        for location, seconds, ncalls in profile.gateway_functions[:10]:
            lines.append(f"| `{location}` | {seconds / profile.total_seconds:.1%} | {ncalls / profile.calls:.1f} |")
        return lines

    def markdown(self) -> str:
        opts = self.args
        command = shlex.join([".venv/bin/python", "bench/gateway_bench.py", *sys.argv[1:]])
        protocols = ", ".join(f"{key} {config.measured.protocol}" for key, config in self.configs.items())
        lines = [
            "## Gateway (local processes)",
            "",
            f"Measured {self.env['date']} by `{command}`" + (" (`make bench`)" if not sys.argv[1:] else "") + ".",
            "",
            f"- Machine: {self.env['nproc']} CPUs available (nproc; os.cpu_count {self.env['cpu_count']}), "
            f"{self.env['cpu']}, {self.env['kernel']}; load average (1/5/15 min) {self.env['load_start']} "
            f"at start, {self.env['load_end']} at end (other work was running).",
            f"- Python {self.env['python']}; {self.env['versions']}; gateway source at git {self.env['git']}.",
            f"- Backend: `tests/peers/probe_server.py` (mcp SDK `MCPServer`, stdio), tool `echo` with a "
            f"{len(TEXT)}-byte text; protocol negotiated: {protocols}.",
            f"- Latency: {opts.calls} sequential calls per fast configuration ((a), (b), (b'), (d)) after "
            f"{opts.warmup} warm-up calls, {opts.per_call_calls} per per-call configuration ((c), spawn baseline); "
            f"p50/p99 over those calls; 'calls/s sequential' is calls ÷ wall time of the same loop.",
            f"- Throughput: 'calls/s {opts.workers} workers' runs {opts.concurrent_calls} calls "
            f"({opts.per_call_calls} for (c) and the spawn baseline) shared by {opts.workers} concurrent workers. "
            "Over HTTP each worker has its own client session; over stdio ((a), (b')) the workers share the one "
            "session a stdio server has. The spawn baseline's workers each start their own backend per call.",
            f"- Calls run in interleaved rounds, one block per configuration per round in rotating order, so "
            "load from other work hits all configurations alike: the fast configurations in "
            f"{opts.rounds} rounds (sequential, then concurrent), the per-call ones in rounds of "
            f"{PER_CALL_BLOCK} sequential and {PER_CALL_CONCURRENT_BLOCK} concurrent calls. Every loop has a fixed "
            "count and a "
            f"{opts.cap:.0f} s time cap. CPU columns: user+system CPU of each process during the sequential "
            "calls ÷ calls (client = this script; for (c) and the spawn baseline, backend = the reaped backend "
            "processes).",
            "- (d) is `fastmcp.server.create_proxy(client)` over an already connected `fastmcp.Client` "
            "(stdio to the same backend), so like (b) it keeps one backend session for all calls; it is served "
            'by `run_http_async(transport="http")` from a separate process, as the gateway is.',
            "",
            *self.table(),
            "",
            "### Targets (measured in this run, against baselines from this run)",
            "",
            *self.targets(),
            "",
            "### Findings",
            "",
            *self.findings(),
            *self.notes,
            "",
            *self.profile_lines(),
        ]
        capped = [f"- {config.label}: {note}" for config in self.configs.values() for note in config.measured.capped]
        if capped:
            lines += ["", "### Stopped by a time cap", "", *capped]
        return "\n".join(lines).rstrip() + "\n"


def write_docs(path: Path, section: str) -> None:
    block = f"{START_MARK}\n{section.rstrip()}\n{END_MARK}\n"
    if path.exists():
        text = path.read_text()
        start, end = text.find(START_MARK), text.find(END_MARK)
        if start != -1 and end > start:
            text = text[:start] + block + text[end + len(END_MARK) :].lstrip("\n")
            if not text.endswith("\n"):
                text += "\n"
        else:
            text = text.rstrip() + "\n\n" + block
    else:
        text = DOCS_HEADER + "\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- the run ---------------------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def stdio_params(command: list[str], env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=command[0], args=command[1:], env=env)


async def profile_gateway(args: argparse.Namespace, work: Path, catalog: Path, env: dict[str, str]) -> Profile:
    stats_file = work / "gateway.prof"
    gateway = ServedProcess(
        "profiled gateway",
        [
            PYTHON,
            str(BENCH / "profiled_gateway.py"),
            str(stats_file),
            *gateway_args(catalog, "streaming", long_lived=True),
        ],
        work / "profiled-gateway.log",
        env,
    )
    try:
        await gateway.start()
        async with Client(gateway.url, mode=args.mode) as client:
            for _ in range(args.warmup):
                await call_echo(client)
            os.kill(gateway.pid, signal.SIGUSR1)
            await anyio.sleep(0.2)
            deadline = time.monotonic() + args.cap
            done = 0
            for _ in range(args.profile_calls):
                if time.monotonic() > deadline:
                    break
                await call_echo(client)
                done += 1
            os.kill(gateway.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 20
        while not stats_file.exists() and time.monotonic() < deadline:
            await anyio.sleep(0.1)
        await anyio.sleep(0.5)
        if not stats_file.exists():
            raise BenchError("the profiled gateway wrote no stats")
        if args.keep_profile is not None:
            args.keep_profile.write_bytes(stats_file.read_bytes())
        return read_profile(stats_file, done)
    finally:
        gateway.stop()


def gateway_args(catalog: Path, transport: str, *, long_lived: bool) -> list[str]:
    args = ["gateway", "run", "--transport", transport, "--catalog", str(catalog), "--no-watch"]
    if transport != "stdio":
        args += ["--port", "0", "--host", "127.0.0.1"]
    if long_lived:
        args += ["--long-lived", "--idle-timeout", "3600"]
    return args


async def run(args: argparse.Namespace) -> Report:
    env_info = environment()
    for key, value in env_info.items():
        progress(f"{key}: {value}")
    backend_command = [PYTHON, str(PROBE), "probe"]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kubemcp-bench-") as tmp:
        work = Path(tmp)
        catalog = work / "catalog.yaml"
        catalog.write_text(
            yaml.safe_dump(
                {
                    "version": 2,
                    "name": "bench",
                    "registry": {
                        "probe": {"description": "benchmark backend", "process": {"command": backend_command}}
                    },
                },
                sort_keys=False,
            )
        )
        # The gateways read nothing from the user's ~/.kubemcp and write their discovery cache here.
        env = {**os.environ, "KUBEMCP_HOME": str(work / "home"), "XDG_CACHE_HOME": str(work / "cache")}
        passed = ("PATH", "HOME", "LANG", "KUBEMCP_HOME", "XDG_CACHE_HOME")
        stdio_env: dict[str, str] = {key: env[key] for key in passed if key in env}

        long_lived = ServedProcess(
            "gateway (long-lived)",
            [str(KUBEMCP), *gateway_args(catalog, "streaming", long_lived=True)],
            work / "gateway-long-lived.log",
            env,
        )
        per_call = ServedProcess(
            "gateway (per call)",
            [str(KUBEMCP), *gateway_args(catalog, "streaming", long_lived=False)],
            work / "gateway-per-call.log",
            env,
        )
        proxy = ServedProcess(
            "fastmcp proxy",
            [PYTHON, str(BENCH / "fastmcp_proxy.py"), *backend_command],
            work / "fastmcp-proxy.log",
            env,
        )
        servers = [long_lived, per_call, proxy]
        direct_pids: set[int] = set()
        try:
            for server in servers:
                await server.start()
                progress(f"{server.name} (pid {server.pid}) serving on {server.url}")

            pids: dict[str, int | None] = {}

            def backend_of(server: ServedProcess) -> int | None:
                found = server.children()
                return found[0] if found else None

            def direct_backend() -> int | None:
                served = {server.pid for server in servers}
                found = [pid for pid in children_of(os.getpid(), str(PROBE)) if pid not in served]
                direct_pids.update(found)
                return found[0] if found else None

            def stdio_gateway() -> int | None:
                found = children_of(os.getpid(), "--transport stdio")
                direct_pids.update(found)
                return found[0] if found else None

            fast = [
                Config(
                    "a",
                    "(a) SDK client → backend, stdio",
                    partial(Client, stdio_params(backend_command), mode=args.mode),
                    lambda: {"client": own_cpu(), "backend": proc_cpu(pids["a"])[0]},
                    shared_session=True,
                ),
                Config(
                    "b",
                    "(b) kubemcp, long-lived backend, streamable HTTP",
                    partial(Client, long_lived.url, mode=args.mode),
                    lambda: {
                        "client": own_cpu(),
                        "intermediary": proc_cpu(long_lived.pid)[0],
                        "backend": proc_cpu(pids["b"])[0],
                    },
                ),
                Config(
                    "d",
                    "(d) FastMCP proxy, streamable HTTP",
                    partial(Client, proxy.url, mode=args.mode),
                    lambda: {
                        "client": own_cpu(),
                        "intermediary": proc_cpu(proxy.pid)[0],
                        "backend": proc_cpu(pids["d"])[0],
                    },
                ),
            ]
            if not args.skip_stdio_gateway:
                fast.append(
                    Config(
                        "b_stdio",
                        "(b') kubemcp, long-lived backend, stdio (supplementary)",
                        partial(
                            Client,
                            stdio_params([str(KUBEMCP), *gateway_args(catalog, "stdio", long_lived=True)], stdio_env),
                            mode=args.mode,
                        ),
                        lambda: {
                            "client": own_cpu(),
                            "intermediary": proc_cpu(pids["b_stdio_gateway"])[0],
                            "backend": proc_cpu(pids["b_stdio"])[0],
                        },
                        shared_session=True,
                    )
                )
            slow = [
                Config(
                    "spawn",
                    "spawn baseline: start backend + handshake + 1 call + close",
                    partial(Client, stdio_params(backend_command), mode=args.mode),
                    lambda: {"client": own_cpu(), "backend": reaped_children_cpu()},
                    spawn_per_call=True,
                ),
                Config(
                    "c",
                    "(c) kubemcp, per-call backend, streamable HTTP",
                    partial(Client, per_call.url, mode=args.mode),
                    lambda: {
                        "client": own_cpu(),
                        "intermediary": proc_cpu(per_call.pid)[0],
                        "backend": proc_cpu(per_call.pid)[1],
                    },
                ),
            ]

            async with AsyncExitStack() as stack:
                for config in fast:
                    progress(f"warming up {config.label}")
                    await prepare(config, stack, args.workers, args.warmup)
                pids["a"] = direct_backend()
                pids["b"] = backend_of(long_lived)
                pids["d"] = backend_of(proxy)
                if not args.skip_stdio_gateway:
                    pids["b_stdio_gateway"] = stdio_gateway()
                    gateway_pid = pids["b_stdio_gateway"]
                    found = children_of(gateway_pid) if gateway_pid is not None else []
                    direct_pids.update(found)
                    pids["b_stdio"] = found[0] if found else None
                direct = fast[0].session
                tool_count = len((await direct.list_tools()).tools) if direct is not None else 0
                progress(f"processes: {pids}")
                if any(pid is None for pid in pids.values()):
                    raise BenchError(f"a backend process was not found: {pids}")
                progress(f"sequential calls: {args.calls} per configuration")
                await interleaved(fast, args.calls, args.rounds, partial(sequential_block, cap=args.cap))
                progress(f"concurrent calls: {args.concurrent_calls} per configuration, {args.workers} workers")
                await interleaved(fast, args.concurrent_calls, args.rounds, partial(concurrent_block, cap=args.cap))
            kill_leftovers(sorted(direct_pids), "stdio sessions")

            async with AsyncExitStack() as stack:
                for config in slow:
                    progress(f"warming up {config.label}")
                    await prepare(config, stack, args.workers, args.per_call_warmup)
                progress(f"per-call paths: {args.per_call_calls} sequential calls per configuration")
                await interleaved(
                    slow,
                    args.per_call_calls,
                    args.per_call_calls // PER_CALL_BLOCK,
                    partial(sequential_block, cap=args.cap),
                )
                progress(f"per-call paths: {args.per_call_calls} concurrent calls, {args.workers} workers")
                await interleaved(
                    slow,
                    args.per_call_calls,
                    args.per_call_calls // PER_CALL_CONCURRENT_BLOCK,
                    partial(concurrent_block, cap=args.cap),
                )

            if "reusing existing session" in proxy.log():
                notes.append(
                    "- FastMCP logged that its proxy reuses the connected client's session for all requests, "
                    "as intended for (d)."
                )
        finally:
            for server in servers:
                server.stop()

        profile = None
        if args.profile_calls > 0:
            progress(f"profiling the long-lived gateway over {args.profile_calls} calls")
            profile = await profile_gateway(args, work, catalog, env)

    env_info["load_end"] = load_average()
    configs = {config.key: config for config in [*fast, *slow]}
    return Report(env_info, args, configs, profile, notes, tool_count)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls per fast configuration")
    parser.add_argument("--concurrent-calls", type=int, default=1000, help="concurrent calls per fast configuration")
    parser.add_argument("--workers", type=int, default=4, help="concurrent workers")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up calls per fast session")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved blocks per fast configuration")
    parser.add_argument("--per-call-calls", type=int, default=40, help="calls per per-call configuration")
    parser.add_argument("--per-call-warmup", type=int, default=3)
    parser.add_argument("--profile-calls", type=int, default=500, help="calls profiled in the gateway (0: none)")
    parser.add_argument("--cap", type=float, default=180.0, help="time cap in seconds for each measurement loop")
    parser.add_argument("--keep-profile", type=Path, help="also save the gateway's pstats file here")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="time cap for the whole run")
    parser.add_argument("--mode", choices=["auto", "legacy"], default="auto", help="client protocol negotiation")
    parser.add_argument("--skip-stdio-gateway", action="store_true", help="leave out the supplementary (b')")
    parser.add_argument("--output", type=Path, default=DOCS, help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the results only")
    parser.add_argument("--quick", action="store_true", help="a short smoke run; implies --no-write")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls = args.concurrent_calls = 100
        args.warmup, args.rounds, args.per_call_calls, args.per_call_warmup = 10, 2, 8, 1
        args.profile_calls = 50
        args.no_write = True
    if min(args.calls, args.concurrent_calls, args.workers, args.rounds, args.per_call_calls) < 1:
        parser.error("counts must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    async def bounded() -> Report:
        with anyio.fail_after(args.max_seconds):
            return await run(args)

    report = anyio.run(bounded)
    section = report.markdown()
    print(section)
    if not args.no_write:
        write_docs(args.output, section)
        progress(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
