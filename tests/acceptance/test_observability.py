"""Metrics, traces and the audit trail of a real gateway process after real calls: /metrics scraped and
parsed, spans received by an OTLP collector in the test process, audit records read from stderr and
from the audit file."""

from __future__ import annotations

import json
import re
import stat
import sys
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from otlp_collector import OtlpCollector
from prometheus_client.parser import text_string_to_metric_families
from support import (
    TESTS,
    GatewayProcess,
    bearer,
    probe_entry,
    streamable_http_with,
    tool_value,
    ui_cookie,
    ui_sign_in,
    until,
    write_catalog,
    write_tokens,
)

pytestmark = pytest.mark.anyio

NEEDLE = "needle-4be1c0de-argument"  # an argument value that must never reach a log or a metric


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def audit_records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"time"')]


async def test_metrics_and_audit_records_after_real_calls(tmp_path: Path, gateway_process: Any) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    audit_file = tmp_path / "audit" / "calls.jsonl"
    gateway: GatewayProcess = gateway_process("--catalog", str(catalog), "--audit-file", str(audit_file))
    async with gateway.client() as client:
        assert tool_value(await client.call_tool("echo", {"text": NEEDLE})) == NEEDLE
        assert tool_value(await client.call_tool("echo", {"text": NEEDLE + NEEDLE})) == NEEDLE + NEEDLE
        with pytest.raises(MCPError):
            await client.call_tool("crash", {"code": 4})
        with pytest.raises(MCPError):
            await client.call_tool(NEEDLE, {})  # an unknown name: audited cut short, never a metric label
        whoami = tool_value(await client.call_tool("whoami", {}))

    for path in ("/metrics", "/ui", "/ui/state"):  # on the MCP port, behind its authentication
        assert httpx2.get(f"{gateway.base}{path}", timeout=10).status_code == 401
    metrics = httpx2.get(f"{gateway.base}/metrics", headers=gateway.headers, timeout=10)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert NEEDLE not in metrics.text
    scraped = samples(metrics.text)
    assert value(scraped, "kubemcp_tool_calls_total", server="probe", tool="echo", outcome="ok") == 2
    assert value(scraped, "kubemcp_tool_calls_total", server="probe", tool="crash", outcome="error") == 1
    assert value(scraped, "kubemcp_tool_calls_total", server="", tool="", outcome="unknown_tool") == 1
    assert value(scraped, "kubemcp_tool_call_duration_seconds_count", server="probe", tool="echo") == 2
    assert value(scraped, "kubemcp_tool_call_duration_seconds_bucket", server="probe", tool="echo", le="+Inf") == 2
    # one instance per call (per-call lifecycle) plus one for discovery: each spawned, then initialized
    starts = value(scraped, "kubemcp_instance_starts_total", server="probe", outcome="ok")
    assert starts >= 4
    for phase in ("spawned", "initialized"):
        assert value(scraped, "kubemcp_instance_start_phase_seconds_count", server="probe", phase=phase) == starts
    assert value(scraped, "kubemcp_tool_calls_in_flight", server="probe") == 0
    assert value(scraped, "kubemcp_servers", state="served") == 1
    assert value(scraped, "process_open_fds") > 0

    records = audit_records(gateway.log)
    assert [r["outcome"] for r in records] == ["ok", "ok", "error", "unknown_tool", "ok"]
    first = records[0]
    assert set(first) == {
        "time", "event", "principal", "server", "tool", "name", "outcome", "duration_ms", "instance", "warm",
        "arguments", "result", "phases_ms",
    }  # fmt: skip
    assert first["phases_ms"].keys() == {"spawned", "initialized"}  # its own instance's start, per phase
    assert 0 < first["phases_ms"]["spawned"] <= first["phases_ms"]["initialized"] < first["duration_ms"]
    assert first["principal"] == "token:test"
    assert (first["server"], first["tool"], first["event"]) == ("probe", "echo", "tools/call")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert first["duration_ms"] > 0
    assert first["arguments"]["bytes"] == len(json.dumps({"text": NEEDLE}, separators=(",", ":")))
    assert first["arguments"]["digest"] != records[1]["arguments"]["digest"]
    assert re.fullmatch(r"pid \d+", first["instance"])
    assert records[4]["instance"] == f"pid {whoami['pid']}"  # the process that answered
    assert records[2]["error_code"] == types.INTERNAL_ERROR
    assert records[3]["tool"] == NEEDLE[:200]
    assert NEEDLE not in gateway.log.replace(json.dumps(records[3]["tool"]), "")  # only the unknown name itself
    # the file has the same records, readable by its owner only
    assert await until(lambda: audit_file.is_file() and len(audit_records(audit_file.read_text())) == 5)
    assert audit_records(audit_file.read_text()) == records
    assert stat.S_IMODE(audit_file.stat().st_mode) == 0o600

    state = httpx2.get(f"{gateway.base}/ui/state", headers=gateway.headers, timeout=10).json()
    assert [call["outcome"] for call in state["recent"]] == ["ok", "error", "ok", "ok"]  # newest first
    assert state["recent"][0]["phases_ms"].keys() == {"spawned", "initialized"}


