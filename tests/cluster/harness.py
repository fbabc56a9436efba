"""Bring a real Kubernetes cluster up and down on this machine.

The cluster runs entirely inside a network namespace made here (``settings.NETNS``):
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
containerd and the kubelet. The node address lives on a veth pair inside that
namespace; the only way in from the host is a loopback forwarder
(127.0.0.1:<port> -> apiserver). Nothing in the namespace has a route out of it.

    from tests.cluster import harness
    cluster = harness.up()        # reuses a running cluster
    cluster.kubectl("get", "nodes")
    harness.down()                # stops everything, removes mounts and netns

This module is the public face; the work is done by one module per concern:
``state`` (paths, lock, users), ``client`` (the ``Cluster`` handle), ``prereqs``,
``netns``, ``cgroups``, ``mounts``, ``hostpaths``, ``configs``, ``components``,
``runtime`` (containerd), ``lifecycle`` (up/down), ``diagnostics``, ``crds``.
"""

from __future__ import annotations

from .client import Cluster
from .common import ClusterError
from .components import COMPONENTS
from .crds import apply_crds
from .diagnostics import leftovers, rss_kib, status
from .lifecycle import current, down, up
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

__all__ = [
    "COMPONENTS",
    "Cluster",
    "ClusterError",
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
    "pki_dir",
    "register_user",
    "rss_kib",
    "status",
    "unregister_user",
    "up",
]
