"""The Helm chart: lint, and what it renders with default and non-default values."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster import settings
from support import REPO

CHART = REPO / "charts" / "kubemcp"


@pytest.fixture(scope="module")
def helm() -> Path:
    path = settings.helm_path()
    if not path.is_file():
        pytest.fail(f"helm is missing at {path}: run 'bash tests/cluster/setup.sh'")
    return path


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
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert by_kind(docs, "PodDisruptionBudget") == []  # one operator replica: nothing to keep up
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
    # Pods reference their Secrets; only remote servers' header secrets and OAuth tokens are read (by
    # discovery, and by gateways that serve them), never listed, watched or created.
    (secrets,) = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
    assert secrets["verbs"] == ["get", "patch"]


def test_non_default_values(helm: Path) -> None:
    docs = render(
        helm,
        "image.repository=registry.example/kubemcp",
        "image.tag=9.9.9",
        "image.pullPolicy=Never",
        "operator.watchNamespaces={team-a,team-b}",
        "operator.replicas=2",
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
    assert deployment["spec"]["replicas"] == 2
    (gateway,) = by_kind(docs, "MCPGateway")
    assert gateway["metadata"]["name"] == "edge"
    assert gateway["spec"]["serviceType"] == "NodePort"
    assert gateway["spec"]["nodePort"] == 30811
    assert gateway["spec"]["replicas"] == 3
    (budget,) = by_kind(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_optional_parts_can_be_left_out(helm: Path) -> None:
    docs = render(helm, "gateway.create=false", "operator.replicas=2", "operator.podDisruptionBudget=false")
    assert by_kind(docs, "MCPGateway") == []
    assert by_kind(docs, "PodDisruptionBudget") == []
    assert len(by_kind(docs, "Deployment")) == 1


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
        "operator.replicas": "2", "operator.watchNamespaces": "{a}", "operator.logFormat": "text",
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
    }  # fmt: skip

    def leaves(data: Any, prefix: str = "") -> list[str]:
        if isinstance(data, dict) and data:
            return [leaf for key, value in data.items() for leaf in leaves(value, f"{prefix}{key}.")]
        return [prefix.rstrip(".")]

    for leaf in leaves(defaults):
        assert any(key == leaf or key.startswith((f"{leaf}.", f"{leaf}[")) for key in changed), f"{leaf}: untested"
    baseline = helm_template(helm).stdout
    # podDisruptionBudget only matters with 2 operator replicas; the others are compared to the defaults.
    with_two = helm_template(helm, "operator.replicas=2").stdout
    for key, value in changed.items():
        base = with_two if key == "operator.podDisruptionBudget" else baseline
        extra = ("operator.replicas=2",) if key == "operator.podDisruptionBudget" else ()
        rendered = helm_template(helm, f"{key}={value}", *extra)
        assert rendered.returncode == 0, rendered.stderr
        assert rendered.stdout != base, f"{key} changes nothing the chart renders"
