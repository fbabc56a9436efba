"""Bring a real Kubernetes cluster up and down on this machine.

The cluster runs entirely inside network namespaces made here: node 1's
(``settings.NETNS``) holds etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and node 1's containerd, kubelet, kube-proxy and kube-router (the
NetworkPolicy agent); every further node (``KUBEMCP_CLUSTER_NODES``) has its own
namespace with its own containerd, kubelet, kube-proxy and kube-router, linked to
node 1's. The only way in from the host is a loopback forwarder
(127.0.0.1:<port> -> apiserver); nothing in the namespaces has a route out.

    from tests.cluster import harness
    cluster = harness.up()        # reuses a running cluster
    cluster.kubectl("get", "nodes")
    harness.stop_node("kubemcp-node2")   # simulate losing node 2 (2+ nodes)
    harness.start_node("kubemcp-node2")  # back, and Ready
    harness.down()                # stops everything, removes mounts and netns

This module is the public face; the work is done by one module per concern:
``state`` (paths, lock, users), ``client`` (the ``Cluster`` handle), ``prereqs``,
``topology`` (the nodes), ``netns``, ``cgroups``, ``mounts``, ``hostpaths``,
``configs``, ``components``, ``runtime`` (containerd), ``node`` (one node's
processes), ``policy_agent`` (kube-router's access), ``lifecycle`` (up/down),
``diagnostics``, ``crds``.
"""

from __future__ import annotations

from .client import Cluster
from .common import ClusterError
from .components import COMPONENTS
from .crds import apply_crds
from .diagnostics import leftovers, rss_kib, status
from .lifecycle import (
    current,
    down,
    node_ready,
    nodes,
    restart_component,
    start_component,
    start_node,
    stop_component,
    stop_node,
    up,
)
from .prereqs import binaries_present, ensure_binaries, helm_path, missing_prerequisites
from .state import (
    active_users,
    containerd_root,
    containerd_socket,
    kubeconfig_path,
    lock,
    pki_dir,
    register_user,
    unregister_user,
)
from .topology import Node

__all__ = [
    "COMPONENTS",
    "Cluster",
    "ClusterError",
    "Node",
    "active_users",
    "apply_crds",
    "binaries_present",
    "containerd_root",
    "containerd_socket",
    "current",
    "down",
    "ensure_binaries",
    "helm_path",
    "kubeconfig_path",
    "leftovers",
    "lock",
    "missing_prerequisites",
    "node_ready",
    "nodes",
    "pki_dir",
    "register_user",
    "restart_component",
    "rss_kib",
    "start_component",
    "start_node",
    "status",
    "stop_component",
    "stop_node",
    "unregister_user",
    "up",
]
