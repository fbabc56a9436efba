"""A second node: Pods on both nodes reach each other and Services from either node,
NetworkPolicy holds across nodes, and a lost node goes NotReady and comes back.

Needs a cluster with two nodes: KUBEMCP_CLUSTER_NODES=2."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from . import harness, manifests, podnet, topology
from . import settings as S
from .client import Cluster
from .waiting import wait_for

pytestmark = pytest.mark.cluster

# A lost node's Pods are evicted after this long (the default is 300 s).
TOLERATION_SECONDS = 30


@pytest.fixture
def two_nodes(cluster: Cluster) -> tuple[str, str]:
    if len(cluster.nodes) < 2:
        pytest.skip("needs a cluster with two nodes: KUBEMCP_CLUSTER_NODES=2")
    return cluster.nodes[0], cluster.nodes[1]


def node_condition(cluster: Cluster, name: str) -> str:
    """Status of the node's Ready condition: "True", "False" or "Unknown"."""
    status, node = cluster.request("GET", f"/api/v1/nodes/{name}")
    assert status == 200, node
    return str(next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"))


def service(name: str, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": podnet.PORT}]},
    }


def create_service(cluster: Cluster, namespace: str, body: dict[str, Any]) -> str:
    status, resp = cluster.request("POST", f"/api/v1/namespaces/{namespace}/services", body)
    assert status == 201, resp
    return str(resp["spec"]["clusterIP"])


def pinned(body: manifests.Manifest, node: str) -> manifests.Manifest:
    return manifests.on_node(body, node, toleration_seconds=TOLERATION_SECONDS)


def test_both_nodes_are_ready_with_their_own_addresses(cluster: Cluster, two_nodes: tuple[str, str]) -> None:
    for name, node in zip(two_nodes, harness.nodes(), strict=False):
        assert node.name == name
        assert node_condition(cluster, name) == "True"
        status, obj = cluster.request("GET", f"/api/v1/nodes/{name}")
        assert status == 200, obj
        addrs = {a["type"]: a["address"] for a in obj["status"]["addresses"]}
        assert addrs["InternalIP"] == node.ip
        assert obj["status"]["nodeInfo"]["kubeletVersion"] == S.K8S_VERSION


def test_pods_and_services_across_nodes(cluster: Cluster, namespace: str, two_nodes: tuple[str, str]) -> None:
    first, second = two_nodes
    podnet.create(
        cluster,
        namespace,
        pinned(podnet.server("web-1"), first),
        pinned(podnet.server("web-2"), second),
        pinned(podnet.client("client-1"), first),
        pinned(podnet.client("client-2"), second),
    )
    ips = {}
    for name, node in (("web-1", first), ("web-2", second), ("client-1", first), ("client-2", second)):
        pod = podnet.wait_running(cluster, namespace, name)
        assert pod["spec"]["nodeName"] == node
        ips[name] = pod["status"]["podIP"]
    services = {f"web-{i}": create_service(cluster, namespace, service(f"web-{i}", f"web-{i}")) for i in (1, 2)}

    for client in ("client-1", "client-2"):
        for web in ("web-1", "web-2"):
            for target in (podnet.url(ips[web]), f"http://{services[web]}/"):
                wait_for(
                    partial(podnet.answers, cluster, namespace, client, target, "200"),
                    60,
                    f"{client} to reach {web} at {target}",
                )

    # The policy agent of node 2 guards node 2's Pods against clients on node 1.
    podnet.apply_policy(cluster, namespace, podnet.policy("deny-web-2", {"app": "web-2"}, {"policyTypes": ["Ingress"]}))
    wait_for(
        lambda: podnet.probe(cluster, namespace, "client-1", podnet.url(ips["web-2"])) in podnet.BLOCKED,
        30,
        "the policy on node 2 to block client-1",
    )
    assert podnet.probe(cluster, namespace, "client-1", podnet.url(ips["web-1"])) == "200"


@pytest.fixture
def restores_node(two_nodes: tuple[str, str]) -> Iterator[str]:
    """Node 2; started again after the test if the test left it stopped."""
    yield two_nodes[1]
    if topology.by_name(two_nodes[1]).stopped_mark.exists():
        harness.start_node(two_nodes[1])


def test_lost_node_goes_not_ready_and_comes_back(
    cluster: Cluster, namespace: str, two_nodes: tuple[str, str], restores_node: str
) -> None:
    first, second = two_nodes
    podnet.create(
        cluster,
        namespace,
        pinned(podnet.server("web-2"), second),
        pinned(podnet.client("client-1"), first),
    )
    web = podnet.url(podnet.wait_running(cluster, namespace, "web-2")["status"]["podIP"])
    podnet.wait_running(cluster, namespace, "client-1")
    wait_for(lambda: podnet.probe(cluster, namespace, "client-1", web) == "200", 60, "client-1 to reach web-2")

    harness.stop_node(second)
    # The controller manager notices within its --node-monitor-grace-period (20 s).
    wait_for(lambda: node_condition(cluster, second) != "True", 60, f"{second} to go NotReady")
    assert node_condition(cluster, first) == "True"

    harness.start_node(second)  # waits until it is Ready
    assert node_condition(cluster, second) == "True"
    # Its Pods kept running while the kubelet and containerd were away, and are reachable again.
    wait_for(lambda: podnet.probe(cluster, namespace, "client-1", web) == "200", 60, "client-1 to reach web-2 again")
    assert podnet.pod(cluster, namespace, "web-2")["status"]["phase"] == "Running"
