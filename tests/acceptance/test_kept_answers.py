"""Kept tools/list answers written directly over HTTP (`gateway/kept_answers.py`) are the SDK's answers.

Two real gateways serve the same catalog with the same tokens and policy: one as shipped, one with
`--no-fast-path`, where every request goes through the MCP SDK's transport. The same requests get
byte-identical responses from both (2026-07-28 single POSTs, 2025-era sessions over SSE), a limited
caller sees only its view, and requests the fast path must not take (a wrong session, a cursor, a
missing Accept type, a malformed envelope) get the SDK's own answers. Each gateway's `/health`
counts the requests it answered from kept bytes, which shows the fast one took the path.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from support import (
    ACCEPT,
    GatewayProcess,
    bearer,
    probe_entry,
    shipped_and_sdk_gateways,
    streamable_http_with,
)
from support import (
    ShippedAndSdk as Pair,
)

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"
ADMIN, LIMITED = "admin-token-000000000000001", "limited-token-00000000000001"
POLICY = "default: allow\nrules:\n  - principals: [token:limited]\n    deny: ['beta:*']\n"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "kept-answers-test", "version": "1"},
}
# Headers that differ between any two responses, or between two gateways, whatever they serve.
VARYING = {"date", "mcp-session-id"}


def declared(server: str, count: int) -> dict[str, Any]:
    tools = [
        {
            "name": f"{server}_tool_{index}",
            "description": f'Outil {index} de {server} — «ünïcode» "quoted" \\ back',
            "inputSchema": {"type": "object", "properties": {"item": {"type": "string"}}, "required": ["item"]},
        }
        for index in range(count)
    ]
    return probe_entry(server, tools=tools)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("kept-answers")
    with shipped_and_sdk_gateways(
        root,
        {"alpha": declared("alpha", 30), "beta": declared("beta", 20)},
        {"admin": ADMIN, "limited": LIMITED},
        POLICY,
    ) as gateways:
        yield gateways


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=30) as client:
        yield client


def modern(request_id: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/list", "params": {"_meta": META, **(params or {})}}


def modern_headers(token: str, **extra: str) -> dict[str, str]:
    return {**ACCEPT, **bearer(token), "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list", **extra}


def kept_count(gateway: GatewayProcess) -> int:
    report = httpx2.get(f"{gateway.base}/health", headers=bearer(ADMIN), timeout=10).json()
    return int(report.get("kept_answers", 0))


def comparable(response: httpx2.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(name.lower(), value) for name, value in response.headers.items() if name.lower() not in VARYING]
    return response.status_code, headers, response.content


async def both(http: httpx2.AsyncClient, pair: Pair, body: Any, headers: dict[str, str]) -> list[httpx2.Response]:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return [await http.post(gateway.url, content=raw, headers=headers) for gateway in (pair.fast, pair.sdk)]


async def test_2026_07_28_answers_are_the_sdks_bytes(http: httpx2.AsyncClient, pair: Pair) -> None:
    before = kept_count(pair.fast)
    for token in (ADMIN, LIMITED):
        for request_id in (1, 0, -7, 2**53 + 1, "a", 'ïd "quoted" \\ ☃', ""):
            first_pass = await both(http, pair, modern(request_id), modern_headers(token))  # renders the view once
            fast, sdk = await both(http, pair, modern(request_id), modern_headers(token))
            assert fast.headers["content-type"] == "application/json"
            assert comparable(fast) == comparable(sdk)
            assert comparable(first_pass[0]) == comparable(sdk)
            assert fast.json()["id"] == request_id
    # Everything but each principal's first request (which renders its view) came from the kept bytes.
    assert kept_count(pair.fast) - before >= 2 * (2 * 7 - 1)
    assert kept_count(pair.sdk) == 0


async def test_a_limited_principal_sees_only_its_view(http: httpx2.AsyncClient, pair: Pair) -> None:
    names: dict[str, list[str]] = {}
    for name, token in (("admin", ADMIN), ("limited", LIMITED)):
        for _ in range(2):
            fast, sdk = await both(http, pair, modern(5), modern_headers(token))
            assert fast.content == sdk.content
        names[name] = [tool["name"] for tool in fast.json()["result"]["tools"]]
    assert len(names["admin"]) == 50
    assert names["limited"] == [f"alpha_tool_{index}" for index in range(30)]
    # And through SDK clients of each gateway.
    for gateway in (pair.fast, pair.sdk):
        for _ in range(2):
            async with Client(streamable_http_with(gateway.url, bearer(LIMITED))) as client:
                assert [tool.name for tool in (await client.list_tools()).tools] == names["limited"]


async def open_session(http: httpx2.AsyncClient, gateway: GatewayProcess, token: str, version: str) -> str:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "kept", "version": "1"}},
    }
    opened = await http.post(gateway.url, json=initialize, headers={**ACCEPT, **bearer(token)})
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    headers = {**ACCEPT, **bearer(token), "Mcp-Session-Id": session, "MCP-Protocol-Version": version}
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post(gateway.url, json=initialized, headers=headers)).status_code == 202
    return session


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
async def test_2025_session_answers_are_the_sdks_sse_events(http: httpx2.AsyncClient, pair: Pair, version: str) -> None:
    sessions = {gateway.url: await open_session(http, gateway, LIMITED, version) for gateway in (pair.fast, pair.sdk)}
    before = kept_count(pair.fast)
    for request_id in (2, "two ☃", 3):
        fast, sdk = [
            await http.post(
                gateway.url,
                json={"jsonrpc": "2.0", "id": request_id, "method": "tools/list"},
                headers={
                    **ACCEPT,
                    **bearer(LIMITED),
                    "Mcp-Session-Id": sessions[gateway.url],
                    "MCP-Protocol-Version": version,
                },
            )
            for gateway in (pair.fast, pair.sdk)
        ]
        assert fast.headers["content-type"].startswith("text/event-stream")
        assert fast.headers["mcp-session-id"] == sessions[pair.fast.url]
        assert comparable(fast) == comparable(sdk)
    assert kept_count(pair.fast) - before == 2  # the session's first listing went through the SDK


async def test_requests_off_the_fast_path_get_the_sdks_answers(http: httpx2.AsyncClient, pair: Pair) -> None:
    for _ in range(2):  # the views are kept
        await both(http, pair, modern(1), modern_headers(ADMIN))
    before = kept_count(pair.fast)
    cases: list[tuple[Any, dict[str, str]]] = [
        (modern(1, {"cursor": "x"}), modern_headers(ADMIN)),  # a cursor: the whole pipeline
        (modern(1), {**modern_headers(ADMIN), "Accept": "application/json"}),  # 406 without text/event-stream
        (modern(1), {**modern_headers(ADMIN), "Mcp-Method": "tools/call"}),  # header and body disagree
        (modern(1), {**modern_headers(ADMIN), "Content-Type": "text/plain"}),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {}}}, modern_headers(ADMIN)),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, modern_headers(ADMIN)),  # no envelope
        (modern(True), modern_headers(ADMIN)),  # not a valid id
        # An unknown session, and a valid session presented with another principal's token.
        ({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, {**ACCEPT, **bearer(ADMIN), "Mcp-Session-Id": "nope"}),
    ]
    for body, headers in cases:
        fast, sdk = await both(http, pair, body, headers)
        assert comparable(fast) == comparable(sdk), (body, headers)
        assert fast.status_code != 200 or "cursor" in json.dumps(body), fast.text
    assert kept_count(pair.fast) == before


async def test_a_session_of_another_credential_is_not_found(http: httpx2.AsyncClient, pair: Pair) -> None:
    version = "2025-11-25"
    session = await open_session(http, pair.fast, LIMITED, version)
    headers = {**ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": version}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    for _ in range(2):  # the session's listing is kept and its connection known
        assert (await http.post(pair.fast.url, json=listing, headers={**headers, **bearer(LIMITED)})).status_code == 200
    before = kept_count(pair.fast)
    stolen = await http.post(pair.fast.url, json=listing, headers={**headers, **bearer(ADMIN)})
    assert stolen.status_code == 404
    assert stolen.json()["error"]["message"] == "Session not found"
    assert kept_count(pair.fast) == before
    # Ended by its owner, the session is unknown to everyone, the fast path included.
    assert (await http.delete(pair.fast.url, headers={**headers, **bearer(LIMITED)})).status_code in (200, 204)
    gone = await http.post(pair.fast.url, json=listing, headers={**headers, **bearer(LIMITED)})
    assert gone.status_code == 404
    assert kept_count(pair.fast) == before


async def test_sdk_clients_of_both_eras_list_the_same_tools(pair: Pair) -> None:
    for mode in ("legacy", "auto"):
        listed = []
        for gateway in (pair.fast, pair.sdk):
            async with Client(streamable_http_with(gateway.url, bearer(ADMIN)), mode=mode) as client:
                first = (await client.list_tools()).tools
                assert (await client.list_tools()).tools == first
                listed.append(first)
        assert listed[0] == listed[1]
        assert len(listed[0]) == 50
