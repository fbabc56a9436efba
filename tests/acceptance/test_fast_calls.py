"""tools/call to a long-lived or per-call server answered in front of the SDK's transport
(`gateway/fast_calls.py`) gives the SDK's answers and records what the SDK path records.

Two real gateways serve the same catalog with the same tokens and policy: one as shipped, one with
`--no-fast-path`. The same calls get byte-identical responses from both (successes, tool errors, a
call the policy forbids, a call the secret scan blocks), with the same audit records, metrics and
recent calls, also for a per-call server, cold or warm; calls the fast path must not take (a 2025-era
session, a progress token, a log level, a client that can be asked, a per-session server, bad
parameters) get the SDK's own answers. A client
that hangs up cancels the backend request. Each gateway's `/health` counts the calls answered on
the fast path, which shows the shipped one took it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from prometheus_client.parser import text_string_to_metric_families
from support import (
    ACCEPT,
    GatewayProcess,
    audit_records,
    bearer,
    comparable,
    open_2025_session,
    probe_entry,
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
POLICY = "default: allow\nrules:\n  - principals: [token:limited]\n    deny: ['beta:*']\n"
CLIENT_INFO = {"name": "fast-calls-test", "version": "1"}


def meta(**extra: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": extra.pop("capabilities", {}),
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        **extra,
    }


ENTRIES = {
    "alpha": probe_entry("alpha", longLived=True),
    "beta": probe_entry("beta", longLived=True),
    "gamma": probe_entry("gamma"),  # per call
    "delta": probe_entry("delta", warm={"min": 1, "max": 1}),  # per call, from a warm pool
    "epsilon": probe_entry("epsilon", kubernetes={"lifecycle": "perSession"}),
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("fast-calls")
    with shipped_and_sdk_gateways(root, ENTRIES, {"admin": ADMIN, "limited": LIMITED}, POLICY) as gateways:
        yield gateways


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=60) as client:
        yield client


def call(request_id: Any, name: str, arguments: Any = None, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "_meta": params.pop("_meta", meta())}
    if arguments is not None:
        body["arguments"] = arguments
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {**body, **params}}


def headers_for(token: str, name: str, **extra: str) -> dict[str, str]:
    routing = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name}
    return {**ACCEPT, **bearer(token), **routing, **extra}


def health(gateway: GatewayProcess) -> dict[str, Any]:
    report: dict[str, Any] = httpx2.get(f"{gateway.base}/health", headers=bearer(ADMIN), timeout=10).json()
    return report


def fast_count(gateway: GatewayProcess) -> int:
    return int(health(gateway).get("fast_calls", 0))


async def both(http: httpx2.AsyncClient, pair: Pair, body: Any, headers: dict[str, str]) -> list[httpx2.Response]:
    raw = json.dumps(body).encode()
    return [await http.post(gateway.url, content=raw, headers=headers) for gateway in (pair.fast, pair.sdk)]


def call_metrics(gateway: GatewayProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx2.get(f"{gateway.base}/metrics", headers=bearer(ADMIN), timeout=10).text
    wanted = ("kubemcp_tool_calls_total", "kubemcp_tool_call_duration_seconds_count", "kubemcp_tool_calls_in_flight")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in wanted
    }


def recent(gateway: GatewayProcess) -> list[tuple[Any, ...]]:
    state = httpx2.get(f"{gateway.base}/ui/state", headers=bearer(ADMIN), timeout=10).json()
    return [(c.get("name"), c.get("server"), c.get("outcome"), c.get("principal")) for c in state["recent"]]


async def test_answers_audit_and_metrics_are_the_sdk_paths(http: httpx2.AsyncClient, pair: Pair) -> None:
    # Both long-lived servers running in both gateways first: how an instance came to be started (by a
    # call, whose audit record then has its start phases, or by listing the tools) is not the path's doing.
    for name in ("alpha__echo", "beta__echo"):
        await both(http, pair, call(0, name, {"text": "start"}), headers_for(ADMIN, name))
    before = fast_count(pair.fast)
    audit_before = [len(audit_records(gateway)) for gateway in (pair.fast, pair.sdk)]
    cases: list[tuple[Any, str, str, Any]] = []
    for request_id in (1, 0, -7, 2**53 + 1, "a", 'ïd "quoted" \\ ☃', ""):
        cases.append((request_id, ADMIN, "alpha__echo", {"text": 'héllo "wörld" \\ ☃ <b>'}))
    cases += [
        (2, LIMITED, "alpha__echo", {"text": "limited"}),
        (3, LIMITED, "beta__echo", {"text": "forbidden to this principal"}),
        (4, ADMIN, "beta__echo", {"text": f"carries a token {LIMITED}"}),  # blocked by the secret scan
        (5, ADMIN, "alpha__echo", {}),  # the tool's own error (a missing argument)
        (6, ADMIN, "alpha__echo", {"text": "x" * 5000}),
        (7, ADMIN, "beta__trace_meta", None),
    ]
    for request_id, token, name, arguments in cases:
        fast, sdk = await both(http, pair, call(request_id, name, arguments), headers_for(token, name))
        assert comparable(fast) == comparable(sdk), (name, arguments, fast.text, sdk.text)
        assert fast.json()["id"] == request_id
    fast, _ = await both(http, pair, call(8, "alpha__echo", {"text": "z"}), headers_for(ADMIN, "alpha__echo"))
    assert fast.json()["result"]["structuredContent"] == {"result": "z"}
    assert fast_count(pair.fast) - before == len(cases) + 1  # every one of them took the fast path
    assert fast_count(pair.sdk) == 0
    # The same audit records (but time, duration and the instance's pid), metrics and recent calls.
    assert await until(lambda: len(audit_records(pair.fast)) - audit_before[0] == len(cases) + 1)
    assert await until(lambda: len(audit_records(pair.sdk)) - audit_before[1] == len(cases) + 1)
    fast_audit, sdk_audit = audit_records(pair.fast)[audit_before[0] :], audit_records(pair.sdk)[audit_before[1] :]
    assert fast_audit == sdk_audit
    assert {r["outcome"] for r in fast_audit} >= {"ok", "forbidden", "secret_blocked"}
    assert call_metrics(pair.fast) == call_metrics(pair.sdk)
    assert recent(pair.fast) == recent(pair.sdk)


async def test_calls_off_the_fast_path_get_the_sdks_answers(http: httpx2.AsyncClient, pair: Pair) -> None:
    await both(http, pair, call(1, "alpha__echo", {"text": "warm"}), headers_for(ADMIN, "alpha__echo"))
    before = fast_count(pair.fast)
    name = "alpha__echo"
    cases: list[tuple[Any, dict[str, str]]] = [
        (call(1, name, {"text": "p"}, _meta=meta(progressToken="tok")), headers_for(ADMIN, name)),
        (call(1, name, {"text": "l"}, _meta=meta(**{types.LOG_LEVEL_META_KEY: "debug"})), headers_for(ADMIN, name)),
        (call(1, "epsilon__echo", {"text": "per session"}), headers_for(ADMIN, "epsilon__echo")),
        (call(1, "nope", {"text": "unknown"}), headers_for(ADMIN, "nope")),
        (call(1, name, "not an object"), headers_for(ADMIN, name)),
        (call(1, name, {"text": "r"}, requestState="forged"), headers_for(ADMIN, name)),
        (call(True, name, {"text": "bad id"}), headers_for(ADMIN, name)),
        (call(1, name, {"text": "h"}), headers_for(ADMIN, "alpha__other")),  # Mcp-Name disagrees
        (call(1, name, {"text": "a"}), {**headers_for(ADMIN, name), "Accept": "application/json"}),
        (call(1, name, {"text": "c"}), {**headers_for(ADMIN, name), "Content-Type": "text/plain"}),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}}, headers_for(ADMIN, name)),
    ]
    for body, headers in cases:
        fast, sdk = await both(http, pair, body, headers)
        assert comparable(fast) == comparable(sdk), (body, headers, fast.text, sdk.text)
    assert fast_count(pair.fast) == before
    # A client that can be asked (sampling) runs its call as an exchange, through the SDK.
    asking = call(2, name, {"text": "s"}, _meta=meta(capabilities={"sampling": {}}))
    fast, sdk = await both(http, pair, asking, headers_for(ADMIN, name))
    assert fast.json()["result"]["structuredContent"] == sdk.json()["result"]["structuredContent"] == {"result": "s"}
    assert fast_count(pair.fast) == before


def warm_ready(gateway: GatewayProcess, server: str) -> int:
    """How many warm instances of `server` are ready (`/health`'s count)."""
    return int(health(gateway).get("warm", {}).get(server, 0))


def without_timings(record: dict[str, Any]) -> dict[str, Any]:
    """An audit record of a per-call instance, its start phases' times left out (their names kept)."""
    phases = record.get("phases_ms")
    return {**record, "phases_ms": sorted(phases)} if isinstance(phases, dict) else record


async def test_calls_to_per_call_servers_cold_or_warm_are_the_sdk_paths(http: httpx2.AsyncClient, pair: Pair) -> None:
    before = fast_count(pair.fast)
    audit_before = [len(audit_records(gateway)) for gateway in (pair.fast, pair.sdk)]
    cases = [
        (1, "gamma__echo", {"text": "cold"}),
        (2, "delta__echo", {"text": "warm"}),
        (3, "delta__echo", {"text": f"warm, carries a token {LIMITED}"}),  # blocked before any instance is taken
        (4, "gamma__echo", {}),  # the tool's own error
        (5, "delta__echo", {"text": "warm again"}),
    ]
    for request_id, name, arguments in cases:
        if name.startswith("delta"):  # each gateway's warm instance ready, so both calls are served warm
            assert await until(lambda: all(warm_ready(gateway, "delta") >= 1 for gateway in (pair.fast, pair.sdk)), 60)
        fast, sdk = await both(http, pair, call(request_id, name, arguments), headers_for(ADMIN, name))
        assert comparable(fast) == comparable(sdk), (name, arguments, fast.text, sdk.text)
    assert fast_count(pair.fast) - before == len(cases)
    assert fast_count(pair.sdk) == 0
    assert await until(lambda: len(audit_records(pair.fast)) - audit_before[0] == len(cases))
    assert await until(lambda: len(audit_records(pair.sdk)) - audit_before[1] == len(cases))
    fast_audit = [without_timings(r) for r in audit_records(pair.fast)[audit_before[0] :]]
    sdk_audit = [without_timings(r) for r in audit_records(pair.sdk)[audit_before[1] :]]
    assert fast_audit == sdk_audit
    assert [r.get("warm") for r in fast_audit] == [None, True, None, None, True], fast_audit
    assert call_metrics(pair.fast) == call_metrics(pair.sdk)
    assert recent(pair.fast) == recent(pair.sdk)


async def test_2025_session_calls_go_through_the_sdk(http: httpx2.AsyncClient, pair: Pair) -> None:
    version = "2025-11-25"
    before = fast_count(pair.fast)
    responses = []
    for gateway in (pair.fast, pair.sdk):
        headers = await open_2025_session(http, gateway.url, bearer(ADMIN), CLIENT_INFO, version)
        params = {"name": "alpha__echo", "arguments": {"text": "s"}}
        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}
        responses.append(await http.post(gateway.url, json=body, headers=headers))
    assert comparable(responses[0]) == comparable(responses[1])
    assert fast_count(pair.fast) == before


