"""prompts/get and resources/read to a long-lived or per-call server answered in front of the SDK's
transport (`gateway/fast_calls.py`) give the SDK's answers.

Two real gateways serve the same catalog (four copies of the feature server, two long-lived, one per
call and one per session, so prompt names carry their server's prefix and a resource URI several
servers offer is the first one's) with the same tokens and policy: one as shipped, one with `--no-fast-path`. The same
requests get byte-identical responses from both (prompts and resources, by URI and by template, a
request the policy forbids, prompt arguments and a resource the secret scan stops, the server's own
error), the same audit records and metrics, for a per-call server too; requests the fast path must
not take (a per-session server, unknown names, a progress token, a log level, a client that can be
asked, bad parameters, a 2025-era session) get the SDK's own answers. Each gateway's `/health` counts
the requests answered on the fast path by method, which shows the shipped one took it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from prometheus_client.parser import text_string_to_metric_families
from support import (
    ACCEPT,
    TESTS,
    GatewayProcess,
    audit_records,
    bearer,
    comparable,
    open_2025_session,
    shipped_and_sdk_gateways,
    streamable_http_with,
    until,
)
from support import (
    ShippedAndSdk as Pair,
)

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"
ADMIN, LIMITED = "admin-token-000000000000001", "limited-token-00000000000001"
POLICY = "default: allow\nrules:\n  - principals: [token:limited]\n    deny: ['beta:*', 'alpha:notes://*']\n"
CLIENT_INFO = {"name": "fast-reads-test", "version": "1"}
FEATURES = TESTS / "peers" / "feature_server.py"
GET, READ = "prompts/get", "resources/read"


def features(**extra: Any) -> dict[str, Any]:
    return {"description": "features", "process": {"command": [sys.executable, str(FEATURES)]}, **extra}


ENTRIES = {
    "alpha": features(longLived=True),
    "beta": features(longLived=True),
    "gamma": features(kubernetes={"lifecycle": "perSession"}),
    "delta": features(),  # per call
}


def meta(**extra: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": extra.pop("capabilities", {}),
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        **extra,
    }


def get(request_id: Any, name: Any, arguments: Any = None, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "_meta": params.pop("_meta", meta())}
    if arguments is not None:
        body["arguments"] = arguments
    return {"jsonrpc": "2.0", "id": request_id, "method": GET, "params": {**body, **params}}


def read(request_id: Any, uri: Any, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"uri": uri, "_meta": params.pop("_meta", meta())}
    return {"jsonrpc": "2.0", "id": request_id, "method": READ, "params": {**body, **params}}


def headers_for(token: str, body: dict[str, Any], **extra: str) -> dict[str, str]:
    """The routing headers a 2026-07-28 client sends with `body` (Mcp-Name mirrors its name or URI)."""
    method, params = body["method"], body["params"]
    name = params.get("name") if method == GET else params.get("uri")
    routing = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method, "Mcp-Name": str(name)}
    return {**ACCEPT, **bearer(token), **routing, **extra}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("fast-reads")
    with shipped_and_sdk_gateways(root, ENTRIES, {"admin": ADMIN, "limited": LIMITED}, POLICY) as gateways:
        yield gateways


@pytest.fixture
async def http(pair: Pair) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=60) as client:
        # The full listing kept in both gateways, each server discovered (and the long-lived ones
        # running): a request that finds no kept listing is the SDK's, which builds it.
        listed = {"jsonrpc": "2.0", "id": 0, "method": "prompts/list", "params": {"_meta": meta()}}
        headers = {**ACCEPT, **bearer(ADMIN), "MCP-Protocol-Version": MODERN, "Mcp-Method": "prompts/list"}
        for gateway in (pair.fast, pair.sdk):
            answer = await client.post(gateway.url, json=listed, headers=headers)
            assert answer.status_code == 200, answer.text
        yield client


def fast_served(gateway: GatewayProcess) -> dict[str, int]:
    """The requests the gateway answered on the fast path, by method."""
    report = httpx2.get(f"{gateway.base}/health", headers=bearer(ADMIN), timeout=10).json()
    return {method: int(count) for method, count in report.get("fast_calls_by_method", {}).items()}


def taken(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {method: after.get(method, 0) - before.get(method, 0) for method in (GET, READ, "tools/call")}


def kubemcp_metrics(gateway: GatewayProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every kubemcp sample but the ones that measure time (durations' sums and buckets, creation times)."""
    text = httpx2.get(f"{gateway.base}/metrics", headers=bearer(ADMIN), timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("kubemcp_") and not sample.name.endswith(("_sum", "_bucket", "_created"))
    }


async def both(http: httpx2.AsyncClient, pair: Pair, body: Any, headers: dict[str, str]) -> list[httpx2.Response]:
    raw = json.dumps(body).encode()
    return [await http.post(gateway.url, content=raw, headers=headers) for gateway in (pair.fast, pair.sdk)]


