"""Load: many concurrent client sessions, against a long-lived server and against a per-call server
(where admission control queues what does not fit). The sessions are driven by several client
processes (`reliability/load_worker.py`), all open at once before they make their measured calls."""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

import anyio
from anyio.streams.text import TextReceiveStream

from ..figures import Row
from ..harness import Gateway, probe, sampled
from ..settings import REPO, Scale

WORKER = REPO / "reliability" / "load_worker.py"
# 100 sessions per client process: at 200, a process on a loaded 2-CPU machine lagged so far behind
# its own sockets that it opened connections and wrote their first request more than the gateway's
# 10 s head deadline later (answered 408, so the session failed, the gateway's doing nothing wrong).
SESSIONS_PER_PROCESS = 100


def _metric(metrics: str, name: str) -> float:
    """The sum of a metric's samples (every label set) in Prometheus text."""
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith((name + "{", name + " "))
    )


async def _sessions(gateway: Gateway, row: Row, count: int, before: int, after: int, timeout: float) -> float:
    """`count` SDK client sessions over several processes; each makes `before` calls, waits until all
    sessions of all processes are open at once, then makes `after` calls (the row's latencies; where
    their time went is noted: in the gateway's handler, CPU of clients). Returns the seconds until all
    were open together."""
    workers = max(1, math.ceil(count / SESSIONS_PER_PROCESS))
    shares = [count // workers + (1 if index < count % workers else 0) for index in range(workers)]
    ready = 0
    all_ready = anyio.Event()
    started = time.monotonic()
    opened_after = 0.0
    open_sessions = 0
    client_cpu = 0.0
    last_result = started
    opening_ms: list[float] = []
    async with gateway.http(timeout=30) as http:
        metrics_before = (await http.get(f"{gateway.base}/metrics")).text

    async def worker(first: int, share: int) -> None:
        nonlocal ready, opened_after, open_sessions, client_cpu, last_result
        command = [sys.executable, str(WORKER), gateway.url, str(first), str(share), str(before), str(after)]
        async with await anyio.open_process([*command, str(timeout)], stderr=None) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            await process.stdin.send((json.dumps(gateway.headers) + "\n").encode())
            buffer, result = "", None
            try:
                async for text in TextReceiveStream(process.stdout):
                    buffer += text
                    *complete, buffer = buffer.split("\n")
                    for line in complete:
                        if line.startswith("READY "):
                            open_sessions += int(line.split()[1])
                            ready += 1
                            if ready == workers:
                                opened_after = time.monotonic() - started
                                all_ready.set()
                            await all_ready.wait()
                            await process.stdin.send(b"GO\n")
                        elif line.startswith("RESULT "):
                            result = json.loads(line.removeprefix("RESULT "))
                            last_result = time.monotonic()
            finally:
                if process.returncode is None:
                    with anyio.move_on_after(30):
                        await process.wait()
                    if process.returncode is None:
                        process.kill()
                if ready < workers:  # a worker that died must not hold the others at the barrier
                    ready += 1
                    if ready == workers:
                        all_ready.set()
        if result is None:
            row.attempt(False, f"client process {first}..{first + share - 1} ended without a result")
            row.tried += share - 1
            return
        row.latencies_ms += result["latencies_ms"]
        opening_ms.extend(result["opening_ms"])
        client_cpu += result["cpu_seconds"]
        row.tried += result["tried"]
        row.passed += result["passed"]
        row.problems += result["problems"][: max(0, 5 - len(row.problems))]

    with anyio.fail_after(timeout + 60):
        async with anyio.create_task_group() as tg:
            first = 0
            for share in shares:
                tg.start_soon(worker, first, share)
                first += share
    row.note(f"{workers} client process(es); {open_sessions} of {count} open at once after {opened_after:.1f} s")
    async with gateway.http(timeout=30) as http:
        metrics = (await http.get(f"{gateway.base}/metrics")).text
    name = "kubemcp_tool_call_duration_seconds"
    calls = _metric(metrics, f"{name}_count") - _metric(metrics_before, f"{name}_count")
    inside = (_metric(metrics, f"{name}_sum") - _metric(metrics_before, f"{name}_sum")) / max(calls, 1)
    if opening_ms:
        row.note(f"calls while opening p50 {statistics.median(opening_ms) / 1000:.2f} s")
    row.note(
        f"measured calls done {last_result - started - opened_after:.0f} s after all were open; a call spent "
        f"{inside:.2f} s on average in the gateway's handler (its histogram, all {calls:.0f} calls); "
        f"clients used {client_cpu:.0f} s of CPU"
    )
    return opened_after


def _where(peaks: dict[str, float]) -> str:
    return (
        f"at most {peaks['in_flight']:.0f} calls in the gateway's handler at once; CPU used: gateway "
        f"{peaks['gateway_cpu']:.0f} s (and {peaks['gateway_cpu_wait']:.0f} s runnable, waiting for a CPU), "
        f"servers {peaks['backend_cpu']:.0f} s"
    )


async def long_lived(root: Path, scale: Scale) -> list[Row]:
    count = scale.long_lived_sessions
    row = Row(f"{count} concurrent sessions, long-lived server", "100 % success")
    gateway = Gateway(root, {"probe": probe(longLived=True)}).start()
    try:
        async with sampled(gateway, row) as peaks:
            await _sessions(gateway, row, count, before=1, after=1, timeout=scale.case_timeout * 0.8)
        row.note(_where(peaks))
    finally:
        gateway.stop()
    row.leftovers = gateway.leftovers()
    return [row]


async def per_call(root: Path, scale: Scale) -> list[Row]:
    count = scale.per_call_sessions
    queue_timeout = scale.case_timeout * 0.6
    target = f"100 % success, queued at most {queue_timeout:g} s"
    row = Row(f"{count} concurrent sessions, per-call server, one call each at once", target)
    gateway = Gateway(root, {"probe": probe()}, "--queue-timeout", f"{queue_timeout:g}").start()
    limit = gateway.health()["admission"]["limit"]
    try:
        async with sampled(gateway, row) as peaks:
            await _sessions(gateway, row, count, before=0, after=1, timeout=scale.case_timeout * 0.8)
        row.note(
            f"at most {peaks['running']:.0f} instances at once (limit {limit}), queue depth peak {peaks['queued']:.0f}"
        )
        row.note(_where(peaks))
    finally:
        gateway.stop()
    row.leftovers = gateway.leftovers()
    return [row]
