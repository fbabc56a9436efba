"""Session limits over streamable HTTP: idle sessions expire, a client at its cap has its least
recently used idle session closed for a new one, and a flood of sessions never locks clients out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from support import ACCEPT, GatewayProcess, probe_entry, until, write_catalog

pytestmark = pytest.mark.anyio

VERSION = "2025-06-18"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "flood", "version": "1"}},
}


async def _open(http: httpx2.AsyncClient, gateway: GatewayProcess) -> str:
    response = await http.post(gateway.url, json=INITIALIZE, headers=ACCEPT)
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


async def _ping(http: httpx2.AsyncClient, gateway: GatewayProcess, session: str) -> int:
    headers = {**ACCEPT, "mcp-session-id": session, "mcp-protocol-version": VERSION}
    response = await http.post(gateway.url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=headers)
    return response.status_code


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(tools=[{"name": "echo"}])})


async def test_a_client_at_its_cap_loses_its_least_recently_used_idle_session(
    gateway_process: Any, catalog: Path
) -> None:
    gateway = gateway_process("--catalog", str(catalog), "--max-sessions-per-client", "3")
    async with httpx2.AsyncClient(timeout=30, headers=gateway.headers) as http:
        first, second, third = [await _open(http, gateway) for _ in range(3)]
        assert await _ping(http, gateway, first) == 200  # `second` is now the least recently used
        fourth = await _open(http, gateway)
        assert await _ping(http, gateway, second) == 404  # closed to make room; the client starts anew
        for session in (first, third, fourth):
            assert await _ping(http, gateway, session) == 200
        health = (await http.get(f"{gateway.base}/health")).json()["sessions"]
        assert health == {"open": 3, "clients": 1, "evicted": 1}


async def test_a_client_whose_sessions_are_all_busy_gets_503(gateway_process: Any, catalog: Path) -> None:
    gateway = gateway_process("--catalog", str(catalog), "--max-sessions-per-client", "2")
    async with httpx2.AsyncClient(timeout=30, headers=gateway.headers) as http:
        sessions = [await _open(http, gateway) for _ in range(2)]
        async with (
            http.stream("GET", gateway.url, headers=_stream_headers(sessions[0])) as one,
            http.stream("GET", gateway.url, headers=_stream_headers(sessions[1])) as two,
        ):
            assert (one.status_code, two.status_code) == (200, 200)
            refused = await http.post(gateway.url, json=INITIALIZE, headers=ACCEPT)
            assert refused.status_code == 503
            assert "too many sessions for this client" in refused.json()["error"]["message"]
        with anyio.fail_after(15):  # once a stream has closed, its session is idle and makes room
            while (await http.post(gateway.url, json=INITIALIZE, headers=ACCEPT)).status_code == 503:
                await anyio.sleep(0.1)


def _stream_headers(session: str) -> dict[str, str]:
    return {"Accept": "text/event-stream", "mcp-session-id": session, "mcp-protocol-version": VERSION}


async def test_an_idle_session_expires(gateway_process: Any, catalog: Path) -> None:
    gateway = gateway_process("--catalog", str(catalog), "--session-idle-timeout", "1", "--debug")
    async with httpx2.AsyncClient(timeout=30, headers=gateway.headers) as http:
        session = await _open(http, gateway)
        assert await _ping(http, gateway, session) == 200
        # Untouched (a request would keep it alive), the session ends after its idle timeout.
        assert await until(lambda: f"Session {session} idle timeout" in gateway.log, 30)
        assert await _ping(http, gateway, session) == 404


async def test_a_flood_of_sessions_is_bounded_and_locks_nobody_out(gateway_process: Any, catalog: Path) -> None:
    gateway = gateway_process("--catalog", str(catalog), "--max-sessions-per-client", "50")
    async with httpx2.AsyncClient(timeout=30, headers=gateway.headers) as http:
        for _ in range(300):  # initialize, never DELETE
            await _open(http, gateway)
        health = (await http.get(f"{gateway.base}/health")).json()["sessions"]
        assert (health["open"], health["evicted"]) == (50, 250), gateway.log[-3000:]
        newcomer = await _open(http, gateway)
        assert await _ping(http, gateway, newcomer) == 200