async def test_answers_audit_and_metrics_are_the_sdk_paths(http: httpx2.AsyncClient, pair: Pair) -> None:
    # Both long-lived servers running in both gateways first: a gateway that found a server's offerings in
    # the discovery cache the other one wrote starts it only when first used, which is not the path's doing.
    for name in ("alpha__greet", "beta__greet"):
        await both(http, pair, get(0, name, {"name": "start"}), headers_for(ADMIN, get(0, name)))
    before = fast_served(pair.fast)
    audit_before = [audit_records(gateway) for gateway in (pair.fast, pair.sdk)]
    metrics_before = [kubemcp_metrics(gateway) for gateway in (pair.fast, pair.sdk)]
    cases: list[tuple[str, dict[str, Any]]] = []
    for request_id in (1, 0, -7, 2**53 + 1, "a", 'ïd "quoted" \\ ☃', ""):
        cases.append((ADMIN, get(request_id, "alpha__greet", {"name": 'ädä "x" \\ ☃ <b>'})))
    cases += [
        (ADMIN, get(2, "alpha__greet", {"name": "ada", "style": "formal"})),
        (ADMIN, get(3, "beta__greet", {"name": "grace"})),
        (LIMITED, get(4, "alpha__greet", {"name": "linus"})),
        (LIMITED, get(5, "beta__greet", {"name": "alan"})),  # forbidden to this principal
        (ADMIN, get(6, "alpha__greet", {"name": f"carries a token {LIMITED}"})),  # blocked by the secret scan
        (ADMIN, get(7, "alpha__greet", {"style": "no name"})),  # the server's own error (a missing argument)
        (ADMIN, get(8, "alpha__greet")),
        (ADMIN, get(9, "alpha__greet", {"name": "x" * 5000})),
        (ADMIN, read(10, "features://counter")),  # alpha's (beta's is shadowed)
        (LIMITED, read(11, "features://counter")),
        (ADMIN, read(12, "notes://apples")),  # by template
        (LIMITED, read(13, "notes://bananas")),  # forbidden to this principal
        (ADMIN, read(14, f"notes://{ADMIN}")),  # its content holds a secret: withheld
        (ADMIN, read("r", "notes://un%C3%AFcode%20x")),
    ]
    for token, body in cases:
        fast, sdk = await both(http, pair, body, headers_for(token, body))
        assert comparable(fast) == comparable(sdk), (body, fast.text, sdk.text)
        assert fast.json()["id"] == body["id"]
    fast, _ = await both(
        http, pair, get(15, "alpha__greet", {"name": "ada"}), headers_for(ADMIN, get(0, "alpha__greet"))
    )
    assert fast.json()["result"]["messages"][0]["content"]["text"] == "hello ada (plain)"
    fast, _ = await both(http, pair, read(16, "notes://apples"), headers_for(ADMIN, read(0, "notes://apples")))
    assert fast.json()["result"]["contents"][0]["text"] == "notes on apples"
    reads = sum(body["method"] == READ for _, body in cases) + 1
    # Every one of them took the fast path (the forbidden and the stopped ones included).
    expected = {GET: len(cases) + 2 - reads, READ: reads, "tools/call": 0}
    assert await until(lambda: taken(before, fast_served(pair.fast)) == expected)
    assert fast_served(pair.sdk) == {}
    # No audit record on either path (the audit trail is of tool calls), and no metric changed on either.
    assert [audit_records(gateway) for gateway in (pair.fast, pair.sdk)] == audit_before
    assert [kubemcp_metrics(gateway) for gateway in (pair.fast, pair.sdk)] == metrics_before


async def test_a_per_call_server_s_prompt_is_the_sdk_path_s(http: httpx2.AsyncClient, pair: Pair) -> None:
    before = fast_served(pair.fast)
    for request_id, arguments in ((1, {"name": "per call"}), (2, {"style": "no name"})):  # an answer, an error
        body = get(request_id, "delta__greet", arguments)
        fast, sdk = await both(http, pair, body, headers_for(ADMIN, body))
        assert comparable(fast) == comparable(sdk), (body, fast.text, sdk.text)
    assert await until(lambda: taken(before, fast_served(pair.fast)) == {GET: 2, READ: 0, "tools/call": 0})
    assert fast_served(pair.sdk) == {}


