"""A gateway whose servers' discovered schemas together exceed a ConfigMap's 1 MiB, on the real test
cluster: the operator records each server's discovery in its MCPServer status, the gateway's ConfigMap
only names them, and the gateway (with its own ServiceAccount's rights, nothing more) reads them and
lists every tool without starting or reaching any server.

The servers are remote servers on this machine's loopback (discovery connects, no Pod starts), and the
operator and the gateway run here too (the desktop form, `gateway run --from-configmap`), so no traffic
leaves the machine.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from controller.test_operator_cluster import Kube, Operator, resource, until
from support import GatewayProcess, RemoteServer

pytestmark = [pytest.mark.cluster, pytest.mark.anyio]

SERVERS = 4
TOOLS = 4
SCHEMA_BYTES = 90_000  # 4 x 4 x 90 kB: about 1.4 MiB of schemas in all, 360 kB per MCPServer status
LABELS = {"kubemcp.dev/gateway": "wide"}
CONFIGMAP = "wide-kubemcp-gateway"


def service_account_kubeconfig(cluster: Any, namespace: str, account: str) -> Path:
    """A kubeconfig with a short-lived token of `account`: what the gateway's Pod has."""
    token = cluster.kubectl("create", "token", account, "--duration", "10m", namespace=namespace).stdout.strip()
    path: Path = cluster.user_kubeconfig(f"{namespace}-{account}", token, namespace)
    return path


async def all_tools(gateway: GatewayProcess) -> list[Any]:
    tools: list[Any] = []
    async with gateway.client() as client:
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if not cursor:
                return tools


async def test_a_gateway_serves_discovered_schemas_larger_than_a_configmap(
    cluster: Any, kube: Kube, operator: Operator, namespace: str, tmp_path: Path
) -> None:
    names = [f"wide{i}" for i in range(SERVERS)]
    wide = RemoteServer("streamable-http", "--tools", str(TOOLS), "--schema-bytes", str(SCHEMA_BYTES),
                        script="wide_server.py")  # fmt: skip
    with wide:
        kube.apply(
            *[resource("MCPServer", name, {"inline": wide.entry()}, LABELS) for name in names],
            resource("MCPGateway", "wide", {"replicas": 0, "serverSelector": {"matchLabels": LABELS}}),
        )

        def discovered(name: str) -> bool:
            return (kube.condition("mcpserver", name, "Discovered") or {}).get("status") == "True"

        for name in names:
            until(partial(discovered, name), timeout=180, what=f"{name} to be discovered")
    recorded = {name: kube.status("mcpserver", name)["discovery"] for name in names}
    assert sum(len(json.dumps(discovery)) for discovery in recorded.values()) > 1 << 20

    def all_named() -> dict[str, Any] | None:
        data = kube.get("configmap", CONFIGMAP)["data"]
        refs = yaml.safe_load(data.get("discovery.yaml") or "{}").get("servers") or {}
        return data if sorted(refs) == names else None

    data = until(all_named, what="the ConfigMap to name every server's discovery")
    assert sum(len(text) for text in data.values()) < 64 * 1024  # names, not schemas
    assert kube.items("pods") == []  # discovery connected: nothing ran in the cluster

    # The gateway reads the statuses with its own ServiceAccount (the Role grants them by name), and lists
    # every tool with the remote server stopped: from the recorded discoveries alone.
    account = service_account_kubeconfig(cluster, namespace, "wide-kubemcp-gateway")
    args = ["--runtime", "kubernetes", "--namespace", namespace, "--from-configmap", CONFIGMAP,
            "--transport", "streaming", "--port", "0", "--kubeconfig", str(account)]  # fmt: skip
    with GatewayProcess(args, tmp_path / "gateway.log") as gateway:
        with anyio.fail_after(120):
            tools = await all_tools(gateway)
            while len(tools) < SERVERS * TOOLS:
                await anyio.sleep(1)
                tools = await all_tools(gateway)
        assert sorted(tool.name for tool in tools) == sorted(f"{s}__tool_{t}" for s in names for t in range(TOOLS))
        for tool in tools:
            described = tool.input_schema["properties"]["value"]["description"]
            assert len(described) == SCHEMA_BYTES, tool.name
        assert "cannot read the discovery" not in gateway.log
