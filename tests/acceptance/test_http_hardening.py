"""The HTTP transports at their edges: health, DNS-rebinding protection (Host and Origin), the request
body limit, and malformed or foreign messages, against a running streamable-HTTP gateway and a
running legacy HTTP+SSE gateway. After every refusal the gateway must go on serving real clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from support import ACCEPT, GatewayProcess, probe_entry, time_entry, write_catalog

pytestmark = pytest.mark.anyio

MAX_BODY = 2048
APP_ORIGIN = "https://app.example"
TIMEOUT = 15.0


def initialize(protocol_version: str = "2025-06-18", **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "protocolVersion": protocol_version,
        "capabilities": {},
        "clientInfo": {"name": "hardening-test", "version": "1.0"},
    }
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


@pytest.fixture(scope="module", params=["streaming", "sse"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    transport: str = request.param
    root = tmp_path_factory.mktemp(f"hardening-{transport}")
    (root / "home").mkdir()
    catalog = write_catalog(root / "catalog.yaml", {"probe": probe_entry(), "time": time_entry()})
    args = ["--transport", transport, "--port", "0", "--catalog", str(catalog)]
    args += ["--allowed-origin", APP_ORIGIN, "--max-body-bytes", str(MAX_BODY)]
    env = {"KUBEMCP_HOME": str(root / "home"), "XDG_CACHE_HOME": str(root / "cache")}
    with GatewayProcess(args, root / "gateway.log", env) as started:
        yield started


@pytest.fixture
async def http(gateway: GatewayProcess) -> AsyncIterator[httpx2.AsyncClient]:
    """A raw HTTP client with the gateway's bearer token."""
    async with httpx2.AsyncClient(timeout=TIMEOUT, headers=gateway.headers) as client:
        yield client


def port_of(gateway: GatewayProcess) -> int:
    port = urlsplit(gateway.url).port
    assert port is not None
    return port


def is_sse(gateway: GatewayProcess) -> bool:
    return gateway.url.endswith("/sse")


def sdk_client(gateway: GatewayProcess) -> Client:
    return gateway.client()


async def assert_still_serving(gateway: GatewayProcess) -> None:
    """A real SDK client session works end to end, and the process is alive."""
    assert gateway.process is not None
    assert gateway.process.poll() is None, gateway.log
    with anyio.fail_after(60):
        async with sdk_client(gateway) as client:
            assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("echo", {"text": "still serving"})
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    assert block.text == "still serving"