async def test_errors_are_the_sdk_paths(http: httpx2.AsyncClient, pair: Pair) -> None:
    """The fast path's errors, one by one: the same codes, messages and data as the SDK's."""
    before = fast_served(pair.fast)
    forbidden = get(1, "beta__greet", {"name": "alan"})
    blocked = get(2, "alpha__greet", {"name": f"carries a token {LIMITED}"})
    withheld = read(3, f"notes://{ADMIN}")
    errors = []
    for token, body in ((LIMITED, forbidden), (ADMIN, blocked), (ADMIN, withheld)):
        fast, sdk = await both(http, pair, body, headers_for(token, body))
        assert comparable(fast) == comparable(sdk)
        errors.append(fast.json()["error"])
    assert [error["data"]["reason"] for error in errors] == ["forbidden", "secret_detected", "secret_detected"]
    assert [error["code"] for error in errors] == [types.INVALID_PARAMS, types.INVALID_PARAMS, types.INTERNAL_ERROR]
    assert await until(lambda: taken(before, fast_served(pair.fast)) == {GET: 2, READ: 1, "tools/call": 0})


async def test_requests_off_the_fast_path_get_the_sdks_answers(http: httpx2.AsyncClient, pair: Pair) -> None:
    before = fast_served(pair.fast)
    greet = get(1, "alpha__greet", {"name": "ada"})
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (get(1, "gamma__greet", {"name": "per session"}), headers_for(ADMIN, get(1, "gamma__greet"))),
        (get(1, "nope", {"name": "unknown"}), headers_for(ADMIN, get(1, "nope"))),
        (read(1, "unknown://nothing"), headers_for(ADMIN, read(1, "unknown://nothing"))),
        (get(1, "alpha__greet", {"name": "p"}, _meta=meta(progressToken="tok")), headers_for(ADMIN, greet)),
        (
            get(1, "alpha__greet", {"name": "l"}, _meta=meta(**{types.LOG_LEVEL_META_KEY: "debug"})),
            headers_for(ADMIN, greet),
        ),
        (get(1, "alpha__greet", {"name": "r"}, requestState="forged"), headers_for(ADMIN, greet)),
        (get(1, "alpha__greet", {"name": 5}), headers_for(ADMIN, greet)),  # prompt arguments are strings
        (get(1, "alpha__greet", "not an object"), headers_for(ADMIN, greet)),
        (read(1, "features://counter", extra=1), headers_for(ADMIN, read(1, "features://counter"))),
        (read(1, ["features://counter"]), headers_for(ADMIN, read(1, "features://counter"))),
        (get(True, "alpha__greet", {"name": "bad id"}), headers_for(ADMIN, greet)),
        (greet, headers_for(ADMIN, get(1, "beta__greet"))),  # Mcp-Name disagrees
        (read(1, "notes://apples"), headers_for(ADMIN, read(1, "notes://bananas"))),
        (greet, {**headers_for(ADMIN, greet), "Accept": "application/json"}),
        (greet, {**headers_for(ADMIN, greet), "Content-Type": "text/plain"}),
    ]
    for body, headers in cases:
        fast, sdk = await both(http, pair, body, headers)
        assert comparable(fast) == comparable(sdk), (body, headers, fast.text, sdk.text)
    assert fast_served(pair.fast) == before
    # A client that can be asked (sampling) runs its request as an exchange, through the SDK.
    asking = get(2, "alpha__greet", {"name": "s"}, _meta=meta(capabilities={"sampling": {}}))
    fast, sdk = await both(http, pair, asking, headers_for(ADMIN, asking))
    assert fast.json()["result"] == sdk.json()["result"]
    assert fast_served(pair.fast) == before


async def test_2025_session_requests_go_through_the_sdk(http: httpx2.AsyncClient, pair: Pair) -> None:
    version = "2025-11-25"
    before = fast_served(pair.fast)
    responses = []
    for gateway in (pair.fast, pair.sdk):
        headers = await open_2025_session(http, gateway.url, bearer(ADMIN), CLIENT_INFO, version)
        for body in (
            {"jsonrpc": "2.0", "id": 2, "method": GET, "params": {"name": "alpha__greet", "arguments": {"name": "s"}}},
            {"jsonrpc": "2.0", "id": 3, "method": READ, "params": {"uri": "notes://apples"}},
        ):
            responses.append(await http.post(gateway.url, json=body, headers=headers))
    assert [comparable(response) for response in responses[:2]] == [comparable(response) for response in responses[2:]]
    assert fast_served(pair.fast) == before


async def test_sdk_clients_of_both_eras_get_the_same_results(http: httpx2.AsyncClient, pair: Pair) -> None:
    before = fast_served(pair.fast)
    for mode in ("legacy", "auto"):
        results: list[list[Any]] = []
        for gateway in (pair.fast, pair.sdk):
            async with Client(streamable_http_with(gateway.url, bearer(ADMIN)), mode=mode) as client:
                results.append(
                    [
                        await client.get_prompt("alpha__greet", {"name": mode}),
                        await client.read_resource("notes://apricots"),
                        await client.read_resource("features://counter"),
                    ]
                )
        assert results[0] == results[1]
    # The 2026-07-28 client's requests.
    assert await until(lambda: taken(before, fast_served(pair.fast)) == {GET: 1, READ: 2, "tools/call": 0})
