"""The plain install path: `kubectl apply -f crds/` (done by the session) and `deploy/kubemcp.yaml`,
then an MCPGateway and an MCPServer, and a tool call through the gateway Service."""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
import pytest
from cluster_client import call, gateway_token, port_forward, probe_server, wait_for
from support import REPO

pytestmark = pytest.mark.cluster


def test_kubectl_apply_path(cluster: Any, namespace: str, product_images: dict[str, str]) -> None:
    manifest = (REPO / "deploy" / "kubemcp.yaml").read_text()
    manifest = (
        manifest.replace("kubemcp-system", namespace)
        .replace("kubemcp-operator", f"{namespace}-operator")
        .replace("image: kubemcp/kubemcp:0.1.0", f"image: {product_images['kubemcp']}")
        .replace("--gateway-image=kubemcp/kubemcp:0.1.0", f"--gateway-image={product_images['kubemcp']}")
        .replace("imagePullPolicy: IfNotPresent", "imagePullPolicy: Never")
    )
    # The namespace exists already (the test's own); apply everything else.
    documents = [doc for doc in manifest.split("\n---\n") if "kind: Namespace" not in doc]
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(documents))
    try:
        gateway = {
            "apiVersion": "kubemcp.dev/v1alpha1",
            "kind": "MCPGateway",
            "metadata": {"name": "plain"},
            "spec": {"serverSelector": {"matchLabels": {"kubemcp.dev/gateway": "plain"}}, "imagePullPolicy": "Never"},
        }
        server = probe_server(product_images["probe"])
        server["metadata"]["labels"] = {"kubemcp.dev/gateway": "plain"}
        for document in (gateway, server):
            cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))
        try:
            wait_for(lambda: gateway_ready_named(cluster, namespace, "plain"), 240, "the plain path's gateway")
        except AssertionError:
            for what in (["get", "mcpgateways,mcpservers,deployments,pods", "-o", "wide"],
                         ["logs", f"deployment/{namespace}-operator", "--tail=60"],
                         ["describe", "deployment", "plain"]):  # fmt: skip
                print(cluster.kubectl(*what, "-n", namespace, check=False).stdout)
            raise
        with port_forward(cluster, namespace, "svc/plain", 8811) as url:
            token = gateway_token(cluster, namespace, "plain")
            result = wait_for(lambda: echo_once(url, token), 120, "a tool call through the plain path's gateway")
        assert result == "plain path"
    finally:
        cluster.kubectl("delete", "-f", "-", "--wait=false", input="\n---\n".join(documents), check=False)


def gateway_ready_named(cluster: Any, namespace: str, name: str) -> bool:
    out = cluster.kubectl("get", "deployment", name, "-n", namespace, "-o", "json", check=False)
    return out.returncode == 0 and bool(json.loads(out.stdout).get("status", {}).get("availableReplicas"))


def echo_once(url: str, token: str) -> str | None:
    try:
        result = anyio.run(call, url, "echo", {"text": "plain path"}, token)
    except Exception:  # the gateway may not list the server yet
        return None
    block = result.content[0] if result.content else None
    return block.text if isinstance(block, types.TextContent) and not result.is_error else None
