"""Remote MCPServers on the real test cluster: the CRD takes them, the operator discovers them by
connecting (no Pod), and a gateway with the Kubernetes runtime connects out, with the header secret
and the OAuth token (`kubemcp oauth authorize ... --kubernetes`) read from the MCPServer's Secret.

The remote servers run on this machine's loopback, and so do the operator and the gateway (the
desktop form: `gateway run --runtime kubernetes --from-configmap`), so no traffic leaves it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import feature_checks as fc
import pytest
from controller.test_operator_cluster import KUBEMCP, Kube, Operator, resource, until
from support import GatewayProcess, RemoteServer, authorize_with_cli

pytestmark = [pytest.mark.cluster, pytest.mark.anyio]

HEADER_SECRET = "remote-s3cret-" + "77ab"
LABELS = {"kubemcp.dev/gateway": "remote-gw"}


def remote_server_spec(server: RemoteServer, **entry: Any) -> dict[str, Any]:
    return {"inline": {**server.entry(), **entry}}


async def test_remote_servers_are_discovered_and_served_without_pods(
    cluster: Any, kube: Kube, operator: Operator, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = ["--kubeconfig", str(cluster.kubeconfig)]
    with (
        RemoteServer("streamable-http", "--require-header", f"Authorization=Bearer {HEADER_SECRET}") as keyed,
        RemoteServer("sse", "--auth") as guarded,
    ):
        stored = subprocess.run(
            [str(KUBEMCP), "secret", "set", f"remote.token={HEADER_SECRET}", "--kubernetes", "-n", namespace,
             *kubeconfig],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert stored.returncode == 0, stored.stderr
        keyed_entry = {
            "remote": {**keyed.entry()["remote"], "headers": {"Authorization": "Bearer ${TOKEN}"}},
            "secrets": [{"name": "remote.token", "env": "TOKEN"}],
        }
        kube.apply(
            resource("MCPServer", "keyed", remote_server_spec(keyed, **keyed_entry), LABELS),
            resource("MCPServer", "guarded", remote_server_spec(guarded), LABELS),
            resource("MCPGateway", "remote-gw", {"replicas": 0, "serverSelector": {"matchLabels": LABELS}}),
        )
        until(lambda: (kube.condition("mcpserver", "keyed", "Discovered") or {}).get("status") == "True")
        keyed_status = kube.status("mcpserver", "keyed")
        assert "summarize" in {tool["name"] for tool in keyed_status["discovery"]["tools"]}
        assert "completions" in keyed_status["discovery"]["capabilities"]
        assert keyed_status["resolved"]["image"] in (None, "")
        resolved = kube.condition("mcpserver", "keyed", "Resolved")
        assert resolved is not None
        assert f"remote {keyed.url}" in resolved["message"]

        # Not authorized yet: discovery says which command fixes it, and retries with backoff.
        failed = until(lambda: (kube.condition("mcpserver", "guarded", "Discovered") or {}).get("status") == "False")
        assert failed
        condition = kube.condition("mcpserver", "guarded", "Discovered")
        assert condition is not None
        assert "kubemcp oauth authorize guarded" in condition["message"]
        authorize_with_cli(
            "guarded",
            None,
            {},
            "--url",
            guarded.url,
            "--transport",
            "sse",
            "--kubernetes",
            "-n",
            namespace,
            *kubeconfig,
        )
        until(lambda: (kube.condition("mcpserver", "guarded", "Discovered") or {}).get("status") == "True", timeout=180)
        assert kube.items("pods") == []  # nothing ran in the cluster

        role = kube.get("role", "kubemcp-gateway-remote-gw")
        secrets = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
        assert secrets == [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["kubemcp-secrets"],
                "verbs": ["get", "patch"],
            }
        ]

        args = [
            "--runtime", "kubernetes", "--namespace", namespace, "--from-configmap", "remote-gw-kubemcp-gateway",
            "--transport", "streaming", "--port", "0", *kubeconfig,
        ]  # fmt: skip
        with GatewayProcess(args, tmp_path / "gateway.log") as gateway:
            for mode in ("legacy", "auto"):
                target = fc.Target("cluster", lambda **options: gateway.client(**options), mode)
                sampled = await fc.call(target, "keyed__summarize", {"topic": "otters"})
                assert sampled["result"] == {
                    "error": False,
                    "structured": {"result": "test-model: echo: tell me about otters"},
                }
                roots = await fc.call(target, "guarded__workspace")
                assert roots["result"]["structured"] == {"result": ["file:///work/project", "file:///work/docs"]}
        everything = json.dumps([kube.get("mcpserver", "keyed"), kube.items("events")]) + operator.log + gateway.log
        assert HEADER_SECRET not in everything
