"""An MCPGateway's `spec.options`: validated by the model (and the CRD), rendered into `gateway.yaml`
in the ConfigMap (what the gateway applies without a restart) or the Deployment's arguments (what
needs one), and loaded back by the gateway exactly as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from controller.objects import gateway
from kubemcp.controller import mcpgateway_objects as objects
from kubemcp.controller.kinds import owner_reference
from kubemcp.controller.mcpgateway import desired_objects
from kubemcp.controller.mcpgateway_files import render_files
from kubemcp.crd.gateway_models import MCPGatewaySpec
from kubemcp.files.gateway_options import load_gateway_options
from kubemcp.gateway.options import effective
from kubemcp.gateway.settings import GatewaySettings
from pydantic import ValidationError

NAMES = objects.Names("mcp", "team")
OWNER = owner_reference(gateway("mcp"))

OPTIONS = {
    "tools": ["dice:*", "notes:add"],
    "logCalls": True,
    "audit": {"enabled": True},
    "interceptors": [
        {"when": "before", "type": "http", "target": "http://policy.team.svc:8080/check", "timeoutSeconds": 3},
        {"when": "after", "type": "exec", "target": "/usr/local/bin/redact"},
    ],
    "limits": {"callTimeoutSeconds": 30, "idleTimeoutSeconds": 120},
    "metrics": {"port": 9464},
    "tracing": {"otlpEndpoint": "http://otel-collector.observability:4318"},
}


def test_reloadable_options_go_to_gateway_yaml_and_the_rest_to_arguments(tmp_path: Path) -> None:
    spec = MCPGatewaySpec.model_validate({"options": OPTIONS})
    files = render_files("mcp", [], options=spec.options)
    written = yaml.safe_load(files["gateway.yaml"])
    assert "metrics" not in written
    assert "tracing" not in written
    assert written["interceptors"][0] == OPTIONS["interceptors"][0]  # type: ignore[index]
    assert written["interceptors"][1]["timeoutSeconds"] == 10.0  # the default, written out
    # the gateway reads it back into the options in force
    path = tmp_path / "gateway.yaml"
    path.write_text(files["gateway.yaml"])
    loaded = load_gateway_options(path)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("registry: {}\n")
    settings = GatewaySettings(catalogs=[catalog], options_file=path)
    applied = effective(settings)
    assert applied.tools == ("dice:*", "notes:add")
    assert applied.log_calls is True
    assert applied.call_timeout == 30
    assert applied.idle_timeout == 120
    assert [hook.label for hook in applied.interceptors] == [
        "before:http:http://policy.team.svc:8080/check",
        "after:exec:/usr/local/bin/redact",
    ]
    assert loaded.interceptors == spec.options.interceptors  # type: ignore[union-attr]

    deployment = objects.deployment(NAMES, OWNER, spec, "kubemcp/kubemcp:dev")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--otlp-endpoint") + 1] == "http://otel-collector.observability:4318"
    assert args[args.index("--metrics-port") + 1] == "9464"
    assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]
    # the port that needs no token is on a ClusterIP Service of its own, never on the MCP Service
    spec = spec.model_copy(update={"service_type": "LoadBalancer"})
    assert [port["name"] for port in objects.service(NAMES, OWNER, spec)["spec"]["ports"]] == ["mcp"]
    bodies = desired_objects(NAMES, OWNER, spec, ["team"], {}, "kubemcp/kubemcp:dev")
    (scrape,) = [body for body in bodies if body["metadata"]["name"] == "mcp-kubemcp-metrics"]
    assert scrape["spec"]["type"] == "ClusterIP"
    assert scrape["spec"]["ports"] == [{"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"}]
    assert scrape["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics"
    assert scrape["spec"]["selector"] == objects.selector_labels(NAMES)


def test_a_network_policy_admits_only_metrics_allowed_from_to_the_metrics_port() -> None:
    clients = [{"podSelector": {"matchLabels": {"role": "client"}}}]
    prometheus = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    closed = MCPGatewaySpec.model_validate({"options": OPTIONS, "allowedFrom": clients})
    rules = objects.ingress_policy(NAMES, OWNER, closed)["spec"]["ingress"]
    assert [rule["ports"] for rule in rules] == [[{"protocol": "TCP", "port": closed.port}]]  # metrics: nobody
    scraped = MCPGatewaySpec.model_validate(
        {"options": OPTIONS, "allowedFrom": clients, "metricsAllowedFrom": prometheus}
    )
    mcp, metrics = objects.ingress_policy(NAMES, OWNER, scraped)["spec"]["ingress"]
    assert clients[0] in mcp["from"]
    assert prometheus[0] not in mcp["from"]
    assert metrics == {"from": prometheus, "ports": [{"protocol": "TCP", "port": 9464}]}


def test_without_options_nothing_changes() -> None:
    spec = MCPGatewaySpec()
    assert yaml.safe_load(render_files("mcp", [])["gateway.yaml"]) == {}
    container = objects.deployment(NAMES, OWNER, spec, "kubemcp/kubemcp:dev")["spec"]["template"]["spec"]
    args = container["containers"][0]["args"]
    assert "--otlp-endpoint" not in args
    assert "--metrics-port" not in args
    assert [port["name"] for port in objects.service(NAMES, OWNER, spec)["spec"]["ports"]] == ["mcp"]
    bodies = desired_objects(NAMES, OWNER, spec, ["team"], {}, "kubemcp/kubemcp:dev")
    assert all(body["metadata"]["name"] != "mcp-kubemcp-metrics" for body in bodies)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"interceptors": [{"when": "during", "type": "exec", "target": "x"}]}, "when"),
        ({"interceptors": [{"when": "before", "type": "http", "target": "ftp://x"}]}, "http:// or https://"),
        ({"interceptors": [{"when": "before", "type": "exec", "target": "x", "timeoutSeconds": 0}]}, "timeout"),
        ({"limits": {"callTimeoutSeconds": -1}}, "callTimeoutSeconds"),
        ({"tracing": {"otlpEndpoint": "collector:4318"}}, "otlpEndpoint"),
        ({"metrics": {"port": 70000}}, "port"),
        ({"unknown": True}, "unknown"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        MCPGatewaySpec.model_validate({"options": options})
    assert problem in str(raised.value)
