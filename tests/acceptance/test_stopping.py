"""Stopping: SIGTERM drains within a bounded grace period and closes open streams; a second signal
stops at once (backends still cleaned up); a client that hangs up cancels its call; SIGKILL of the
gateway leaves no server process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from support import ACCEPT, GatewayProcess, pid_alive, probe_entry, stdio_gateway, until, write_catalog

pytestmark = pytest.mark.anyio

VERSION = "2025-06-18"
TOOLS = [{"name": name} for name in ("echo", "sleep", "spawn_and_sleep", "whoami")]


def _catalog(tmp_path: Path, **extra: Any) -> Path:
    return write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(tools=TOOLS, **extra)})


async def _exit_code(gateway: GatewayProcess, within: float) -> int | None:
    """The gateway's exit code once it has exited, or None if it is still running after `within` seconds."""
    assert gateway.process is not None
    process = gateway.process

    def wait() -> int | None:
        try:
            return process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            return None

    return await anyio.to_thread.run_sync(wait)


async def _pids(pidfile: Path) -> list[int]:
    assert await until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 30), "the call never started"
    return [int(pid) for pid in pidfile.read_text().split()]


@asynccontextmanager
async def _session(gateway: GatewayProcess) -> AsyncIterator[tuple[httpx2.AsyncClient, dict[str, str]]]:
    """A 2025-era streamable HTTP session made by hand: (client, headers naming the session)."""
    async with httpx2.AsyncClient(timeout=60, headers=gateway.headers) as http:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        response = await http.post(gateway.url, json=init, headers=ACCEPT)
        assert response.status_code == 200, response.text
        headers = {**ACCEPT, "mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": VERSION}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(gateway.url, json=initialized, headers=headers)).status_code == 202
        yield http, headers


def _call(name: str, arguments: dict[str, Any], request_id: int = 2) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


async def test_sigterm_with_an_open_get_stream_exits_promptly(gateway_process: Any, tmp_path: Path) -> None:
    gateway = gateway_process("--catalog", str(_catalog(tmp_path)))
    async with _session(gateway) as (http, headers):
        get_headers = {**headers, "Accept": "text/event-stream"}
        async with http.stream("GET", gateway.url, headers=get_headers) as stream:
            assert stream.status_code == 200
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGTERM)
            assert await _exit_code(gateway, 15) == 0, gateway.log  # the default grace is 30 s: no waiting for it


async def test_sigterm_with_an_open_sse_stream_exits_promptly(gateway_process: Any, tmp_path: Path) -> None:
    gateway = gateway_process("--catalog", str(_catalog(tmp_path)), transport="sse")
    async with (
        httpx2.AsyncClient(timeout=60, headers=gateway.headers) as http,
        http.stream("GET", gateway.url, headers={"Accept": "text/event-stream"}) as stream,
    ):
        assert stream.status_code == 200
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        assert await _exit_code(gateway, 15) == 0, gateway.log


async def test_sigterm_lets_a_running_call_finish(gateway_process: Any, tmp_path: Path) -> None:
    gateway = gateway_process("--catalog", str(_catalog(tmp_path)))
    pidfile = tmp_path / "pid"
    async with _session(gateway) as (http, headers):
        call = _call("sleep", {"seconds": 2, "pidfile": str(pidfile)})
        async with http.stream("POST", gateway.url, json=call, headers=headers) as stream:
            [server] = await _pids(pidfile)
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(20):
                body = (await stream.aread()).decode()
    replies = [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]
    assert [reply["result"]["structuredContent"] for reply in replies] == [{"result": "slept 2.0"}], (body, gateway.log)
    assert await _exit_code(gateway, 20) == 0, gateway.log
    assert not pid_alive(server)


async def test_sigterm_cancels_calls_still_running_after_the_grace(gateway_process: Any, tmp_path: Path) -> None:
    gateway = gateway_process("--catalog", str(_catalog(tmp_path)), "--shutdown-grace", "1")
    pidfile = tmp_path / "pid"
    async with _session(gateway) as (http, headers):
        call = _call("sleep", {"seconds": 600, "pidfile": str(pidfile)})
        async with http.stream("POST", gateway.url, json=call, headers=headers) as stream:
            [server] = await _pids(pidfile)
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(20):
                await stream.aread()  # the response ends (no answer for the cancelled call) instead of hanging
    assert await _exit_code(gateway, 20) == 0, gateway.log
    assert not pid_alive(server)
    assert "cancelling 1 call(s) still running" in gateway.log


