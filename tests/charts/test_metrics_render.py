"""The chart's Prometheus and Grafana parts: off by default (a plain install needs no ServiceMonitor
CRD), and when enabled, monitors whose selectors and ports match what the operator and the gateways
expose, and the dashboard as a ConfigMap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from charts.test_render import by_kind, render
from kubemcp.controller import mcpgateway_objects as objects
from kubemcp.crd.gateway_models import MCPGatewaySpec
from support import CHART


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_defaults_render_no_monitoring_objects(helm: Path) -> None:
    docs = render(helm)
    assert by_kind(docs, "ServiceMonitor") == []
    assert not [doc for doc in docs if doc["apiVersion"].startswith("monitoring.coreos.com")]
    assert [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-operator-metrics")] == []
    assert [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")] == []
    (gateway,) = by_kind(docs, "MCPGateway")
    assert "options" not in gateway["spec"]


def test_service_monitors_select_what_is_exposed(helm: Path) -> None:
    docs = render(
        helm,
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prometheus",
        "metrics.serviceMonitor.interval=15s",
    )
    monitors = {doc["metadata"]["name"]: doc for doc in by_kind(docs, "ServiceMonitor")}
    assert set(monitors) == {"mcp-operator", "mcp-gateways"}
    for monitor in monitors.values():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        assert monitor["spec"]["endpoints"][0]["interval"] == "15s"
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    # the operator's: its metrics Service selects the operator Pods and names the container's health port
    (service,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "mcp-operator-metrics"]
    (deployment,) = by_kind(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _matches(service["spec"]["selector"], pod_labels)
    assert _matches(monitors["mcp-operator"]["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    container_ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in container_ports
    assert monitors["mcp-operator"]["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    # the gateways': the metrics Service the operator makes for a gateway with a metrics port (the chart's
    # own gets 9464), never the MCP Service, whose /metrics needs a token
    (gateway,) = by_kind(docs, "MCPGateway")
    spec = MCPGatewaySpec.model_validate(gateway["spec"])
    assert spec.options is not None
    assert spec.options.metrics is not None
    assert spec.options.metrics.port == 9464
    names = objects.Names("kubemcp", "kubemcp-system")
    selector = monitors["mcp-gateways"]["spec"]["selector"]["matchLabels"]
    assert _matches(selector, objects.metrics_service(names, {}, 9464)["metadata"]["labels"])
    assert not _matches(selector, objects.service(names, {}, spec)["metadata"]["labels"])
    assert monitors["mcp-gateways"]["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitors["mcp-gateways"]["spec"]["namespaceSelector"] == {"any": True}


def test_a_metrics_port_and_tracing_reach_the_gateway(helm: Path) -> None:
    docs = render(
        helm,
        "metrics.serviceMonitor.enabled=true",
        "gateway.metricsPort=9100",
        "gateway.otlpEndpoint=http://otel-collector.observability:4318",
        "operator.watchNamespaces={team-a,team-b}",
        "gateway.allowedFrom[0].podSelector.matchLabels.role=client",
        "gateway.metricsAllowedFrom[0].namespaceSelector.matchLabels.name=monitoring",
    )
    (gateway,) = by_kind(docs, "MCPGateway")
    spec = MCPGatewaySpec.model_validate(gateway["spec"])  # what the CRD's model accepts
    assert spec.options is not None
    assert spec.options.metrics is not None
    assert spec.options.metrics.port == 9100
    names = objects.Names("kubemcp", "kubemcp-system")
    service = objects.metrics_service(names, {}, 9100)
    _, scrape = objects.ingress_policy(names, {}, spec)["spec"]["ingress"]  # Prometheus may reach the port
    assert scrape["from"] == [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    (monitor,) = [m for m in by_kind(docs, "ServiceMonitor") if m["metadata"]["name"] == "mcp-gateways"]
    port = monitor["spec"]["endpoints"][0]["port"]
    assert port == "metrics"
    assert port in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["team-a", "team-b", "kubemcp-system"]}
    args = objects.gateway_args(objects.Names("kubemcp", "kubemcp-system"), spec)
    assert "http://otel-collector.observability:4318" in args


def test_dashboard_configmap_carries_the_shipped_json(helm: Path) -> None:
    docs = render(helm, "metrics.dashboard.enabled=true")
    (configmap,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == "mcp-dashboard"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped: dict[str, Any] = json.loads((CHART / "dashboards" / "kubemcp.json").read_text())
    assert json.loads(configmap["data"]["kubemcp.json"]) == shipped
