"""Slow clients: request heads and bodies that never complete, and a flood of idle connections under
a 1,024 open-files limit. The gateway closes what stalls, never runs out of file descriptors, keeps
serving real clients promptly and keeps its log short."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx2
from anyio.abc import SocketStream
from support import tool_value

from ..figures import Row
from ..harness import Gateway, probe, sampled
from ..settings import Scale

HEADER_TIMEOUT = 10.0  # the gateway's defaults
BODY_TIMEOUT = 30.0
SLACK = 5.0
REAL_CLIENT_OK_MS = 5000.0


async def _closed_within(stream: SocketStream, limit: float, received: bytearray | None = None) -> float | None:
    """Seconds until the gateway closed the connection (reading what it sent, kept in `received`), or
    None after `limit`."""
    started = time.monotonic()
    with anyio.move_on_after(limit):
        try:
            while True:
                data = await stream.receive()
                if received is not None:
                    received += data
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return time.monotonic() - started
    return None


async def _real_client(gateway: Gateway, row: Row, stop: anyio.Event) -> None:
    """A real client's calls while the slow connections are held: each must be answered promptly."""
    async with gateway.client(mode="legacy", read_timeout_seconds=60) as client:
        number = 0
        while not stop.is_set():
            began = time.perf_counter()
            try:
                with anyio.fail_after(REAL_CLIENT_OK_MS / 1000):
                    ok = tool_value(await client.call_tool("echo", {"text": str(number)})) == str(number)
                row.attempt(ok, "wrong answer")
            except Exception as exc:
                row.attempt(False, f"{type(exc).__name__}: {str(exc)[:200]}")
            row.latencies_ms.append((time.perf_counter() - began) * 1000)
            number += 1
            await anyio.sleep(0.5)


async def stalled_requests(root: Path, scale: Scale) -> list[Row]:
    heads = Row(f"{scale.slow_headers} slow request heads", f"each closed within {HEADER_TIMEOUT:g} s (+{SLACK:g})")
    bodies = Row(f"{scale.partial_bodies} partial bodies", f"each closed within {BODY_TIMEOUT:g} s (+{SLACK:g})")
    real = Row("a real client meanwhile", f"every call answered within {REAL_CLIENT_OK_MS / 1000:g} s")
    header_timeout = HEADER_TIMEOUT if scale.name == "full" else 1.0
    body_timeout = BODY_TIMEOUT if scale.name == "full" else 2.0
    gateway = Gateway(
        root,
        {"probe": probe(longLived=True)},
        "--header-timeout",
        str(header_timeout),
        "--body-timeout",
        str(body_timeout),
    ).start()
    host, port = gateway.url.split("//")[1].split("/")[0].rsplit(":", 1)
    log_before = len(gateway.log)
    hold = max(scale.hold_seconds, body_timeout + SLACK)
    try:
        async with sampled(gateway, heads):
            stop = anyio.Event()

            async def slow_head() -> None:
                async with await anyio.connect_tcp(host, int(port)) as stream:
                    await stream.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                    closed = await _closed_within(stream, hold)
                    heads.attempt(closed is not None and closed <= header_timeout + SLACK, f"closed after {closed}")
                    if closed is not None:
                        heads.latencies_ms.append(closed * 1000)

            async def partial_body() -> None:
                async with await anyio.connect_tcp(host, int(port)) as stream:
                    # With the token: a request without one is answered 401 before its body is read.
                    auth = "".join(f"{name}: {value}\r\n" for name, value in gateway.headers.items())
                    head = (
                        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                        f"Accept: application/json, text/event-stream\r\n{auth}Content-Length: 1000\r\n\r\n"
                    )
                    await stream.send(head.encode() + b'{"jsonrpc": "2.0", ')
                    answer = bytearray()
                    closed = await _closed_within(stream, hold, answer)
                    # The body deadline's own answer, not a refusal of the head (401, 403, 408 for the head).
                    by_body_timeout = answer.startswith(b"HTTP/1.1 408") and b"body did not arrive" in answer
                    bodies.attempt(
                        by_body_timeout and closed is not None and closed <= body_timeout + SLACK,
                        f"closed after {closed}: {bytes(answer[:60])!r}",
                    )
                    if closed is not None:
                        bodies.latencies_ms.append(closed * 1000)

            async with anyio.create_task_group() as tg:
                tg.start_soon(_real_client, gateway, real, stop)
                async with anyio.create_task_group() as stalled:
                    for _ in range(scale.slow_headers):
                        stalled.start_soon(slow_head)
                    for _ in range(scale.partial_bodies):
                        stalled.start_soon(partial_body)
                stop.set()
        heads.note("latency = until the gateway closed it")
        bodies.note("latency = until the gateway closed it")
        real.note(f"log grew by {len(gateway.log) - log_before} bytes")
    finally:
        gateway.stop()
    heads.leftovers = gateway.leftovers()
    return [heads, bodies, real]


async def descriptor_flood(root: Path, scale: Scale) -> list[Row]:
    count = scale.fd_limit_connections
    flood = Row(f"{count} idle connections, 1,024 open files allowed", "no descriptor exhaustion; gateway alive")
    real = Row("real clients during that flood", f"every request answered within {REAL_CLIENT_OK_MS / 1000:g} s")
    gateway = Gateway(root, {"probe": probe(longLived=True)}, "--header-timeout", "30", open_files=1024).start()
    host, port = gateway.url.split("//")[1].split("/")[0].rsplit(":", 1)
    log_before = len(gateway.log)
    try:
        async with sampled(gateway, flood), anyio.create_task_group() as tg:
            held = anyio.Event()
            opened = 0

            async def idle() -> None:
                nonlocal opened
                try:
                    async with await anyio.connect_tcp(host, int(port)) as stream:
                        opened += 1
                        with anyio.move_on_after(60):
                            await held.wait()
                        del stream
                except OSError:
                    pass

            for _ in range(count):
                tg.start_soon(idle)
            with anyio.move_on_after(60):
                while opened < count:
                    await anyio.sleep(0.1)
            async with gateway.http(timeout=REAL_CLIENT_OK_MS / 1000) as http:
                for number in range(20):
                    began = time.perf_counter()
                    try:
                        response = await http.get(f"{gateway.base}/health")
                        real.attempt(response.status_code == 200, f"HTTP {response.status_code}")
                    except httpx2.HTTPError as exc:
                        real.attempt(False, f"request {number}: {type(exc).__name__}")
                    real.latencies_ms.append((time.perf_counter() - began) * 1000)
            held.set()
        alive = gateway.alive()
        exhausted = "out of system resource" in gateway.log or "Too many open files" in gateway.log
        assert flood.fds is not None
        flood.attempt(alive and not exhausted and flood.fds[1] < 1024, f"alive {alive}, exhausted {exhausted}")
        flood.note(f"{opened} connections made; log grew by {len(gateway.log) - log_before} bytes")
    finally:
        gateway.stop()
    flood.leftovers = gateway.leftovers()
    return [flood, real]
