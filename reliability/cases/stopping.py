"""Stopping: SIGTERM with open streams and calls in flight, clients that hang up mid-call, and SIGKILL
of the gateway while servers (and their children) run. Exits are bounded and nothing is left behind."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from ..figures import Row
from ..harness import Gateway, probe, still_alive
from ..settings import Scale

VERSION = "2025-06-18"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
STREAMS = 20
CALLS = 10
ROOM = ("--max-instances", str(2 * CALLS))  # every call gets its instance: admission is measured elsewhere


@asynccontextmanager
async def _session(http: httpx2.AsyncClient, gateway: Gateway) -> AsyncIterator[dict[str, str]]:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "stop", "version": "1"}},
    }
    response = await http.post(gateway.url, json=init, headers=ACCEPT)
    response.raise_for_status()
    headers = {**ACCEPT, "mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": VERSION}
    await http.post(gateway.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    yield headers


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


async def _pids(files: list[Path], timeout: float = 120) -> list[int]:
    with anyio.fail_after(timeout):
        while not all(f.exists() and f.read_text().strip() for f in files):
            await anyio.sleep(0.05)
    return [int(pid) for f in files for pid in f.read_text().split()]


async def _exit_after(gateway: Gateway, sig: signal.Signals, within: float) -> float | None:
    return await anyio.to_thread.run_sync(lambda: gateway.stop(sig, within))


async def open_streams(root: Path, transport: str) -> tuple[bool, float | None, int]:
    """SIGTERM while streams are open: (exited cleanly, seconds to exit, leftovers)."""
    gateway = Gateway(root, {"probe": probe()}, transport=transport).start()
    try:
        took = await _streams_then_sigterm(gateway, transport)
    finally:
        gateway.stop(signal.SIGKILL)  # only if the case failed midway: it has exited by now
    assert gateway.process.process is not None
    return took is not None and gateway.process.process.returncode == 0, took, gateway.leftovers()


async def _streams_then_sigterm(gateway: Gateway, transport: str) -> float | None:
    async with gateway.http(timeout=60) as http, AsyncExitStack() as stack:
        for _ in range(STREAMS):
            if transport == "sse":
                await stack.enter_async_context(
                    http.stream("GET", gateway.url, headers={"Accept": "text/event-stream"})
                )
            else:
                headers = await stack.enter_async_context(_session(http, gateway))
                get = {**headers, "Accept": "text/event-stream"}
                await stack.enter_async_context(http.stream("GET", gateway.url, headers=get))
        return await _exit_after(gateway, signal.SIGTERM, 30)


async def calls_in_flight(root: Path, seconds: float, grace: float) -> tuple[int, float | None, int]:
    """SIGTERM while calls run: (calls answered, seconds to exit, leftovers)."""
    gateway = Gateway(root, {"probe": probe()}, "--shutdown-grace", str(grace), *ROOM).start()
    pidfiles = [root / f"pid{n}" for n in range(CALLS)]
    answered = 0
    try:
        async with gateway.http(timeout=120) as http, anyio.create_task_group() as tg:

            async def call(pidfile: Path) -> None:
                nonlocal answered
                async with _session(http, gateway) as headers:
                    body = _call("sleep", {"seconds": seconds, "pidfile": str(pidfile)})
                    response = await http.post(gateway.url, json=body, headers=headers)
                    answered += f"slept {seconds:g}" in response.text

            for pidfile in pidfiles:
                tg.start_soon(call, pidfile)
            await _pids(pidfiles)
            took = await _exit_after(gateway, signal.SIGTERM, grace + 30)
    finally:
        gateway.stop(signal.SIGKILL)  # only if the case failed midway: it has exited by now
    return answered, took, gateway.leftovers()


async def hang_ups(root: Path) -> int:
    """Clients that close their connection mid-call: how many backend servers are still running after."""
    gateway = Gateway(root, {"probe": probe()}, *ROOM).start()
    pidfiles = [root / f"pid{n}" for n in range(CALLS)]
    try:
        async with gateway.http(timeout=120) as http, AsyncExitStack() as stack:
            for pidfile in pidfiles:
                headers = await stack.enter_async_context(_session(http, gateway))
                body = _call("sleep", {"seconds": 600, "pidfile": str(pidfile)})
                await stack.enter_async_context(http.stream("POST", gateway.url, json=body, headers=headers))
            servers = set(await _pids(pidfiles))
        return len(still_alive(servers, 15))
    finally:
        gateway.stop()


async def sigkill(root: Path) -> tuple[int, int]:
    """SIGKILL of the gateway while servers with children run: (processes before, left after)."""
    gateway = Gateway(root, {"probe": probe()}, *ROOM).start()
    pidfiles = [root / f"pids{n}" for n in range(CALLS)]
    async with gateway.http(timeout=120) as http, AsyncExitStack() as stack:
        for number, pidfile in enumerate(pidfiles):
            headers = await stack.enter_async_context(_session(http, gateway))
            body = _call("spawn_and_sleep", {"pidfile": str(pidfile), "seconds": 600, "detach": number % 2 == 1})
            await stack.enter_async_context(http.stream("POST", gateway.url, json=body, headers=headers))
        try:
            pids = set(await _pids(pidfiles)) | gateway.remember()
        finally:
            await _exit_after(gateway, signal.SIGKILL, 10)
    return len(pids), len(still_alive(pids, 15))


async def stopping(root: Path, scale: Scale) -> list[Row]:
    streams = Row(f"SIGTERM with {STREAMS} open GET /mcp or SSE streams", "exit 0 within 10 s")
    short = Row(f"SIGTERM during {CALLS} 2-second calls", "every call answered, then exit")
    long = Row(f"SIGTERM during {CALLS} endless calls, grace 3 s", "exit within the grace + 10 s")
    hangup = Row(f"{CALLS} clients hang up mid-call", "every backend call cancelled (server stopped)")
    killed = Row(f"SIGKILL with {CALLS} servers running, half with detached children", "no process left")
    leftovers = 0
    for round_ in range(scale.stopping_rounds):
        for transport in ("streaming", "sse"):
            ok, took, left = await open_streams(root / f"streams-{transport}-{round_}", transport)
            leftovers += left
            streams.attempt(ok and took is not None and took <= 10, f"{transport}: exit after {took}")
            if took is not None:
                streams.latencies_ms.append(took * 1000)
        answered, took, left = await calls_in_flight(root / f"short-{round_}", 2, 30)
        leftovers += left
        short.attempt(answered == CALLS and took is not None, f"{answered} of {CALLS} answered, exit after {took}")
        if took is not None:
            short.latencies_ms.append(took * 1000)
        answered, took, left = await calls_in_flight(root / f"long-{round_}", 600, 3)
        leftovers += left
        long.attempt(took is not None and took <= 13 and left == 0, f"exit after {took}, {left} left")
        if took is not None:
            long.latencies_ms.append(took * 1000)
        left = await hang_ups(root / f"hangup-{round_}")
        hangup.attempt(left == 0, f"{left} backend servers still running")
        before, left = await sigkill(root / f"kill-{round_}")
        leftovers += left
        killed.attempt(left == 0, f"{left} of {before} processes left")
    for row in (streams, short, long):
        row.note("latency = SIGTERM to exit")
    streams.leftovers = short.leftovers = long.leftovers = leftovers
    killed.leftovers = leftovers
    return [streams, short, long, hangup, killed]
