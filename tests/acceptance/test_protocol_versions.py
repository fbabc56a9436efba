"""Every protocol revision the gateway serves, spoken raw on the wire and by the SDK client.

- 2025-06-18 and 2025-11-25: the initialize handshake over streamable HTTP, then a session.
- 2024-11-05: the handshake over the legacy HTTP+SSE transport, replies on the event stream.
- 2026-07-28: no handshake and no session; each request is one self-contained POST whose
  `params._meta` carries the envelope (protocol version, client capabilities, client info) and whose
  `MCP-Protocol-Version`, `Mcp-Method` and (for named methods) `Mcp-Name` headers repeat it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import anyio
import httpx2
import mcp_types as types
import pytest
from support import (
    ACCEPT,
    GatewayProcess,
    everything_entry,
    http_and_sse_gateways,
    isolated_env,
    probe_entry,
    time_entry,
    write_catalog,
)

pytestmark = pytest.mark.anyio

TIMEOUT = 30.0
MODERN = "2026-07-28"
CLIENT_INFO = {"name": "protocol-versions-test", "version": "1.0"}
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"


@dataclass
class Gateways:
    http: GatewayProcess
    sse: GatewayProcess


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    root = tmp_path_factory.mktemp("protocol-versions")
    catalog = write_catalog(
        root / "catalog.yaml",
        {"probe": probe_entry(), "time": time_entry(), "everything": everything_entry(longLived=True)},
    )
    with http_and_sse_gateways(root, catalog, isolated_env(root)) as pair:
        yield Gateways(*pair)


@pytest.fixture
async def http(gateways: Gateways) -> AsyncIterator[httpx2.AsyncClient]:
    """A raw HTTP client with the bearer token both gateways accept."""
    assert gateways.http.headers == gateways.sse.headers
    async with httpx2.AsyncClient(timeout=TIMEOUT, headers=gateways.http.headers) as client:
        yield client


def replies(response: httpx2.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a streamable-HTTP response: one JSON body, or the data of each SSE event."""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    assert content_type.startswith("application/json"), (response.status_code, content_type, response.text)
    return [response.json()]


def reply_to(response: httpx2.Response, request_id: int) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text)
    [reply] = [message for message in replies(response) if message.get("id") == request_id]
    return reply


def result_of(reply: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


def tool_names(result: dict[str, Any]) -> set[str]:
    return {tool["name"] for tool in result["tools"]}


SERVED_TOOLS = {"get_current_time", "get-sum", "whoami", "probe__echo", "everything__echo"}


def initialize(version: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT_INFO},
    }


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


