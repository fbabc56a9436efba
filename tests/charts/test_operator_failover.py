"""The operator's two replicas on the real cluster: one leads through a Lease and the other does nothing
meanwhile; killing the leader hands the work to the other within seconds, and the takeover makes no
duplicate discovery and keeps the warm pool at its size."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cluster.waiting import holds_for
from cluster_client import RELEASE, get, probe_server, wait_for

pytestmark = pytest.mark.cluster
LEASE = f"{RELEASE}-operator"
TAKEOVER_LIMIT = 15.0


@pytest.fixture
def installed(chart_release: Callable[..., Any]) -> None:
    chart_release("install")


def holder(cluster: Any, namespace: str) -> str | None:
    lease = get(cluster, namespace, "lease", LEASE)
    return None if lease is None else lease["spec"].get("holderIdentity")


def operator_pods(cluster: Any, namespace: str) -> list[str]:
    pods = get(cluster, namespace, "pods", "-l", "app.kubernetes.io/component=operator")["items"]
    return sorted(pod["metadata"]["name"] for pod in pods if not pod["metadata"].get("deletionTimestamp"))


def pool_pods(cluster: Any, namespace: str) -> list[str]:
    pods = get(cluster, namespace, "pods", "-l", "kubemcp.dev/role=pool")["items"]
    return sorted(pod["metadata"]["name"] for pod in pods if not pod["metadata"].get("deletionTimestamp"))


def discovery_pods(cluster: Any, namespace: str) -> int:
    return len(get(cluster, namespace, "pods", "-l", "kubemcp.dev/role=discovery")["items"])


def recorded_discovery(cluster: Any, namespace: str) -> str | None:
    """When the probe's discovery was recorded, once it is recorded for the digest its entry resolves to."""
    server = get(cluster, namespace, "mcpserver", "probe")
    status = (server or {}).get("status") or {}
    discovery, resolved = status.get("discovery") or {}, status.get("resolved") or {}
    if not resolved.get("digest") or discovery.get("digest") != resolved["digest"]:
        return None
    return str(discovery["discoveredAt"])


def idle(cluster: Any, namespace: str, pod: str) -> bool:
    """Whether a replica's log shows no reconciling at all (it only waited for the Lease)."""
    log = cluster.kubectl("logs", "-n", namespace, pod).stdout
    return "waiting for the operator lease" in log and not any(
        word in log for word in ("warm pool of", "discovering", "removed pod", "created its replicas' key")
    )


def takeover(cluster: Any, namespace: str, kill: list[str]) -> tuple[str, str, float]:
    """Kill the leader; (old leader, new leader, seconds until the new one held the Lease)."""
    leader = wait_for(lambda: holder(cluster, namespace), 120, "a leader")
    standby = [pod for pod in operator_pods(cluster, namespace) if pod != leader]
    assert standby, "a standby replica"
    assert all(idle(cluster, namespace, pod) for pod in standby), "a standby replica reconciled"
    started = time.monotonic()
    cluster.kubectl("delete", "pod", "-n", namespace, leader, *kill, "--wait=false")
    successor = wait_for(
        lambda: (h := holder(cluster, namespace)) not in {None, leader} and h,
        TAKEOVER_LIMIT,
        "another replica to take the lease over",
    )
    return leader, successor, time.monotonic() - started


def test_killing_the_leading_operator_hands_over_within_seconds(
    cluster: Any, namespace: str, installed: None, product_images: dict[str, str]
) -> None:
    wait_for(lambda: len(operator_pods(cluster, namespace)) == 2, 120, "two operator replicas")
    server = probe_server(product_images["probe"])
    server["spec"]["warmPool"] = 2
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(server))
    wait_for(lambda: len(pool_pods(cluster, namespace)) == 2, 180, "the warm pool")
    # Discovery is done when its result is recorded (no discovery Pod alone may also mean not begun yet).
    discovered_at = wait_for(lambda: recorded_discovery(cluster, namespace), 180, "the discovery recorded")
    wait_for(lambda: discovery_pods(cluster, namespace) == 0, 60, "the discovery Pod gone")

    figures = {}
    for how, flags in (("graceful", []), ("forced", ["--grace-period=0", "--force"])):
        old, new, seconds = takeover(cluster, namespace, flags)
        assert old != new
        assert new in operator_pods(cluster, namespace)
        figures[how] = round(seconds, 1)
        # The new leader reconciles what is there: no second pool, no discovery run again. (The pool's
        # members change by design: the gateway keeps taking warm Pods and the leader refills it.)
        holds_for(lambda: len(pool_pods(cluster, namespace)) <= 2, 10, "a pool no larger than warmPool")
        wait_for(lambda: len(pool_pods(cluster, namespace)) == 2, 60, "the pool at its size")
        assert discovery_pods(cluster, namespace) == 0
        assert recorded_discovery(cluster, namespace) == discovered_at, "the new leader discovered again"
        wait_for(lambda: len(operator_pods(cluster, namespace)) == 2, 120, "the replaced replica")
    print(f"operator takeover seconds: {json.dumps(figures)}")  # recorded in docs/high-availability.md
