"""Configurations and measurements: timed blocks of sequential and concurrent calls, percentiles, interleaving."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from .settings import CALL_TIMEOUT, TEXT, BenchError

Op = Callable[[], Awaitable[None]]
Cpu = dict[str, float]  # role ("client", "intermediary", "backend") -> cumulative CPU seconds
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]  # (metric, its labels) -> value


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


def http_client(url: str, token: str, **options: Any) -> Client:
    """An SDK client of a streamable-HTTP gateway that requires a bearer token."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
            streamable_http_client(url, http_client=http) as streams,
        ):
            yield streams

    return Client(connect(), **options)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def call_echo(client: Client, name: str = "echo") -> None:
    with anyio.fail_after(CALL_TIMEOUT):
        result = await client.call_tool(name, {"text": TEXT})
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


def scraped_metrics(base: str, headers: Mapping[str, str]) -> Samples:
    """Every sample a gateway's `/metrics` (at `base`, with its credentials) shows."""
    text = httpx2.get(f"{base}/metrics", headers=dict(headers), timeout=30).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(scraped: Samples, name: str, **labels: str) -> float:
    """One sample by its metric name and exact labels (0 when absent)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)
