"""Load: many concurrent client sessions, against a long-lived server and against a per-call server
(where admission control queues what does not fit)."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
from support import tool_value

from ..figures import Row
from ..harness import Gateway, probe, sampled
from ..settings import Scale

CONNECTING_AT_ONCE = 100  # clients arrive over time, not all in one instant


async def _sessions(gateway: Gateway, row: Row, count: int, calls: int, timeout: float) -> float:
    """`count` SDK client sessions (the 2025 handshake, so each is a stateful session with its own GET
    stream) each make one call, wait until all are open at once, then make `calls - 1` more. Returns
    the seconds until all sessions were open together."""
    arrived = 0
    all_open = anyio.Event()
    gate = anyio.Semaphore(CONNECTING_AT_ONCE)
    started = time.monotonic()
    opened_after = 0.0

    async def session(number: int) -> None:
        nonlocal arrived, opened_after
        ok, problem = False, ""
        try:
            with anyio.fail_after(timeout):
                async with gate:
                    client = gateway.client(mode="legacy", read_timeout_seconds=timeout)
                    await client.__aenter__()
                try:
                    for call in range(calls):
                        if call == 1:
                            arrived += 1
                            if arrived == count:
                                opened_after = time.monotonic() - started
                                all_open.set()
                            await all_open.wait()
                        text = f"{number}-{call}"
                        began = time.perf_counter()
                        answer = tool_value(await client.call_tool("echo", {"text": text}))
                        row.latencies_ms.append((time.perf_counter() - began) * 1000)
                        if answer != text:
                            raise AssertionError(f"wrong answer {answer!r}")
                    ok = True
                finally:
                    await client.__aexit__(None, None, None)
        except Exception as exc:
            leaf: BaseException = exc
            while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:  # name what went wrong inside
                leaf = leaf.exceptions[0]
            problem = f"session {number}: {type(leaf).__name__}: {str(leaf)[:200]}"
            arrived += 1  # a failed session must not hold the others at the barrier
            if arrived >= count:
                all_open.set()
        row.attempt(ok, problem)

    async with anyio.create_task_group() as tg:
        for number in range(count):
            tg.start_soon(session, number)
    return opened_after


async def long_lived(root: Path, scale: Scale) -> list[Row]:
    count = scale.long_lived_sessions
    row = Row(f"{count} concurrent sessions, long-lived server", "100 % success")
    gateway = Gateway(root, {"probe": probe(longLived=True)}).start()
    try:
        async with sampled(gateway, row):
            opened = await _sessions(gateway, row, count, calls=2, timeout=scale.case_timeout * 0.8)
        row.note(f"all {count} open at once after {opened:.1f} s")
    finally:
        gateway.stop()
    row.leftovers = gateway.leftovers()
    return [row]


async def per_call(root: Path, scale: Scale) -> list[Row]:
    count = scale.per_call_sessions
    queue_timeout = 240 if scale.name == "full" else 60
    row = Row(f"{count} concurrent sessions, per-call server", f"100 % success, queued at most {queue_timeout} s")
    gateway = Gateway(root, {"probe": probe()}, "--queue-timeout", str(queue_timeout)).start()
    limit = gateway.health()["admission"]["limit"]
    try:
        async with sampled(gateway, row) as peaks:
            opened = await _sessions(gateway, row, count, calls=2, timeout=scale.case_timeout * 0.8)
        row.note(f"at most {peaks['running']} instances at once (limit {limit}), queue depth peak {peaks['queued']}")
        row.note(f"all {count} open at once after {opened:.1f} s")
    finally:
        gateway.stop()
    row.leftovers = gateway.leftovers()
    return [row]