def rpc_messages(response: httpx2.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response, whether sent as JSON or as an SSE stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    return [response.json()]


def jsonrpc_error(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC error object a refused request must carry in its body."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"HTTP {response.status_code} {response.headers.get('content-type')}: {response.text[:500]}"
    )
    body = response.json()
    assert body.get("jsonrpc") == "2.0", body
    assert "id" in body, body
    assert isinstance(body.get("error"), dict), body
    error: dict[str, Any] = body["error"]
    assert isinstance(error.get("code"), int), body
    assert isinstance(error.get("message"), str), body
    return error


@asynccontextmanager
async def sse_session(
    http: httpx2.AsyncClient, gateway: GatewayProcess, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[str, AsyncIterator[httpx2.ServerSentEvent]]]:
    """An open legacy SSE stream: (the message URL its `endpoint` event names, the remaining events)."""
    async with http.stream("GET", gateway.url, headers={"Accept": "text/event-stream", **(headers or {})}) as resp:
        assert resp.status_code == 200, (resp.status_code, await resp.aread())
        events = httpx2.EventSource(resp).__aiter__()
        with anyio.fail_after(TIMEOUT):
            first = await anext(events)
        assert first.event == "endpoint", first
        yield urljoin(gateway.url, first.data), events


async def post_message(
    http: httpx2.AsyncClient, gateway: GatewayProcess, content: bytes, headers: dict[str, str] | None = None
) -> httpx2.Response:
    """POST one body where this transport takes client messages (a fresh SSE session's endpoint for sse)."""
    if not is_sse(gateway):
        return await http.post(gateway.url, content=content, headers={**ACCEPT, **(headers or {})})
    async with sse_session(http, gateway) as (endpoint, _):
        return await http.post(
            endpoint,
            content=content,
            headers={"Content-Type": "application/json", **(headers or {})},
            follow_redirects=True,
        )


async def assert_mcp_endpoint_accepts(
    http: httpx2.AsyncClient, gateway: GatewayProcess, headers: dict[str, str]
) -> None:
    """A request with these headers reaches MCP: an SSE stream opens, or an initialize is answered."""
    if is_sse(gateway):
        async with sse_session(http, gateway, headers) as (endpoint, _):
            assert urlsplit(endpoint).path.startswith("/message")
        return
    response = await http.post(gateway.url, json=initialize(), headers={**ACCEPT, **headers})
    assert response.status_code == 200, response.text
    [reply] = rpc_messages(response)
    assert reply["result"]["serverInfo"]["name"] == "kubemcp"


async def mcp_endpoint_status(
    http: httpx2.AsyncClient, gateway: GatewayProcess, headers: dict[str, str]
) -> httpx2.Response:
    """The first request a client makes, with these headers (for requests the gateway should refuse)."""
    if is_sse(gateway):
        async with http.stream("GET", gateway.url, headers={"Accept": "text/event-stream", **headers}) as response:
            await response.aread()
            return response
    return await http.post(gateway.url, json=initialize(), headers={**ACCEPT, **headers})


# -- health --------------------------------------------------------------------------------------


async def test_health(http: httpx2.AsyncClient, gateway: GatewayProcess) -> None:
    response = await http.get(f"{gateway.base}/health")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    health = response.json()
    assert health["status"] == "ok"
    assert health["servers"] == ["probe", "time"]
    assert health["reloads"] == {"applied": 0, "unchanged": 0, "refused": 0}


# -- Host and Origin -----------------------------------------------------------------------------


async def test_foreign_host_is_refused_with_421(http: httpx2.AsyncClient, gateway: GatewayProcess) -> None:
    evil = {"Host": f"evil.example:{port_of(gateway)}"}
    health = await http.get(f"{gateway.base}/health", headers=evil)
    assert health.status_code == 421
    assert jsonrpc_error(health)["message"] == "Host not allowed"
    refused = await mcp_endpoint_status(http, gateway, evil)
    assert refused.status_code == 421
    # A loopback name is fine, with or without the port.
    for host in (f"localhost:{port_of(gateway)}", f"127.0.0.1:{port_of(gateway)}", "localhost"):
        assert (await http.get(f"{gateway.base}/health", headers={"Host": host})).status_code == 200, host
    await assert_still_serving(gateway)


@pytest.mark.parametrize("origin", ["http://evil.example", "https://app.example.evil", "http://app.example", "null"])
async def test_foreign_origin_is_refused_with_403(
    http: httpx2.AsyncClient, gateway: GatewayProcess, origin: str
) -> None:
    refused = await mcp_endpoint_status(http, gateway, {"Origin": origin})
    assert refused.status_code == 403
    assert jsonrpc_error(refused)["message"] == "Origin not allowed"
    await assert_still_serving(gateway)


async def test_loopback_origin_is_accepted(http: httpx2.AsyncClient, gateway: GatewayProcess) -> None:
    await assert_mcp_endpoint_accepts(http, gateway, {"Origin": f"http://localhost:{port_of(gateway)}"})
    await assert_mcp_endpoint_accepts(http, gateway, {"Origin": f"http://127.0.0.1:{port_of(gateway)}"})


async def test_allowed_origin_is_accepted(http: httpx2.AsyncClient, gateway: GatewayProcess) -> None:
    await assert_mcp_endpoint_accepts(http, gateway, {"Origin": APP_ORIGIN})


async def test_allowed_host_replaces_the_loopback_rule(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    gw = gateway_process("--catalog", str(catalog), "--allowed-host", "gateway.internal:*")
    port = port_of(gw)
    async with httpx2.AsyncClient(timeout=TIMEOUT) as client:
        assert (await client.get(f"{gw.base}/health", headers={"Host": f"gateway.internal:{port}"})).status_code == 200
        for host in (f"evil.example:{port}", f"127.0.0.1:{port}", "gateway.internal.evil:80"):
            assert (await client.get(f"{gw.base}/health", headers={"Host": host})).status_code == 421, host


# -- bodies --------------------------------------------------------------------------------------


async def test_body_over_the_limit_gets_413(http: httpx2.AsyncClient, gateway: GatewayProcess) -> None:
    under = json.dumps(initialize(pad="x" * (MAX_BODY - 400))).encode()
    assert len(under) < MAX_BODY
    accepted = await post_message(http, gateway, under)
    assert accepted.status_code in (200, 202), accepted.text
    over = json.dumps(initialize(pad="x" * 10_000)).encode()
    refused = await post_message(http, gateway, over)
    assert refused.status_code == 413, refused.text
    assert "too large" in jsonrpc_error(refused)["message"]
    await assert_still_serving(gateway)


async def test_malformed_json_gets_a_parse_error(http: httpx2.AsyncClient, gateway: GatewayProcess) -> None:
    response = await post_message(http, gateway, b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"')
    assert response.status_code == 400
    error = jsonrpc_error(response)
    assert error["code"] == types.PARSE_ERROR
    assert response.json()["id"] is None
    await assert_still_serving(gateway)


@pytest.mark.parametrize("body", [{"hello": "world"}, [1, 2]], ids=["object", "array"])
async def test_json_that_is_not_jsonrpc_gets_invalid_request(
    http: httpx2.AsyncClient, gateway: GatewayProcess, body: Any
) -> None:
    response = await post_message(http, gateway, json.dumps(body).encode())
    assert response.status_code == 400
    assert jsonrpc_error(response)["code"] == types.INVALID_REQUEST
    await assert_still_serving(gateway)


@pytest.mark.parametrize("request_id", [{"a": 1}, 1.5, True, None], ids=["object", "float", "boolean", "null"])
async def test_a_request_with_an_odd_id_is_answered_not_dropped(
    http: httpx2.AsyncClient, gateway: GatewayProcess, request_id: Any
) -> None:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}
    response = await post_message(http, gateway, json.dumps(body).encode())
    assert response.status_code == 400, response.text
    error = jsonrpc_error(response)
    assert error["code"] == types.INVALID_REQUEST
    assert "'id' must be a string or an integer" in error["message"]
    await assert_still_serving(gateway)


async def test_a_message_of_the_wrong_shape_is_answered_with_its_id(
    http: httpx2.AsyncClient, gateway: GatewayProcess
) -> None:
    body = {"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": "not an object"}
    response = await post_message(http, gateway, json.dumps(body).encode())
    assert response.status_code == 400
    assert jsonrpc_error(response)["code"] == types.INVALID_REQUEST
    assert response.json()["id"] == 41


async def test_a_wrong_content_type_is_a_jsonrpc_error(http: httpx2.AsyncClient, gateway: GatewayProcess) -> None:
    response = await post_message(http, gateway, json.dumps(initialize()).encode(), {"Content-Type": "text/plain"})
    assert response.status_code in (400, 415), response.text
    assert "Content-Type" in jsonrpc_error(response)["message"]
    await assert_still_serving(gateway)


async def test_unknown_paths_and_methods_are_jsonrpc_errors(http: httpx2.AsyncClient, gateway: GatewayProcess) -> None:
    not_found = await http.get(f"{gateway.base}/no-such-path")
    assert not_found.status_code == 404
    jsonrpc_error(not_found)
    wrong_method = await http.post(f"{gateway.base}/health", json={})
    assert wrong_method.status_code == 405
    jsonrpc_error(wrong_method)


@pytest.mark.parametrize("gateway", ["sse"], indirect=True)
async def test_sse_message_endpoint_refusals_are_jsonrpc_errors(
    http: httpx2.AsyncClient, gateway: GatewayProcess
) -> None:
    message = json.dumps(initialize("2024-11-05")).encode()
    headers = {"Content-Type": "application/json"}
    base = f"{gateway.base}/message/"
    for url, status in (
        (base, 400),  # no session_id
        (f"{base}?session_id=not-a-uuid", 400),
        (f"{base}?session_id={'0' * 32}", 404),  # no such session
    ):
        response = await http.post(url, content=message, headers=headers)
        assert response.status_code == status, (url, response.text)
        jsonrpc_error(response)
    await assert_still_serving(gateway)


@pytest.mark.parametrize("gateway", ["sse"], indirect=True)
async def test_sse_message_endpoint_is_served_where_advertised(
    http: httpx2.AsyncClient, gateway: GatewayProcess
) -> None:
    """The `endpoint` event names the URL to POST to; a client must not need a redirect to reach it."""
    async with sse_session(http, gateway) as (endpoint, events):
        response = await http.post(endpoint, json=initialize("2024-11-05"), follow_redirects=False)
        assert response.status_code == 202, (response.status_code, response.headers.get("location"))
        with anyio.fail_after(TIMEOUT):
            reply = json.loads((await anext(events)).data)
        assert reply["result"]["protocolVersion"] == "2024-11-05"


# -- unknown names -------------------------------------------------------------------------------


async def test_unknown_tool_is_a_jsonrpc_error_naming_it(gateway: GatewayProcess) -> None:
    with anyio.fail_after(60):
        async with sdk_client(gateway) as client:
            with pytest.raises(MCPError) as raised:
                await client.call_tool("no_such_tool", {})
            assert "no_such_tool" in raised.value.message
            assert raised.value.code == types.INVALID_PARAMS
            # The session is still good after the error.
            result = await client.call_tool("echo", {"text": "after"})
    assert not result.is_error
