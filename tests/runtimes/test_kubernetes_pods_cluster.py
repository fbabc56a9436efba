"""The Kubernetes runtime on the real test cluster: the gateway runs on this machine with
`--runtime kubernetes`, every call runs in a Pod (or a Job's Pod) reached through `pods/attach`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from cluster_pods import SECRET, leftovers_after, metrics, pods, record_figures, until
from cluster_pods import probe_entry as _entry
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from support import tool_value, write_catalog

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


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
            running = await until(
                lambda: [p for p in pods(cluster, namespace, selector) if p["status"].get("phase") == "Running"]
            )
            assert len(running) == 1, "exactly one Pod serves the call"
            assert running[0]["metadata"]["labels"]["kubemcp.dev/role"] == "call"
        assert await until(lambda: pods(cluster, namespace, selector) == []), "the call's Pod was left behind"
        first = tool_value(await client.call_tool("whoami", {}))
        second = tool_value(await client.call_tool("whoami", {}))
        assert first["hostname"] != second["hostname"]  # a fresh Pod per call
        assert first["hostname"].startswith("mcp-probe-call-")
        assert tool_value(await client.call_tool("env", {"name": "PROBE_TOKEN"})) == SECRET
    assert await until(lambda: pods(cluster, namespace, selector) == [])
    assert SECRET not in gateway.log
    # each call's Pod went through every start phase, timed; the audit record names the Pod that answered
    scraped = metrics(gateway)
    for phase in ("created", "scheduled", "running", "attached", "initialized"):
        assert (
            scraped.get(("kubemcp_instance_start_phase_seconds_count", ("phase", phase), ("server", "probe")), 0) >= 4
        )
    audit = [json.loads(line) for line in gateway.log.splitlines() if line.startswith('{"time"')]
    assert any(record["instance"] == f"pod {first['hostname']}" for record in audit)


async def test_job_per_call_cleans_up(cluster: Any, namespace: str, cluster_gateway: Any) -> None:
    gateway = cluster_gateway(perCallKind="Job")
    async with gateway.client() as client:
        echoed = tool_value(await client.call_tool("echo", {"text": "through a Job"}))
    assert echoed == "through a Job"

    def jobs() -> list[Any]:
        listed: list[Any] = json.loads(cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)["items"]
        return listed

    assert await until(lambda: jobs() == []), "the call's Job was left behind"
    assert await until(lambda: pods(cluster, namespace, "kubemcp.dev/server=probe") == [])


async def test_failures_name_the_server(cluster: Any, namespace: str, cluster_gateway: Any) -> None:
    gateway = cluster_gateway()
    async with gateway.client() as client:
        with pytest.raises(MCPError) as crashed:
            await client.call_tool("crash", {"code": 5})
        assert "probe" in crashed.value.error.message
        assert "5" in crashed.value.error.message
        assert tool_value(await client.call_tool("echo", {"text": "still fine"})) == "still fine"
    assert await until(lambda: pods(cluster, namespace, "kubemcp.dev/server=probe") == [])


@pytest.mark.fault("server image does not exist")
@pytest.mark.parametrize("kind", ["Pod", "Job"])
async def test_missing_image_fails_its_call_with_the_reason(
    cluster: Any, namespace: str, gateway_process: Any, tmp_path: Path, secret: None, kind: str
) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"ghost": _entry("kubemcp/not-built:never", perCallKind=kind)})
    gateway = gateway_process(
        "--catalog", str(catalog), "--runtime", "kubernetes", "--kubeconfig", str(cluster.kubeconfig),
        "--namespace", namespace, "--start-timeout", "900",
    )  # fmt: skip
    async with gateway.client() as client:
        asked = time.monotonic()
        # fails at once with the kubelet's reason, far before the 900 s start timeout
        with anyio.fail_after(120), pytest.raises(MCPError) as failed:
            await client.call_tool("whoami", {})
        took = time.monotonic() - asked
    assert "ghost" in failed.value.error.message
    assert "ErrImageNeverPull" in failed.value.error.message
    assert "kubemcp/not-built:never" in failed.value.error.message
    gateway.stop()
    left = await leftovers_after(cluster, namespace)
    record_figures("server image does not exist", seconds_to_error=round(took, 2), leftovers=len(left))
    assert left == []


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
        return [p for p in pods(cluster, namespace, pool) if p["status"].get("phase") == "Running"]

    ready = await until(lambda: len(running()) == 2 and running(), 120)
    names = {p["metadata"]["name"] for p in ready}
    gateway = cluster_gateway(warmPool=2)
    # The gateway claims the pre-started Pods for its warm instances and attaches and initializes them
    # ahead of demand (its /health counts the ready ones): then a call is answered by one of them.
    assert await until(lambda: pods(cluster, namespace, pool) == [], 120), "the pool Pods were not claimed"
    assert await until(lambda: _warm_ready(gateway) == 2, 120), "the warm instances did not get ready"
    async with gateway.client() as client:
        served = tool_value(await client.call_tool("whoami", {}))
    assert served["hostname"] in names  # a pre-started Pod answered
    scraped = metrics(gateway)
    assert scraped[("kubemcp_warm_pool_takes_total", ("result", "hit"), ("server", "probe"))] == 1
    assert scraped[("kubemcp_instance_start_phase_seconds_count", ("phase", "claimed"), ("server", "probe"))] >= 2


async def test_per_session_and_long_livedpods(cluster: Any, namespace: str, cluster_gateway: Any) -> None:
    gateway = cluster_gateway(lifecycle="perSession", idleTimeoutSeconds=30)
    seen = []
    for _ in range(2):  # two client sessions (2025-era sessions: a stateless request has no session)
        async with gateway.client(mode="legacy") as client:
            first = tool_value(await client.call_tool("whoami", {}))
            second = tool_value(await client.call_tool("whoami", {}))
            assert first["hostname"] == second["hostname"]  # one Pod for the whole session
            seen.append(first["hostname"])
    assert seen[0] != seen[1]  # a Pod per session
    resident = pods(cluster, namespace, "kubemcp.dev/server=probe,kubemcp.dev/role=resident")
    assert resident, "per-session Pods are labelled resident"
    assert all("activeDeadlineSeconds" not in pod["spec"] for pod in resident)
    gateway.stop()
    assert await until(lambda: pods(cluster, namespace, "kubemcp.dev/server=probe") == [], 120)


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
    assert await until(lambda: pods(cluster, namespace, "kubemcp.dev/server=probe") == [])


def _warm_ready(gateway: Any) -> int:
    import urllib.request

    request = urllib.request.Request(f"{gateway.base}/health", headers=gateway.headers)  # details need the token
    with urllib.request.urlopen(request, timeout=5) as response:  # loopback only
        count: int = json.load(response)["warm"].get("probe", 0)
    return count
