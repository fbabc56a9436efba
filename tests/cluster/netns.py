"""The network namespaces the cluster lives in, one per node.

Node 1's namespace holds the control plane. Its address sits on a veth pair
whose two ends both stay inside (this kernel has no dummy device), and its
default route points into that pair: nothing can leave. Every further node has
its own namespace, joined to node 1's by a veth pair (``kmcp-n<i>`` there,
``kmcp-node`` in the node's), a /32 address, and a default route to node 1;
node 1 routes each node's address and Pod CIDR into that node's link. So Pods
on any node reach Pods on every other, and the only way out of any node's
namespace leads into node 1's, which has none.

Enter a namespace with nsenter, not `ip netns exec` (which remounts /sys and
hides the cgroup mounts).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Sequence

from . import settings as S
from .common import run
from .topology import Node

SYSCTL = "/usr/sbin/sysctl"


def in_ns(node: Node, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([S.NSENTER, f"--net={node.netns_path}", "--", *argv], check=check)


def _namespace(node: Node) -> None:
    if not node.netns_path.exists():
        run([S.IP, "netns", "add", node.netns])
    in_ns(node, S.IP, "link", "set", "lo", "up")
    in_ns(node, SYSCTL, "-q", "-w", "net.ipv4.ip_forward=1")
    in_ns(node, SYSCTL, "-q", "-w", "net.bridge.bridge-nf-call-iptables=1", check=False)


def _first_up(first: Node) -> None:
    _namespace(first)
    if in_ns(first, S.IP, "link", "show", S.VETH_NODE, check=False).returncode != 0:
        in_ns(first, S.IP, "link", "add", S.VETH_NODE, "type", "veth", "peer", "name", S.VETH_PEER)
    in_ns(first, S.IP, "addr", "replace", f"{first.ip}/{S.NODE_PREFIX}", "dev", S.VETH_NODE)
    in_ns(first, S.IP, "link", "set", S.VETH_NODE, "up")
    in_ns(first, S.IP, "link", "set", S.VETH_PEER, "up")
    # The default route points into the namespace only: nothing can leave it.
    in_ns(first, S.IP, "route", "replace", "default", "dev", S.VETH_NODE)


def _node_up(first: Node, node: Node) -> None:
    _namespace(node)
    if in_ns(first, S.IP, "link", "show", node.uplink, check=False).returncode != 0:
        in_ns(first, S.IP, "link", "add", node.uplink, "type", "veth", "peer", "name", S.VETH_NODE, "netns", node.netns)
    in_ns(first, S.IP, "link", "set", node.uplink, "up")
    in_ns(first, S.IP, "route", "replace", f"{node.ip}/32", "dev", node.uplink, "src", first.ip)
    in_ns(first, S.IP, "route", "replace", node.pod_cidr, "via", node.ip, "dev", node.uplink)
    in_ns(node, S.IP, "addr", "replace", f"{node.ip}/32", "dev", S.VETH_NODE)
    in_ns(node, S.IP, "link", "set", S.VETH_NODE, "up")
    in_ns(node, S.IP, "route", "replace", f"{first.ip}/32", "dev", S.VETH_NODE, "src", node.ip)
    # Everything else goes to node 1, which forwards within the cluster or drops.
    in_ns(node, S.IP, "route", "replace", "default", "via", first.ip, "dev", S.VETH_NODE, "src", node.ip)


def up(nodes: Sequence[Node]) -> None:
    first, *others = nodes
    _first_up(first)
    for node in others:
        _node_up(first, node)


def exists(node: Node) -> bool:
    return node.netns_path.exists() or node.netns in run([S.IP, "netns", "list"], check=False).stdout.split()


def down(nodes: Sequence[Node]) -> None:
    for node in reversed(nodes):
        if exists(node):
            run([S.IP, "netns", "delete", node.netns], check=False)
            with contextlib.suppress(FileNotFoundError):
                # A stale bind-mount target left by a crash.
                subprocess.run(["umount", str(node.netns_path)], capture_output=True)
                node.netns_path.unlink()


def links(node: Node) -> list[str]:
    """Names of the network links in a node's namespace."""
    out = in_ns(node, S.IP, "-o", "link", "show").stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