async def test_a_second_sigterm_stops_at_once_and_still_cleans_up(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(
        tmp_path / "catalog.yaml",
        {"probe": probe_entry(tools=TOOLS), "resident": probe_entry("resident", tools=TOOLS, longLived=True)},
    )
    gateway = gateway_process("--catalog", str(catalog), "--prefix-tools")
    pidfile = tmp_path / "pid"
    async with _session(gateway) as (http, headers):
        whoami = await http.post(gateway.url, json=_call("resident__whoami", {}, 3), headers=headers)
        [reply] = [json.loads(line[5:]) for line in whoami.text.splitlines() if line.startswith("data:")]
        resident = reply["result"]["structuredContent"]["pid"]
        call = _call("probe__sleep", {"seconds": 600, "pidfile": str(pidfile)})
        async with http.stream("POST", gateway.url, json=call, headers=headers):
            [server] = await _pids(pidfile)
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGTERM)
            assert await _exit_code(gateway, 1) is None  # draining: waiting for the call (grace 30 s)
            gateway.process.send_signal(signal.SIGTERM)
            assert await _exit_code(gateway, 15) == 0, gateway.log
    assert not pid_alive(server)
    assert not pid_alive(resident)


async def test_a_client_that_hangs_up_cancels_its_call(gateway_process: Any, tmp_path: Path) -> None:
    gateway = gateway_process("--catalog", str(_catalog(tmp_path)))
    pidfile = tmp_path / "pid"
    async with _session(gateway) as (http, headers):
        call = _call("sleep", {"seconds": 600, "pidfile": str(pidfile)})
        async with http.stream("POST", gateway.url, json=call, headers=headers):
            [server] = await _pids(pidfile)
        # The response was left unread and its connection closed: the per-call server is stopped.
        assert await until(lambda: not pid_alive(server), 15), "the backend call outlived its client"
        ping = await http.post(gateway.url, json={"jsonrpc": "2.0", "id": 9, "method": "ping"}, headers=headers)
        assert ping.status_code == 200  # the session itself goes on


@pytest.mark.parametrize("detach", [False, True], ids=["child-in-group", "child-in-own-session"])
async def test_sigkill_of_the_gateway_leaves_no_server_process(
    gateway_process: Any, tmp_path: Path, detach: bool
) -> None:
    gateway = gateway_process("--catalog", str(_catalog(tmp_path)))
    pidfile = tmp_path / "pids"
    async with _session(gateway) as (http, headers):
        call = _call("spawn_and_sleep", {"pidfile": str(pidfile), "seconds": 600, "detach": detach})
        async with http.stream("POST", gateway.url, json=call, headers=headers):
            server, child = await _pids(pidfile)
            assert gateway.process is not None
            gateway.process.kill()
            assert await _exit_code(gateway, 10) == -signal.SIGKILL
    assert await until(lambda: not pid_alive(server) and not pid_alive(child), 15), (
        f"left behind: server {pid_alive(server)}, its child {pid_alive(child)}"
    )


def test_sigterm_over_stdio_finishes_the_call_in_flight_then_exits(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    pidfile = tmp_path / "pid"
    process = stdio_gateway(catalog, tmp_path)
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        for message in (init, {"jsonrpc": "2.0", "method": "notifications/initialized"}):
            process.stdin.write(json.dumps(message).encode() + b"\n")
        process.stdin.write(json.dumps(_call("sleep", {"seconds": 2, "pidfile": str(pidfile)})).encode() + b"\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["id"] == 1
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)  # stdin stays open: the drain, not its end, stops the gateway
        reply = json.loads(process.stdout.readline())
        assert reply["id"] == 2
        assert reply["result"]["structuredContent"] == {"result": "slept 2.0"}
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()
