"""The Helm chart: lint, and what it renders with default and non-default values."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import CHART, REPO


def helm_template(helm: Path, *values: str, include_crds: bool = False) -> subprocess.CompletedProcess[str]:
    args = [str(helm), "template", "mcp", str(CHART), "--namespace", "kubemcp-system"]
    if include_crds:
        args.append("--include-crds")
    for value in values:
        args += ["--set", value]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def render(helm: Path, *values: str, include_crds: bool = False) -> list[dict[str, Any]]:
    result = helm_template(helm, *values, include_crds=include_crds)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def test_lint_is_clean(helm: Path) -> None:
    result = subprocess.run([str(helm), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults(helm: Path) -> None:
    docs = render(helm, include_crds=True)
    crds = by_kind(docs, "CustomResourceDefinition")
    assert sorted(crd["metadata"]["name"] for crd in crds) == [
        "mcpcatalogs.kubemcp.dev",
        "mcpgateways.kubemcp.dev",
        "mcpservers.kubemcp.dev",
    ]
    for crd in crds:  # byte-for-byte the CRDs of crds/, parsed
        source = yaml.safe_load((REPO / "crds" / f"{crd['metadata']['name']}.yaml").read_text())
        assert crd == source
    assert by_kind(render(helm), "CustomResourceDefinition") == []  # Helm's crds/ folder: never a template
    (deployment,) = by_kind(docs, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "kubemcp/kubemcp:0.1.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    startup = container["startupProbe"]  # a slow start on a busy node is waited for, not killed by liveness
    assert startup["httpGet"] == {"path": "/healthz", "port": "health"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert "initialDelaySeconds" not in container["livenessProbe"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-election" in container["args"]  # the replicas take turns through a Lease
    (budget,) = by_kind(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    (lease_role,) = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-operator-lease")]
    assert {verb for rule in lease_role["rules"] for verb in rule["verbs"]} == {"create", "get", "update"}
    assert container["args"][:2] == ["operator", "--all-namespaces"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    (gateway,) = by_kind(docs, "MCPGateway")
    assert gateway["spec"]["serverSelector"] == {"matchLabels": {"kubemcp.dev/gateway": "kubemcp"}}
    assert gateway["spec"]["serviceType"] == "ClusterIP"
    (role,) = by_kind(docs, "ClusterRole")
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {
        ("", "pods/attach"),
        ("kubemcp.dev", "mcpservers/status"),
        ("rbac.authorization.k8s.io", "roles"),
    } <= granted
    # Pods reference their Secrets; the operator makes the replicas' key, and only remote servers' header
    # secrets and OAuth tokens are read (by discovery, and by gateways that serve them), never listed or watched.
    secrets = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
    assert [rule["verbs"] for rule in secrets] == [["create", "get", "patch"]]


def test_non_default_values(helm: Path) -> None:
    docs = render(
        helm,
        "image.repository=registry.example/kubemcp",
        "image.tag=9.9.9",
        "image.pullPolicy=Never",
        "operator.watchNamespaces={team-a,team-b}",
        "operator.replicas=3",
        "gateway.name=edge",
        "gateway.serviceType=NodePort",
        "gateway.nodePort=30811",
        "gateway.replicas=3",
    )
    (deployment,) = by_kind(docs, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/kubemcp:9.9.9"
    assert container["imagePullPolicy"] == "Never"
    assert "--namespace=team-a" in container["args"]
    assert "--namespace=team-b" in container["args"]
    assert "--all-namespaces" not in container["args"]
    assert "--gateway-image=registry.example/kubemcp:9.9.9" in container["args"]
    assert deployment["spec"]["replicas"] == 3
    (gateway,) = by_kind(docs, "MCPGateway")
    assert gateway["metadata"]["name"] == "edge"
    assert gateway["spec"]["serviceType"] == "NodePort"
    assert gateway["spec"]["nodePort"] == 30811
    assert gateway["spec"]["replicas"] == 3
    (budget,) = by_kind(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    # Watching some namespaces: the operator's rights are Roles there; cluster-wide it only reads CRDs
    # and labels the namespaces it watches, by name.
    (cluster_role,) = by_kind(docs, "ClusterRole")
    cluster_wide = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert cluster_wide == {"customresourcedefinitions", "namespaces"}
    (namespaces_rule,) = [rule for rule in cluster_role["rules"] if rule["resources"] == ["namespaces"]]
    assert namespaces_rule["resourceNames"] == ["team-a", "team-b"]
    roles = {
        role["metadata"]["namespace"]: role
        for role in by_kind(docs, "Role")
        if role["metadata"]["name"] == "mcp-operator"
    }
    assert set(roles) == {"team-a", "team-b"}
    assert any("pods" in rule["resources"] for rule in roles["team-a"]["rules"])
    bound = {b["metadata"]["namespace"] for b in by_kind(docs, "RoleBinding") if b["roleRef"]["name"] == "mcp-operator"}
    assert bound == {"team-a", "team-b"}


def test_optional_parts_can_be_left_out(helm: Path) -> None:
    docs = render(helm, "gateway.create=false", "operator.podDisruptionBudget=false")
    assert by_kind(docs, "MCPGateway") == []
    assert by_kind(docs, "PodDisruptionBudget") == []
    assert len(by_kind(docs, "Deployment")) == 1
    single = render(helm, "operator.replicas=1")
    assert by_kind(single, "PodDisruptionBudget") == []  # one replica: a budget would block every drain


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("gateway.serviceType=Ingress", "serviceType"),
        ("gateway.nodePort=80", "nodePort"),
        ("gateway.transport=websocket", "transport"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("operator.watchNamespaces={Team_A}", "watchNamespaces"),
        ("operator.logFormat=xml", "logFormat"),
        ("exampleCatalog.create=true", "exampleCatalog"),  # a value no template uses is refused
        ("gateway.replics=3", "replics"),
    ],
)
def test_bad_values_are_refused_naming_the_value(helm: Path, value: str, named: str) -> None:
    result = helm_template(helm, value)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert named in result.stderr


def test_every_value_is_used_by_a_template(helm: Path) -> None:
    """Changing any leaf value changes what the chart renders (or a value is dead and must go)."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    changed = {
        "image.repository": "other/kubemcp", "image.tag": "1.2.3", "image.pullPolicy": "Always",
        "operator.replicas": "3", "operator.watchNamespaces": "{a}", "operator.logFormat": "text",
        "operator.resources.requests.cpu": "75m", "operator.resources.requests.memory": "99Mi",
        "operator.resources.limits.cpu": "2", "operator.resources.limits.memory": "400Mi",
        "operator.nodeSelector.zone": "a", "operator.tolerations[0].key": "k",
        "operator.podDisruptionBudget": "false",
        "servers.imagePullPolicy": "Never", "gateway.create": "false", "gateway.name": "edge",
        "gateway.transport": "sse", "gateway.port": "9000", "gateway.replicas": "2",
        "gateway.serviceType": "NodePort", "gateway.nodePort": "30811",
        "gateway.serverSelector.matchLabels.team": "a",
        "gateway.resources.requests.cpu": "75m", "gateway.resources.requests.memory": "99Mi",
        "gateway.resources.limits.cpu": "2", "gateway.resources.limits.memory": "600Mi",
        "gateway.metricsPort": "9464", "gateway.metricsAllowedFrom[0].podSelector.matchLabels.app": "prometheus",
        "gateway.otlpEndpoint": "http://otel:4318",
        # (a comma sets another value with it: these only render with their feature on)
        "metrics.serviceMonitor.enabled": "true",
        "metrics.serviceMonitor.interval": "15s,metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release": "prom,metrics.serviceMonitor.enabled=true",
        "metrics.dashboard.enabled": "true",
        "metrics.dashboard.labels.grafana_dashboard": "kubemcp,metrics.dashboard.enabled=true",
        "gateway.auth.allowUnauthenticated": "true", "gateway.authorization.default": "allow",
        "gateway.secretScan": "redact", "gateway.allowedFrom[0].podSelector.matchLabels.role": "client",
    }  # fmt: skip

    def leaves(data: Any, prefix: str = "") -> list[str]:
        if isinstance(data, dict) and data:
            return [leaf for key, value in data.items() for leaf in leaves(value, f"{prefix}{key}.")]
        return [prefix.rstrip(".")]

    for leaf in leaves(defaults):
        assert any(key == leaf or key.startswith((f"{leaf}.", f"{leaf}[")) for key in changed), f"{leaf}: untested"
    baseline = helm_template(helm).stdout
    for key, value in changed.items():
        rendered = helm_template(helm, f"{key}={value}")
        assert rendered.returncode == 0, rendered.stderr
        assert rendered.stdout != baseline, f"{key} changes nothing the chart renders"