async def test_sdk_clients_of_both_eras_get_the_same_results(pair: Pair) -> None:
    before = fast_count(pair.fast)
    for mode in ("legacy", "auto"):
        results = []
        for gateway in (pair.fast, pair.sdk):
            async with Client(streamable_http_with(gateway.url, bearer(ADMIN)), mode=mode) as client:
                results.append([await client.call_tool("alpha__echo", {"text": f"{mode} {n}"}) for n in range(3)])
        assert results[0] == results[1]
    assert fast_count(pair.fast) - before == 3  # the 2026-07-28 client's calls


async def test_a_client_that_hangs_up_cancels_the_backend_call(
    http: httpx2.AsyncClient, pair: Pair, tmp_path: Path
) -> None:
    before = fast_count(pair.fast)
    pidfile = tmp_path / "sleep.pid"
    body = call(1, "alpha__sleep", {"seconds": 600, "pidfile": str(pidfile)})
    async with http.stream("POST", pair.fast.url, json=body, headers=headers_for(ADMIN, "alpha__sleep")):
        assert await until(lambda: pidfile.exists() and pidfile.read_text() != "", 30)
    # The response was left unread and its connection closed: the backend request is cancelled.
    cancelled = Path(f"{pidfile}.cancelled")
    assert await until(cancelled.exists, 15), "the backend call outlived its client"
    assert cancelled.read_text() == pidfile.read_text()  # the long-lived instance, which goes on serving
    assert await until(lambda: fast_count(pair.fast) == before + 1)
    fast, sdk = await both(http, pair, call(9, "alpha__echo", {"text": "after"}), headers_for(ADMIN, "alpha__echo"))
    assert comparable(fast) == comparable(sdk)
