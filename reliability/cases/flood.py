"""Session flood: initializes that are never deleted. Memory stays bounded and new clients are never
locked out."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx2
from support import tool_value

from ..figures import Row
from ..harness import Gateway, probe, rss_mb, sampled
from ..settings import Scale

VERSION = "2025-06-18"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "flood", "version": "1"}},
}
AT_ONCE = 20


async def session_flood(root: Path, scale: Scale) -> list[Row]:
    count = scale.flood_sessions
    flood = Row(f"{count} initializes, never deleted", "every one answered; memory bounded")
    newcomers = Row("new clients during and after the flood", "100 % served (no lock-out)")
    gateway = Gateway(root, {"probe": probe(longLived=True)}).start()
    try:
        async with (
            sampled(gateway, flood),
            gateway.http(timeout=60, limits=httpx2.Limits(max_connections=AT_ONCE)) as http,
        ):
            sent = 0
            gate = anyio.Semaphore(AT_ONCE)

            async def initialize() -> None:
                async with gate:
                    began = time.perf_counter()
                    try:
                        response = await http.post(gateway.url, json=INITIALIZE, headers=ACCEPT)
                        ok = response.status_code == 200 and "mcp-session-id" in response.headers
                        problem = f"HTTP {response.status_code}: {response.text[:100]}"
                    except httpx2.HTTPError as exc:
                        ok, problem = False, f"{type(exc).__name__}: {exc}"
                    flood.latencies_ms.append((time.perf_counter() - began) * 1000)
                    flood.attempt(ok, problem)

            async def newcomer(number: int) -> None:
                began = time.perf_counter()
                try:
                    async with gateway.client(mode="legacy", read_timeout_seconds=60) as client:
                        ok = tool_value(await client.call_tool("echo", {"text": str(number)})) == str(number)
                    newcomers.attempt(ok, "wrong answer")
                except Exception as exc:
                    newcomers.attempt(False, f"{type(exc).__name__}: {str(exc)[:200]}")
                newcomers.latencies_ms.append((time.perf_counter() - began) * 1000)

            async with anyio.create_task_group() as tg:
                for _ in range(count):
                    tg.start_soon(initialize)
                    sent += 1
                    if sent % max(1, count // 10) == 0:
                        tg.start_soon(newcomer, sent)
            await newcomer(0)
        sessions = gateway.health()["sessions"]
        flood.note(f"{sessions['open']} sessions kept, {sessions['evicted']} closed for newer ones")
        flood.note(f"RSS after {rss_mb(gateway.pid):.0f} MB")
    finally:
        gateway.stop()
    flood.leftovers = gateway.leftovers()
    return [flood, newcomers]
