"""Gateway replicas on the real cluster: three of them behind the Service, and clients inside the
cluster whose every request opens a new connection (so the Service spreads each session over the
replicas). Every request of every kind is answered; a per-session server stays one instance."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cluster import manifests
from cluster_client import GATEWAY, call_pods, gateway_token, get, probe_server, sessioned_server, wait_for

pytestmark = pytest.mark.cluster
REPLICAS = 3
# A killed replica's connections fail at once; its endpoint and its sessions move within this.
KILL_NOTICED_WITHIN = 30


@pytest.fixture
def release(chart_release: Callable[..., Any]) -> Callable[..., Any]:
    """The chart with REPLICAS gateway replicas, for every install and upgrade."""
    return lambda action, *extra: chart_release(action, f"gateway.replicas={REPLICAS}", *extra)


def serving(cluster: Any, namespace: str, name: str, servers: set[str]) -> bool:
    gateway = get(cluster, namespace, "mcpgateway", name) or {}
    deployment = get(cluster, namespace, "deployment", name) or {}
    served = set(gateway.get("status", {}).get("servers") or [])
    ready = int(deployment.get("status", {}).get("readyReplicas") or 0)
    return served >= servers and ready == REPLICAS


def run_clients(cluster: Any, namespace: str, image: str, url: str, *args: str, name: str = "clients") -> Any:
    """The load client in a Pod of its own; returns its JSON summary."""
    token = gateway_token(cluster, namespace, "legacy" if name == "sse-clients" else GATEWAY)
    command = ["python", "/app/session_load.py", "--url", url, "--token", token, *args]
    pod = manifests.pod(name, image, command=command)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    wait_for_phase = wait_for(
        lambda: (get(cluster, namespace, "pod", name) or {}).get("status", {}).get("phase") in {"Succeeded", "Failed"},
        300,
        f"the {name} Pod to finish",
    )
    assert wait_for_phase
    logs = cluster.kubectl("logs", "-n", namespace, name).stdout
    phase = get(cluster, namespace, "pod", name)["status"]["phase"]
    assert phase == "Succeeded", logs
    return json.loads(logs.strip().splitlines()[-1])


def replica_reports(cluster: Any, namespace: str, gateway: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/name=kubemcp-gateway,app.kubernetes.io/instance={gateway}"
    pods = get(cluster, namespace, "pods", "-l", selector)["items"]
    reports = []
    token = gateway_token(cluster, namespace, gateway)
    for pod in pods:
        script = (
            "import urllib.request as u;r=u.Request('http://127.0.0.1:8811/health',"
            f"headers={{'Authorization':'Bearer {token}'}});print(u.urlopen(r).read().decode())"
        )
        out = cluster.kubectl("exec", "-n", namespace, pod["metadata"]["name"], "--", "python", "-c", script).stdout
        reports.append(json.loads(out)["replica"])
    return reports


def assert_all_answered(summary: dict[str, Any], kinds: set[str]) -> None:
    found = summary["kinds"]
    assert set(found) == kinds, found  # no "...-instance-changed" entry either
    for kind in kinds:
        assert found[kind]["ok"] > 0, found
        assert found[kind]["failed"] == 0, found


def test_three_replicas_answer_every_request_of_every_session(
    cluster: Any, namespace: str, release: Callable[..., Any], product_images: dict[str, str]
) -> None:
    release("install")
    probe = product_images["probe"]
    for server in (probe_server(probe), sessioned_server(probe)):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(server))
    sse = {
        "apiVersion": "kubemcp.dev/v1alpha1",
        "kind": "MCPGateway",
        "metadata": {"name": "legacy"},
        "spec": {
            "serverSelector": {"matchLabels": {"kubemcp.dev/gateway": GATEWAY}},
            "transport": "sse",
            "replicas": REPLICAS,
            "imagePullPolicy": "Never",
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(sse))
    for name in (GATEWAY, "legacy"):
        wait_for(lambda: serving(cluster, namespace, name, {"probe", "sessioned"}), 300, f"{name}'s replicas")  # noqa: B023

    address = get(cluster, namespace, "service", GATEWAY)["spec"]["clusterIP"]
    summary = run_clients(cluster, namespace, probe, f"http://{address}:8811", "--seconds", "25", "--sessions", "2")
    assert_all_answered(summary, {"2025", "2026", "persession"})
    reports = replica_reports(cluster, namespace, GATEWAY)
    assert len(reports) == REPLICAS
    assert sum(report["forwarded"] for report in reports) > 0, reports  # sessions were spread over replicas

    address = get(cluster, namespace, "service", "legacy")["spec"]["clusterIP"]
    summary = run_clients(
        cluster, namespace, probe, f"http://{address}:8811", "--transport", "sse", "--seconds", "20", name="sse-clients"
    )
    assert_all_answered(summary, {"sse"})
    assert sum(report["forwarded"] for report in replica_reports(cluster, namespace, "legacy")) > 0


def start_clients(cluster: Any, namespace: str, image: str, url: str, seconds: int) -> None:
    command = ["python", "/app/session_load.py", "--url", url, "--seconds", str(seconds), "--sessions", "2",
               "--events", "--token", gateway_token(cluster, namespace)]  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifests.pod("clients", image, command)))
    wait_for(
        lambda: (get(cluster, namespace, "pod", "clients") or {}).get("status", {}).get("phase") == "Running",
        120,
        "the clients to run",
    )


def clients_summary(cluster: Any, namespace: str, seconds: int) -> dict[str, Any]:
    wait_for(
        lambda: (
            (get(cluster, namespace, "pod", "clients") or {}).get("status", {}).get("phase") in {"Succeeded", "Failed"}
        ),
        seconds + 240,
        "the clients to finish",
    )
    logs = cluster.kubectl("logs", "-n", namespace, "clients").stdout
    summary: dict[str, Any] = json.loads(logs.strip().splitlines()[-1])
    return summary


def gateway_pods(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/name=kubemcp-gateway,app.kubernetes.io/instance={GATEWAY}"
    return list(get(cluster, namespace, "pods", "-l", selector)["items"])


def rolled_out(cluster: Any, namespace: str, before: set[str]) -> bool:
    deployment = get(cluster, namespace, "deployment", GATEWAY)["status"]
    names = {pod["metadata"]["name"] for pod in gateway_pods(cluster, namespace)}
    return (
        deployment.get("updatedReplicas") == REPLICAS
        and deployment.get("readyReplicas") == REPLICAS
        and not names & before
    )


def serve_probes(cluster: Any, namespace: str, probe: str) -> str:
    for server in (probe_server(probe), sessioned_server(probe)):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(server))
    wait_for(lambda: serving(cluster, namespace, GATEWAY, {"probe", "sessioned"}), 300, "the gateway's replicas")
    return f"http://{get(cluster, namespace, 'service', GATEWAY)['spec']['clusterIP']}:8811"


@pytest.mark.ha_load
def test_a_rolling_upgrade_under_load_fails_no_call(
    cluster: Any, namespace: str, release: Callable[..., Any], product_images: dict[str, str]
) -> None:
    release("install")
    url = serve_probes(cluster, namespace, product_images["probe"])
    before = {pod["metadata"]["name"] for pod in gateway_pods(cluster, namespace)}
    seconds = 150
    start_clients(cluster, namespace, product_images["probe"], url, seconds)
    wait_for(lambda: call_pods(cluster, namespace), 60, "calls under way")
    started = time.time()
    release("upgrade", "gateway.resources.requests.cpu=60m")  # a new Pod template: every replica is replaced
    wait_for(lambda: rolled_out(cluster, namespace, before), 300, "the rollout")
    rolled = time.time()
    summary = clients_summary(cluster, namespace, seconds)
    assert_all_answered(summary, {"2025", "2026", "persession"})
    during = [event for event in summary["events"] if started <= event[0] <= rolled]
    assert during, "no call ran during the rollout"
    print(f"rollout: {len(during)} calls during {rolled - started:.0f} s, 0 failed")  # docs/high-availability.md


def test_a_replica_killed_mid_load_fails_only_calls_in_flight_and_leaves_no_pod(
    cluster: Any, namespace: str, release: Callable[..., Any], product_images: dict[str, str]
) -> None:
    release("install")
    url = serve_probes(cluster, namespace, product_images["probe"])
    seconds = 90
    start_clients(cluster, namespace, product_images["probe"], url, seconds)
    wait_for(lambda: call_pods(cluster, namespace), 60, "calls under way")
    victim = gateway_pods(cluster, namespace)[0]["metadata"]["name"]
    cluster.kubectl("delete", "pod", "-n", namespace, victim, "--grace-period=0", "--force", "--wait=false")
    killed = time.time()
    summary = clients_summary(cluster, namespace, seconds)
    failures = [event for event in summary["events"] if not event[2]]
    after = [event for event in summary["events"] if event[0] > killed + KILL_NOTICED_WITHIN]
    # Only what was under way through the killed replica failed: nothing before, nothing once it was gone.
    assert all(killed <= event[0] <= killed + KILL_NOTICED_WITHIN for event in failures), failures
    assert after, "no call after the kill"
    assert all(event[2] for event in after)
    for kind in ("2025", "2026", "persession"):
        assert any(ok for _, k, ok, _ in after if k == kind), f"no {kind} call succeeded after the kill"
    wait_for(lambda: call_pods(cluster, namespace) == [], 120, "no server Pod left")

    def owned_by_victim() -> list[str]:
        pods = get(cluster, namespace, "pods")["items"]
        return [
            pod["metadata"]["name"]
            for pod in pods
            if any(ref.get("name") == victim for ref in pod["metadata"].get("ownerReferences", []))
        ]

    wait_for(lambda: owned_by_victim() == [], 120, "the killed replica's Pods to go")
    print(f"replica kill: {len(failures)} calls failed of {len(summary['events'])}")
