"""The operator's metrics: reconciles counted and timed by kind, trigger and outcome, served on
`/metrics` by the same HTTP endpoint as `/healthz`."""

from __future__ import annotations

import socket

import httpx2
import pytest
from controller.fakekube import FakeKube
from controller.objects import catalog, gateway
from kubemcp.controller import kinds
from kubemcp.controller.context import Controller
from kubemcp.controller.kopf_handlers import _guarded
from kubemcp.controller.mcpcatalog import reconcile_catalog
from kubemcp.controller.options import OperatorOptions
from kubemcp.controller.resync import resync_once
from kubemcp.controller.runner import _probes
from kubemcp.kube.client import KubeApiError
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.anyio
NS = "team"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


async def test_reconciles_are_counted_timed_and_served(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube()
    ctl = Controller(kube, OperatorOptions(namespaces=(NS,), gateway_image="kubemcp/kubemcp:dev"))
    kube.put(kinds.path(kinds.CATALOGS, NS, "examples"), catalog())
    kube.put(kinds.path(kinds.GATEWAYS, NS, "mcp"), gateway("mcp"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with _probes(f"{base}/healthz", lambda: None), httpx2.AsyncClient(timeout=10) as http:
        before = (await http.get(f"{base}/metrics")).text
        await resync_once(ctl)
        await _guarded(kinds.CATALOGS, f"catalog {NS}/examples", reconcile_catalog(ctl, NS, "examples"))

        async def broken() -> None:
            raise KubeApiError(503, "ServiceUnavailable", "the API server is away")

        await _guarded(kinds.GATEWAYS, f"gateway {NS}/mcp", broken())  # logged, counted, left to the next pass
        response = await http.get(f"{base}/metrics")
        health = await http.get(f"{base}/healthz")
    assert health.json()["status"] == "ok"
    text = response.text

    def grew(name: str, **labels: str) -> float:
        return _value(text, name, **labels) - _value(before, name, **labels)

    assert grew("kubemcp_operator_reconciles_total", kind="MCPCatalog", trigger="resync", outcome="ok") == 1
    assert grew("kubemcp_operator_reconciles_total", kind="MCPGateway", trigger="resync", outcome="ok") == 1
    assert grew("kubemcp_operator_reconciles_total", kind="MCPCatalog", trigger="event", outcome="ok") == 1
    assert grew("kubemcp_operator_reconciles_total", kind="MCPGateway", trigger="event", outcome="api_error") == 1
    assert grew("kubemcp_operator_reconcile_duration_seconds_count", kind="MCPCatalog") == 2
    assert _value(text, "kubemcp_operator_leading") == 1  # no leader election: it leads
    assert _value(text, "process_resident_memory_bytes") > 0


def test_operator_and_gateway_registries_are_apart() -> None:
    from kubemcp.controller.metrics import REGISTRY as OPERATOR
    from kubemcp.telemetry.metrics import REGISTRY as GATEWAY

    operator_names = {metric.name for metric in OPERATOR.collect()}
    gateway_names = {metric.name for metric in GATEWAY.collect()}
    assert "kubemcp_operator_reconciles" in operator_names
    assert "kubemcp_tool_calls" in gateway_names
    assert not {name for name in operator_names & gateway_names if name.startswith("kubemcp_")}
