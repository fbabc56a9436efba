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


def render(helm: Path, *values: str) -> list[dict[str, Any]]:
    args = [str(helm), "template", "mcp", str(CHART), "--namespace", "kubemcp-system"]
    for value in values:
        args += ["--set", value]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def test_lint_is_clean(helm: Path) -> None:
    result = subprocess.run([str(helm), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults(helm: Path) -> None:
    docs = render(helm)
    crds = by_kind(docs, "CustomResourceDefinition")
    assert sorted(crd["metadata"]["name"] for crd in crds) == [
        "mcpcatalogs.kubemcp.dev",
        "mcpgateways.kubemcp.dev",
        "mcpservers.kubemcp.dev",
    ]
    for crd in crds:  # byte-for-byte the CRDs of crds/, parsed
        source = yaml.safe_load((REPO / "crds" / f"{crd['metadata']['name']}.yaml").read_text())
        assert crd == source
    (deployment,) = by_kind(docs, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "kubemcp/kubemcp:0.1.0"
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
    assert ("", "secrets") not in granted  # the operator never reads Secrets: Pods reference them


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
        "crds.keep=true",
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
    for crd in by_kind(docs, "CustomResourceDefinition"):
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_optional_parts_can_be_left_out(helm: Path) -> None:
    docs = render(helm, "crds.install=false", "gateway.create=false")
    assert by_kind(docs, "CustomResourceDefinition") == []
    assert by_kind(docs, "MCPGateway") == []
    assert len(by_kind(docs, "Deployment")) == 1
