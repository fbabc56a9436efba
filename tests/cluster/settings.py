"""Versions, paths and addresses used by the cluster harness.

Every value can be overridden with an environment variable so CI and local
runs can move the cache or the state elsewhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

K8S_VERSION = os.environ.get("KUBEMCP_K8S_VERSION", "v1.37.2")
HELM_VERSION = os.environ.get("KUBEMCP_HELM_VERSION", "v3.22.0")
# The NetworkPolicy agent: newest v2 release on the Go module proxy when pinned.
KUBE_ROUTER_VERSION = os.environ.get("KUBEMCP_KUBE_ROUTER_VERSION", "v2.1.0")
# Prometheus for the dashboard checks (not the cluster): the Go module version of Prometheus 3.16.0,
# the newest on the Go module proxy when pinned (Prometheus 3.x.y is tagged v0.3xx.y there).
PROMETHEUS_VERSION = os.environ.get("KUBEMCP_PROMETHEUS_VERSION", "v0.316.0")


def _instance() -> str:
    value = os.environ.get("KUBEMCP_CLUSTER_INSTANCE", "")
    if value and not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", value):
        raise ValueError(f"KUBEMCP_CLUSTER_INSTANCE={value!r}: use 1-16 of a-z, 0-9 and '-' (not at either end)")
    return value


# Several clusters can run side by side: every per-cluster name on the host
# (state folder, network namespace, cgroup root, containerd root, lock and
# users files) derives from the instance name. Unset: the default instance.
INSTANCE = _instance()
_SUFFIX = f"-{INSTANCE}" if INSTANCE else ""
NAME = f"kubemcp-cluster{_SUFFIX}"

# Cache that survives clusters: binaries, image tarballs, buildah storage.
CACHE = Path(os.environ.get("KUBEMCP_CLUSTER_CACHE", str(Path.home() / ".cache" / "kubemcp-cluster")))
# Runtime state of one cluster: pki, etcd data, containerd, kubelet, logs, pids.
STATE = Path(os.environ.get("KUBEMCP_CLUSTER_STATE", f"/var/lib/{NAME}"))

# containerd's image store survives clusters, so images are imported once.
# One per instance: two running containerds never share a root.
CONTAINERD_ROOT = Path(os.environ.get("KUBEMCP_CONTAINERD_ROOT", str(CACHE / f"containerd-root{_SUFFIX}")))
# The kubelet's cgroup root, in every cgroup hierarchy.
CGROUP_ROOT = NAME

BIN_DIR = CACHE / "bin" / K8S_VERSION
HELM_DIR = CACHE / "bin" / f"helm-{HELM_VERSION}"
KUBE_ROUTER_DIR = CACHE / "bin" / f"kube-router-{KUBE_ROUTER_VERSION}"
PROMETHEUS_DIR = CACHE / "bin" / f"prometheus-{PROMETHEUS_VERSION}"
IMAGE_CACHE = CACHE / "images"

K8S_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")


def _int_env(name: str, default: int, low: int, high: int) -> int:
    value = int(os.environ.get(name, str(default)))
    if not low <= value <= high:
        raise ValueError(f"{name}={value}: expected {low}..{high}")
    return value


# Nodes of the cluster (1..8); node 1 carries the control plane. See topology.py.
NODES = _int_env("KUBEMCP_CLUSTER_NODES", 1, 1, 8)
# kube-router's firewall on every node enforces NetworkPolicy (0 turns it off).
NETWORK_POLICY = os.environ.get("KUBEMCP_CLUSTER_NETWORK_POLICY", "1") != "0"

# Network: the whole cluster lives in network namespaces made by the harness
# (node 1's is NETNS; see topology.py for the other nodes').
NETNS = os.environ.get("KUBEMCP_CLUSTER_NETNS", NAME)
NETNS_PATH = Path("/var/run/netns") / NETNS
VETH_NODE = "kmcp-node"
VETH_PEER = "kmcp-peer"
NODE_NETWORK = "10.213.0"  # node i has NODE_NETWORK.(i+1)
NODE_IP = "10.213.0.2"
NODE_PREFIX = 24
POD_NETWORK = "10.214"  # node i's Pods: POD_NETWORK.(i-1).0/24
POD_CIDR = "10.214.0.0/24"
POD_GATEWAY = "10.214.0.1"
CLUSTER_CIDR = "10.214.0.0/16"
SERVICE_CIDR = "10.215.0.0/16"
KUBERNETES_SERVICE_IP = "10.215.0.1"
CNI_BRIDGE = "kmcp-cni0"
# Also names libcni's result cache files in /var/lib/cni/results (shared by all instances).
CNI_NETWORK = f"kubemcp-pods.{INSTANCE}" if INSTANCE else "kubemcp-pods"
NODE_NAME = "kubemcp-node"
APISERVER_PORT = 6443
# Host side port of the loopback forwarder to the apiserver (0 = pick a free one).
HOST_PORT = int(os.environ.get("KUBEMCP_CLUSTER_PORT", "0"))

PAUSE_IMAGE = "localhost/kubemcp/pause:1"
BASE_IMAGE = "localhost/kubemcp/base:bookworm"
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "ca-certificates")
BASE_UID = 1000

# Debian's tools, installed by setup.sh.
CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
RUNC = "/usr/sbin/runc"
ETCD = "/usr/bin/etcd"
CNI_BIN_DIR = "/usr/lib/cni"
NSENTER = "/usr/bin/nsenter"
IP = "/usr/sbin/ip" if Path("/usr/sbin/ip").exists() else "/usr/bin/ip"
IPSET = "/usr/sbin/ipset"


def binary(name: str) -> Path:
    """Path of a cached Kubernetes binary (kubectl, kubelet, ...)."""
    return BIN_DIR / name


def helm_path() -> Path:
    """Path of the cached helm binary (built by build-bins.sh)."""
    return HELM_DIR / "helm"


def kube_router_path() -> Path:
    """Path of the cached kube-router binary (built by build-bins.sh)."""
    return KUBE_ROUTER_DIR / "kube-router"


def prometheus_path() -> Path:
    """Path of the cached Prometheus server (built by build-prometheus.sh)."""
    return PROMETHEUS_DIR / "prometheus"


def prometheus_release() -> str:
    """The Prometheus release of PROMETHEUS_VERSION: v0.316.0 is 3.16.0."""
    minor = PROMETHEUS_VERSION.removeprefix("v0.").split(".")
    return f"{minor[0][0]}.{int(minor[0][1:])}.{minor[1]}"
