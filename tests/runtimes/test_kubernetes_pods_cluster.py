"""The Kubernetes runtime on the real test cluster: the gateway runs on this machine with
`--runtime kubernetes`, every call runs in a Pod (or a Job's Pod) reached through `pods/attach`."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from support import tool_value, write_catalog

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

SECRET = "cluster-s3cret-" + "77e1"


def _entry(image: str, **kubernetes: Any) -> dict[str, Any]:
    return {
        "description": "the test probe as an image",
        "image": image,
        "command": ["probe"],
        "kubernetes": {"imagePullPolicy": "Never", "secretName": "probe-secrets", **kubernetes},
        "secrets": [{"name": "probe.token", "env": "PROBE_TOKEN"}],
        "tools": [{"name": name, "description": name} for name in ("whoami", "env", "sleep", "crash", "echo")],
    }


def _pods(cluster: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    items: list[dict[str, Any]] = json.loads(out.stdout if hasattr(out, "stdout") else out)["items"]
    return items


async def _until(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await anyio.sleep(0.2)
    return check()


@pytest.fixture
def secret(cluster: Any, namespace: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "probe-secrets", "namespace": namespace},
        "data": {"probe.token": base64.b64encode(SECRET.encode()).decode()},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


@pytest.fixture
def cluster_gateway(
    cluster: Any, namespace: str, product_images: dict[str, str], gateway_process: Any, tmp_path: Path, secret: None
) -> Any:
    def start(**kubernetes: Any) -> Any:
        catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": _entry(product_images["probe"], **kubernetes)})
        return gateway_process(
            "--catalog", str(catalog), "--runtime", "kubernetes", "--kubeconfig", str(cluster.kubeconfig),
            "--namespace", namespace, "--gateway-name", "host-gw", "--log-calls", "--debug",
        )  # fmt: skip

    return start


async def test_each_call_runs_in_its_own_pod_that_is_gone_after(
    cluster: Any, namespace: str, cluster_gateway: Any
) -> None:
    gateway = cluster_gateway()
    selector = "kubemcp.dev/server=probe"
    async with gateway.client() as client:
        async with anyio.create_task_group() as tg:

            async def slow() -> None:
                await client.call_tool("sleep", {"seconds": 3})

            tg.start_soon(slow)
            running = await _until(
                lambda: [p for p in _pods(cluster, namespace, selector) if p["status"].get("phase") == "Running"]
            )
            assert len(running) == 1, "exactly one Pod serves the call"
            assert running[0]["metadata"]["labels"]["kubemcp.dev/role"] == "call"
        assert await _until(lambda: _pods(cluster, namespace, selector) == []), "the call's Pod was left behind"
        first = tool_value(await client.call_tool("whoami", {}))
        second = tool_value(await client.call_tool("whoami", {}))
        assert first["hostname"] != second["hostname"]  # a fresh Pod per call
        assert first["hostname"].startswith("mcp-probe-call-")
        assert tool_value(await client.call_tool("env", {"name": "PROBE_TOKEN"})) == SECRET
    assert await _until(lambda: _pods(cluster, namespace, selector) == [])
    assert SECRET not in gateway.log


async def test_job_per_call_cleans_up(cluster: Any, namespace: str, cluster_gateway: Any) -> None:
    gateway = cluster_gateway(perCallKind="Job")
    async with gateway.client() as client:
        echoed = tool_value(await client.call_tool("echo", {"text": "through a Job"}))
    assert echoed == "through a Job"

    def jobs() -> list[Any]:
        listed: list[Any] = json.loads(cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)["items"]
        return listed

    assert await _until(lambda: jobs() == []), "the call's Job was left behind"
    assert await _until(lambda: _pods(cluster, namespace, "kubemcp.dev/server=probe") == [])


async def test_failures_name_the_server(cluster: Any, namespace: str, cluster_gateway: Any) -> None:
    gateway = cluster_gateway()
    async with gateway.client() as client:
        with pytest.raises(MCPError) as crashed:
            await client.call_tool("crash", {"code": 5})
        assert "probe" in crashed.value.error.message
        assert "5" in crashed.value.error.message
        assert tool_value(await client.call_tool("echo", {"text": "still fine"})) == "still fine"
    assert await _until(lambda: _pods(cluster, namespace, "kubemcp.dev/server=probe") == [])


async def test_missing_image_fails_its_call_with_the_reason(
    cluster: Any, namespace: str, gateway_process: Any, tmp_path: Path, secret: None
) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"ghost": _entry("kubemcp/not-built:never")})
    gateway = gateway_process(
        "--catalog", str(catalog), "--runtime", "kubernetes", "--kubeconfig", str(cluster.kubeconfig),
        "--namespace", namespace,
    )  # fmt: skip
    async with gateway.client() as client:
        with pytest.raises(MCPError) as failed:
            await client.call_tool("whoami", {})
    assert "ghost" in failed.value.error.message
    assert "ErrImageNeverPull" in failed.value.error.message
    assert await _until(lambda: _pods(cluster, namespace, "kubemcp.dev/server=ghost") == [])


async def test_warm_pool_pods_are_claimed(
    cluster: Any, namespace: str, cluster_gateway: Any, product_images: dict[str, str], tmp_path: Path
) -> None:
    from kubemcp.kube.pods import server_pod
    from kubemcp.model.entry import CatalogEntry, CatalogSource
    from kubemcp.model.spec import build_spec

    entry = CatalogEntry.model_validate(_entry(product_images["probe"], warmPool=2))
    spec = build_spec("probe", entry, CatalogSource(path=str(tmp_path / "catalog.yaml"), line=1, directory="."), {}, {})
    for _ in range(2):
        cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(server_pod(spec, "pool")))
    pool = "kubemcp.dev/server=probe,kubemcp.dev/role=pool"

    def running() -> list[dict[str, Any]]:
        return [p for p in _pods(cluster, namespace, pool) if p["status"].get("phase") == "Running"]

    ready = await _until(lambda: len(running()) == 2 and running(), 120)
    names = {p["metadata"]["name"] for p in ready}
    gateway = cluster_gateway(warmPool=2)
    # The gateway claims the pre-started Pods for its warm instances and attaches and initializes them
    # ahead of demand (its /health counts the ready ones): then a call is answered by one of them.
    assert await _until(lambda: _pods(cluster, namespace, pool) == [], 120), "the pool Pods were not claimed"
    assert await _until(lambda: _warm_ready(gateway) == 2, 120), "the warm instances did not get ready"
    async with gateway.client() as client:
        served = tool_value(await client.call_tool("whoami", {}))
    assert served["hostname"] in names  # a pre-started Pod answered


async def test_per_session_and_long_lived_pods(cluster: Any, namespace: str, cluster_gateway: Any) -> None:
    gateway = cluster_gateway(lifecycle="perSession", idleTimeoutSeconds=30)
    seen = []
    for _ in range(2):  # two client sessions (2025-era sessions: a stateless request has no session)
        async with gateway.client(mode="legacy") as client:
            first = tool_value(await client.call_tool("whoami", {}))
            second = tool_value(await client.call_tool("whoami", {}))
            assert first["hostname"] == second["hostname"]  # one Pod for the whole session
            seen.append(first["hostname"])
    assert seen[0] != seen[1]  # a Pod per session
    pods = _pods(cluster, namespace, "kubemcp.dev/server=probe,kubemcp.dev/role=resident")
    assert pods, "per-session Pods are labelled resident"
    assert all("activeDeadlineSeconds" not in pod["spec"] for pod in pods)
    gateway.stop()
    assert await _until(lambda: _pods(cluster, namespace, "kubemcp.dev/server=probe") == [], 120)


async def test_desktop_client_over_stdio_uses_cluster_run_servers(
    cluster: Any, namespace: str, product_images: dict[str, str], tmp_path: Path, secret: None
) -> None:
    from mcp.client.stdio import StdioServerParameters
    from support import KUBEMCP

    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": _entry(product_images["probe"])})
    args = ["gateway", "run", "--transport", "stdio", "--catalog", str(catalog), "--runtime", "kubernetes",
            "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace]  # fmt: skip
    params = StdioServerParameters(command=str(KUBEMCP), args=args)
    async with Client(params) as client:
        served = tool_value(await client.call_tool("whoami", {}))
    assert served["hostname"].startswith("mcp-probe-call-")  # the call ran in a Pod of the cluster
    assert await _until(lambda: _pods(cluster, namespace, "kubemcp.dev/server=probe") == [])


def _warm_ready(gateway: Any) -> int:
    import urllib.request

    request = urllib.request.Request(f"{gateway.base}/health", headers=gateway.headers)  # details need the token
    with urllib.request.urlopen(request, timeout=5) as response:  # loopback only
        count: int = json.load(response)["warm"].get("probe", 0)
    return count