# -- the handshake revisions over streamable HTTP ------------------------------------------------


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
async def test_handshake_over_streamable_http(http: httpx2.AsyncClient, gateways: Gateways, version: str) -> None:
    url = gateways.http.url
    response = await http.post(url, json=initialize(version), headers=ACCEPT)
    agreed = result_of(reply_to(response, 1))
    assert agreed["protocolVersion"] == version
    assert agreed["serverInfo"]["name"] == "kubemcp"
    assert "tools" in agreed["capabilities"]
    session = response.headers.get("mcp-session-id")
    assert session, response.headers

    in_session = {**ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": version}
    assert (await http.post(url, json=INITIALIZED, headers=in_session)).status_code == 202

    listed = await http.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=in_session)
    assert tool_names(result_of(reply_to(listed, 2))) >= SERVED_TOOLS

    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "get_current_time", "arguments": {"timezone": "UTC"}},
    }
    called = result_of(reply_to(await http.post(url, json=call, headers=in_session), 3))
    assert json.loads(called["content"][0]["text"])["timezone"] == "UTC"

    # The session ends when the client deletes it; its id is unknown afterwards.
    assert (await http.delete(url, headers=in_session)).status_code in (200, 204)
    gone = await http.post(url, json={"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, headers=in_session)
    assert gone.status_code == 404


async def test_unknown_handshake_version_gets_the_latest_handshake_version(
    http: httpx2.AsyncClient, gateways: Gateways
) -> None:
    response = await http.post(gateways.http.url, json=initialize("1999-01-01"), headers=ACCEPT)
    assert result_of(reply_to(response, 1))["protocolVersion"] == "2025-11-25"


# -- 2024-11-05 over the legacy HTTP+SSE transport -----------------------------------------------


async def test_2024_11_05_over_sse(http: httpx2.AsyncClient, gateways: Gateways) -> None:
    url = gateways.sse.url
    async with http.stream("GET", url, headers={"Accept": "text/event-stream"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = httpx2.EventSource(stream).__aiter__()

        async def next_reply(request_id: int) -> dict[str, Any]:
            with anyio.fail_after(TIMEOUT):
                while True:
                    event = await anext(events)
                    if event.event == "message" and json.loads(event.data).get("id") == request_id:
                        reply: dict[str, Any] = json.loads(event.data)
                        return reply

        with anyio.fail_after(TIMEOUT):
            endpoint_event = await anext(events)
        assert endpoint_event.event == "endpoint"
        endpoint = urljoin(url, endpoint_event.data)
        assert "session_id=" in endpoint

        # follow_redirects: the gateway answers its advertised endpoint with a 307 to a trailing-slash
        # path (see test_http_hardening::test_sse_message_endpoint_is_served_where_advertised).
        async def post(message: dict[str, Any]) -> None:
            response = await http.post(endpoint, json=message, follow_redirects=True)
            assert response.status_code == 202, (response.status_code, response.text)

        await post(initialize("2024-11-05"))
        agreed = result_of(await next_reply(1))
        assert agreed["protocolVersion"] == "2024-11-05"
        assert agreed["serverInfo"]["name"] == "kubemcp"
        await post(INITIALIZED)
        await post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert tool_names(result_of(await next_reply(2))) >= SERVED_TOOLS
        await post(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "get-sum", "arguments": {"a": 2, "b": 40}},
            }
        )
        assert result_of(await next_reply(3))["content"][0]["text"] == "The sum of 2 and 40 is 42."


# -- 2026-07-28 ----------------------------------------------------------------------------------


async def test_sdk_client_auto_mode_negotiates_2026_07_28(gateways: Gateways) -> None:
    with anyio.fail_after(60):
        async with gateways.http.client(mode="auto") as client:
            assert client.protocol_version == MODERN
            assert {tool.name for tool in (await client.list_tools()).tools} >= SERVED_TOOLS
            summed = await client.call_tool("get-sum", {"a": 2, "b": 40})
            echoed = await client.call_tool("probe__echo", {"text": "stateless ✓"})
    for result in (summed, echoed):
        assert not result.is_error, result
    assert isinstance(summed.content[0], types.TextContent)
    assert summed.content[0].text == "The sum of 2 and 40 is 42."
    assert isinstance(echoed.content[0], types.TextContent)
    assert echoed.content[0].text == "stateless ✓"


def modern_request(request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A 2026-07-28 request: the envelope travels in `params._meta` of every request."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**(params or {}), "_meta": meta}}


def modern_headers(method: str, name: str | None = None, version: str = MODERN) -> dict[str, str]:
    headers = {**ACCEPT, "MCP-Protocol-Version": version, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


async def test_stateless_2026_07_28_single_posts(http: httpx2.AsyncClient, gateways: Gateways) -> None:
    url = gateways.http.url
    listed = await http.post(url, json=modern_request(1, "tools/list"), headers=modern_headers("tools/list"))
    assert "mcp-session-id" not in listed.headers
    assert tool_names(result_of(reply_to(listed, 1))) >= SERVED_TOOLS

    call = modern_request(2, "tools/call", {"name": "get-sum", "arguments": {"a": 2, "b": 40}})
    called = await http.post(url, json=call, headers=modern_headers("tools/call", "get-sum"))
    assert "mcp-session-id" not in called.headers
    assert result_of(reply_to(called, 2))["content"][0]["text"] == "The sum of 2 and 40 is 42."

    # A revision the gateway does not serve is refused with the ones it does.
    refused = await http.post(
        url, json=modern_request(3, "tools/list"), headers=modern_headers("tools/list", version="2099-01-01")
    )
    assert refused.status_code == 400
    # The envelope says 2026-07-28 but the header says otherwise: the header rung reports the mismatch first.
    error = refused.json()["error"]
    assert error["code"] == types.HEADER_MISMATCH, error
    unsupported = modern_request(4, "tools/list")
    unsupported["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
    refused = await http.post(url, json=unsupported, headers=modern_headers("tools/list", version="2099-01-01"))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == types.UNSUPPORTED_PROTOCOL_VERSION, error
    assert MODERN in error["data"]["supported"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_results_name_the_gateway_not_the_backend(gateways: Gateways, mode: str) -> None:
    """A relayed result must not carry a backend's `serverInfo` stamp: the client talks to kubemcp."""
    with anyio.fail_after(60):
        async with gateways.http.client(mode=mode) as client:
            result = await client.call_tool("probe__echo", {"text": "who answered"})
    assert not result.is_error, result
    stamp = (result.meta or {}).get(SERVER_INFO_KEY)
    if mode == "auto":
        assert stamp is not None
    if stamp is not None:
        assert stamp["name"] == "kubemcp", stamp