async def test_metrics_port_and_no_audit(tmp_path: Path, gateway_process: Any) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(longLived=True)})
    gateway: GatewayProcess = gateway_process(
        "--catalog", str(catalog), "--metrics-port", "0", "--no-audit", "--log-calls"
    )
    assert await until(lambda: "serving metrics on" in gateway.log)
    match = re.search(r"serving metrics on (http://\S+/metrics)", gateway.log)
    assert match is not None
    async with gateway.client() as client:
        await client.call_tool("echo", {"text": "x"})
    scraped = samples(httpx2.get(match.group(1), timeout=10).text)  # no token needed on the metrics port
    assert value(scraped, "kubemcp_tool_calls_total", server="probe", tool="echo", outcome="ok") == 1
    assert value(scraped, "kubemcp_resident_instances", server="probe") == 1
    other = match.group(1).removesuffix("/metrics")
    assert httpx2.get(f"{other}/ui", timeout=10).status_code == 404  # the second port serves metrics only
    assert httpx2.get(f"{other}/mcp", timeout=10).status_code == 404
    assert audit_records(gateway.log) == []
    assert re.search(
        r"call echo -> probe/echo for token:test in [\d.]+ ms \(ok\)", gateway.log
    )  # --log-calls: a line per call


async def test_counters_of_known_outcomes_are_exported_at_zero_from_the_start(
    tmp_path: Path, gateway_process: Any
) -> None:
    """So the first reload or denial shows in rate() and increase(): a series that appears at 1 does not."""
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    hook = f"before:exec:{sys.executable} {TESTS / 'peers' / 'interceptor.py'}"
    gateway: GatewayProcess = gateway_process("--catalog", str(catalog), "--interceptor", hook)
    scraped = samples(httpx2.get(f"{gateway.base}/metrics", headers=gateway.headers, timeout=10).text)
    for outcome in ("applied", "unchanged", "rejected"):
        assert scraped[("kubemcp_config_reloads_total", frozenset({("outcome", outcome)}))] == 0
    for decision in ("allow", "deny", "rewrite", "respond", "fail"):
        labels = frozenset({"when": "before", "kind": "exec", "decision": decision}.items())
        assert scraped[("kubemcp_interceptor_decisions_total", labels)] == 0


