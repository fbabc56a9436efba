"""The cluster's nodes: names, addresses and the host resources each one owns.

Node 1 carries the control plane and keeps the names a one-node cluster has
always had (``settings.NODE_NAME``, ``settings.NETNS``, the state folder
itself). Every further node gets its own network namespace, linked to node 1's
by a veth pair: its own iptables (kube-proxy, the NetworkPolicy agent), its own
containerd (socket, root, state), kubelet root, CNI bridge and Pod CIDR, and
cgroup root. Nothing of a node outside node 1 uses a name another instance
could use: instance names never contain a dot.

    node 1   10.213.0.2   Pods 10.214.0.0/24   netns <NETNS>
    node 2   10.213.0.3   Pods 10.214.1.0/24   netns <NETNS>.node2   link kmcp-n2 <-> kmcp-node
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import settings as S

MAX_NODES = 8
# Processes of a node, in start order.
NODE_PROCESSES = ("containerd", "kubelet", "kube-proxy", "kube-router")


@dataclass(frozen=True)
class Node:
    index: int  # 1-based; node 1 runs the control plane

    @property
    def first(self) -> bool:
        return self.index == 1

    def _suffix(self, sep: str = "-") -> str:
        return "" if self.first else f"{sep}node{self.index}"

    @property
    def name(self) -> str:
        return S.NODE_NAME if self.first else f"{S.NODE_NAME}{self.index}"

    @property
    def ip(self) -> str:
        return f"{S.NODE_NETWORK}.{self.index + 1}"

    @property
    def netns(self) -> str:
        return S.NETNS + self._suffix(".")

    @property
    def netns_path(self) -> Path:
        return Path("/var/run/netns") / self.netns

    @property
    def uplink(self) -> str:
        """This node's end of the link in node 1's namespace ("" for node 1)."""
        return "" if self.first else f"kmcp-n{self.index}"

    @property
    def pod_cidr(self) -> str:
        return f"{S.POD_NETWORK}.{self.index - 1}.0/24"

    @property
    def pod_gateway(self) -> str:
        return f"{S.POD_NETWORK}.{self.index - 1}.1"

    @property
    def bridge(self) -> str:
        return S.CNI_BRIDGE if self.first else f"kmcp-cni{self.index - 1}"

    @property
    def cni_network(self) -> str:
        return S.CNI_NETWORK + self._suffix("_")

    @property
    def state(self) -> Path:
        """Folder of this node's containerd, kubelet and CNI state and configs."""
        return S.STATE if self.first else S.STATE / f"node{self.index}"

    @property
    def containerd_root(self) -> Path:
        """containerd's image store, kept between clusters like node 1's."""
        return S.CONTAINERD_ROOT if self.first else Path(f"{S.CONTAINERD_ROOT}.node{self.index}")

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    @property
    def cgroup_root(self) -> str:
        return S.CGROUP_ROOT + self._suffix(".")

    @property
    def cert(self) -> str:
        """Name of the kubelet's client certificate (system:node:<name>) and kubeconfig."""
        return "kubelet" + self._suffix()

    @property
    def serving_cert(self) -> str:
        return "kubelet-serving" + self._suffix()

    @property
    def stopped_mark(self) -> Path:
        """Present while a test has stopped this node on purpose (see node.stop)."""
        return S.STATE / f"stopped-{self.name}"

    def proc(self, component: str) -> str:
        """Process name (pid file, log file) of one of this node's components."""
        return component + self._suffix()

    def processes(self) -> tuple[str, ...]:
        return tuple(self.proc(c) for c in NODE_PROCESSES if c != "kube-router" or S.NETWORK_POLICY)


def node(index: int) -> Node:
    if not 1 <= index <= MAX_NODES:
        raise ValueError(f"node index {index} out of 1..{MAX_NODES}")
    return Node(index)


def nodes(count: int | None = None) -> list[Node]:
    """The nodes of the running cluster (or of the next one: settings.NODES)."""
    return [Node(i) for i in range(1, (count or node_count()) + 1)]


def by_name(name: str) -> Node:
    for n in nodes(MAX_NODES):
        if n.name == name:
            return n
    raise KeyError(f"no node called {name!r}")


def _count_file() -> Path:
    return S.STATE / "nodes.json"


def record_count(count: int) -> None:
    _count_file().write_text(json.dumps({"nodes": count}))


def node_count() -> int:
    """Nodes of the cluster that was last started in this instance, else settings.NODES."""
    try:
        return int(json.loads(_count_file().read_text())["nodes"])
    except (OSError, ValueError, KeyError, TypeError):
        return S.NODES


def known_nodes() -> list[Node]:
    """Every node that may have left something behind (for down and leftovers)."""
    count = max(S.NODES, node_count())
    pattern = re.compile(rf"{re.escape(S.NETNS)}\.node(\d+)$")
    netns = os.listdir("/var/run/netns") if os.path.isdir("/var/run/netns") else []
    found = [int(m.group(1)) for n in netns if (m := pattern.match(n))]
    if S.STATE.is_dir():
        found += [int(p.name[4:]) for p in S.STATE.glob("node*") if p.name[4:].isdigit()]
    return nodes(min(MAX_NODES, max([count, *found])))
