"""Install the way users do, on the real test cluster: `helm install`, a tool call through the
gateway Service, `helm upgrade` that keeps serving, a gateway killed mid-call, `helm uninstall`
that leaves nothing behind; and the plain path, `kubectl apply -f crds/` plus the operator manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
import pytest
from cluster_client import (
    GATEWAY,
    RELEASE,
    call,
    call_pods,
    gateway_ready,
    gateway_token,
    get,
    listed_tools,
    port_forward,
    probe_server,
    wait_for,
)
from kubemcp.kube.pods import SERVER_SERVICE_ACCOUNT
from mcp.shared.exceptions import MCPError

pytestmark = pytest.mark.cluster


def test_helm_install_call_upgrade_kill_uninstall(
    cluster: Any, namespace: str, chart_release: Callable[..., Any], product_images: dict[str, str]
) -> None:
    chart_release("install")
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(probe_server(product_images["probe"])))
    wait_for(lambda: gateway_ready(cluster, namespace), 180, "the gateway Deployment")
    token = gateway_token(cluster, namespace)
    with port_forward(cluster, namespace, f"svc/{GATEWAY}", 8811) as url:
        wait_for(lambda: "whoami" in listed_tools(url, token), 120, "the probe's tools through the gateway")

        async def during_a_call() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, url, "sleep", {"seconds": 4}, token)
                serving = await anyio.to_thread.run_sync(
                    lambda: wait_for(lambda: call_pods(cluster, namespace), 60, "the call's Pod")
                )
                assert len(serving) == 1, "exactly one Pod serves the call"

        anyio.run(during_a_call)
        wait_for(lambda: call_pods(cluster, namespace) == [], 60, "no Pod after the call")
        whoami = anyio.run(call, url, "whoami", {}, token)
        assert not whoami.is_error
    chart_release("upgrade", "operator.logFormat=text")  # an upgrade rolls the operator; the gateway keeps serving
    with port_forward(cluster, namespace, f"svc/{GATEWAY}", 8811) as url:
        echoed = anyio.run(call, url, "echo", {"text": "after upgrade"}, token)
        assert isinstance(echoed.content[0], types.TextContent)
        assert echoed.content[0].text == "after upgrade"

    # The gateway dies mid-call: its per-call Pod goes with it (owned by the gateway's Pod), none is left.
    gateway_pod = get(
        cluster, namespace, "pods", "-l", f"app.kubernetes.io/name=kubemcp-gateway,app.kubernetes.io/instance={GATEWAY}"
    )
    assert gateway_pod["items"], "the gateway's Pod"
    with port_forward(cluster, namespace, f"svc/{GATEWAY}", 8811) as url:

        async def killed_mid_call() -> None:
            async with anyio.create_task_group() as tg:

                async def long_call() -> None:
                    try:
                        await call(url, "sleep", {"seconds": 50}, token)
                    except (MCPError, Exception):  # the connection dies with the gateway
                        return

                tg.start_soon(long_call)
                await anyio.to_thread.run_sync(
                    lambda: wait_for(lambda: call_pods(cluster, namespace), 60, "the long call's Pod")
                )
                for pod in gateway_pod["items"]:
                    cluster.kubectl("delete", "pod", "-n", namespace, pod["metadata"]["name"], "--grace-period=0",
                                    "--force", "--wait=false")  # fmt: skip
                tg.cancel_scope.cancel()

        anyio.run(killed_mid_call)
    wait_for(lambda: call_pods(cluster, namespace) == [], 120, "no per-call Pod left after the gateway died")

    # Deleting the MCPGateway removes everything it made.
    cluster.kubectl("delete", "mcpgateway", GATEWAY, "-n", namespace, "--wait=true")

    def owned_by_gateway(kind: str) -> list[str]:
        return [
            item["metadata"]["name"]
            for item in get(cluster, namespace, kind)["items"]
            if any(o.get("kind") == "MCPGateway" for o in item["metadata"].get("ownerReferences", []))
        ]

    for kind in ("deployment", "service", "configmap", "serviceaccount", "role", "rolebinding"):
        wait_for(lambda: owned_by_gateway(kind) == [], 60, f"{kind} objects of the deleted gateway to go")  # noqa: B023

    cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait")
    wait_for(lambda: get(cluster, namespace, "pods")["items"] == [], 120, "every Pod of the release to go")
    # The MCPServer the user made is theirs and stays (Helm keeps CRDs and never deletes custom
    # resources it did not make); so does what the operator set up for the servers of this namespace:
    # their ServiceAccount without rights and the NetworkPolicy refusing them all ingress.
    assert get(cluster, namespace, "mcpserver", "probe") is not None
    kept = {"default", "kube-root-ca.crt", SERVER_SERVICE_ACCOUNT}
    for kind in ("deployments", "services", "serviceaccounts", "configmaps"):
        left = [i["metadata"]["name"] for i in get(cluster, namespace, kind)["items"]
                if i["metadata"]["name"] not in kept]  # fmt: skip
        assert left == [], f"{kind} left after uninstall: {left}"
    account = get(cluster, namespace, "serviceaccount", SERVER_SERVICE_ACCOUNT)
    assert account["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubemcp"
    assert account["automountServiceAccountToken"] is False
    roles = json.loads(cluster.kubectl("get", "clusterroles,clusterrolebindings", "-o", "json").stdout)["items"]
    assert not [r for r in roles if r["metadata"]["name"].startswith(f"{RELEASE}-operator")]