async def test_spans_reach_an_otlp_collector_in_the_callers_trace(tmp_path: Path, gateway_process: Any) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with OtlpCollector() as collector:
        gateway: GatewayProcess = gateway_process(
            "--catalog", str(catalog), "--otlp-endpoint", collector.endpoint,
            env={"OTEL_BSP_SCHEDULE_DELAY": "100"},
        )  # fmt: skip
        meta: Any = {"traceparent": f"00-{trace_id}-{caller_span}-01", "tracestate": "vendor=value"}
        async with gateway.client() as client:
            passed_on = tool_value(await client.call_tool("trace_meta", {}, meta=meta))
        assert await until(lambda: collector.named("tools/call trace_meta"), timeout=30)
        (request,) = collector.named("tools/call trace_meta")
        assert (request.trace_id, request.parent_span_id) == (trace_id, caller_span)
        assert request.service == "kubemcp-gateway"
        assert request.kind == 2  # SERVER
        assert request.attributes["kubemcp.server"] == "probe"
        assert request.attributes["kubemcp.outcome"] == "ok"

        def child(name: str) -> Any:
            found = [span for span in collector.named(name) if span.trace_id == trace_id]
            return found[0] if found else None

        assert await until(lambda: all(child(n) for n in ("kubemcp.instance.start", "kubemcp.handshake")))
        start, handshake, backend = (
            child("kubemcp.instance.start"), child("kubemcp.handshake"), child("kubemcp.backend.call"),
        )  # fmt: skip
        assert {start.parent_span_id, handshake.parent_span_id, backend.parent_span_id} == {request.span_id}
        assert "spawned" in start.events
        assert "initialized" in handshake.events  # on the span of the step that reached it
        assert backend.attributes["kubemcp.instance"].startswith("pid ")
        # the server got the trace context in its request's _meta: same trace, a span of the gateway's
        assert await until(lambda: child("MCP send tools/call trace_meta") is not None)
        sent = child("MCP send tools/call trace_meta")
        assert passed_on["traceparent"] == f"00-{trace_id}-{sent.span_id}-01"
        assert sent.parent_span_id == backend.span_id
        assert passed_on["tracestate"] == "vendor=value"


async def test_the_status_page_shows_a_limited_caller_only_its_servers_and_calls(
    tmp_path: Path, gateway_process: Any
) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"alpha": probe_entry("alpha"), "beta": probe_entry("beta")})
    ops, alice = "ops-token-00000000000001", "alice-token-0000000000001"
    tokens = write_tokens(tmp_path / "tokens.env", ops=ops, alice=alice)
    policy = tmp_path / "authz.yaml"
    policy.write_text("default: allow\nrules:\n  - principals: [token:alice]\n    deny: ['beta:*']\n")
    gateway: GatewayProcess = gateway_process(
        "--catalog", str(catalog), "--tokens-file", str(tokens), "--authz", str(policy)
    )
    async with Client(streamable_http_with(gateway.url, bearer(ops))) as client:
        await client.call_tool("alpha__echo", {"text": "a"})
        await client.call_tool("beta__echo", {"text": "b"})
        with pytest.raises(MCPError):  # secret scanning refuses it before any interceptor or server sees it
            await client.call_tool("beta__echo", {"text": "ghp_" + "A1b2C3d4" * 5})
    async with Client(streamable_http_with(gateway.url, bearer(alice))) as client:
        await client.call_tool("alpha__echo", {"text": "c"})
        with pytest.raises(MCPError):
            await client.call_tool("beta__echo", {"text": "d"})

    def state(token: str) -> Any:
        return httpx2.get(f"{gateway.base}/ui/state", headers=bearer(token), timeout=10).json()

    everything, limited = state(ops), state(alice)
    assert [s["name"] for s in everything["servers"]] == ["alpha", "beta"]
    assert [(c["principal"], c["tool"], c["outcome"]) for c in everything["recent"]] == [
        ("token:alice", "beta__echo", "forbidden"),
        ("token:alice", "alpha__echo", "ok"),
        ("token:ops", "beta__echo", "secret_blocked"),
        ("token:ops", "beta__echo", "ok"),
        ("token:ops", "alpha__echo", "ok"),
    ]
    assert [s["name"] for s in limited["servers"]] == ["alpha"]
    assert all(not tool.startswith("beta") for s in limited["servers"] for tool in s["tools"])
    assert [(c["principal"], c["tool"]) for c in limited["recent"]] == [
        ("token:alice", "beta__echo"),
        ("token:alice", "alpha__echo"),
    ]
    # Signed in from a browser (a cookie, not a header), alice sees the same limited view.
    signed_in = ui_cookie(ui_sign_in(gateway.base, alice))
    by_cookie = httpx2.get(f"{gateway.base}/ui/state", headers=signed_in, timeout=10).json()
    assert by_cookie["principal"] == "token:alice"
    assert (by_cookie["servers"], by_cookie["recent"]) == (limited["servers"], limited["recent"])
    forbidden = [r for r in audit_records(gateway.log) if r["outcome"] == "forbidden"]
    assert [(r["principal"], r["server"], r["tool"]) for r in forbidden] == [("token:alice", "beta", "echo")]
