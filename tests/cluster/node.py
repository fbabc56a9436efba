"""One node's processes: start them, and stop them to simulate the node's loss.

A node is containerd, the kubelet, kube-proxy and (with NetworkPolicy on)
kube-router, all inside the node's network namespace. ``stop`` takes the
kubelet and containerd down (and the node's agents), as a node that lost power
or its network would: the API server stops hearing from it, the controller
manager marks it NotReady, and Pods are evicted after their tolerations
(``node.kubernetes.io/unreachable``, 300 s unless a Pod sets less). ``start``
brings it back with its state.
"""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path

from . import cgroups, procs, runtime
from . import settings as S
from .common import ClusterError, log, wait
from .components import node_argv
from .topology import Node

# Stopped before containerd, in this order.
AGENTS = ("kube-router", "kubelet", "kube-proxy")


def _stale_sockets_file(node: Node) -> Path:
    return node.state / "killed-shim-sockets.json"


def remove_stale_sockets(node: Node) -> None:
    """Remove the sockets of the shims ``stop(kill_pods=True)`` killed, where no shim listens."""
    f = _stale_sockets_file(node)
    with contextlib.suppress(OSError, ValueError):
        for sock in map(Path, json.loads(f.read_text())):
            if sock.exists() and not _accepts(sock):
                sock.unlink(missing_ok=True)
    f.unlink(missing_ok=True)


def _accepts(path: Path) -> bool:
    """A Unix socket that a server listens on (a stale file after a crash does not count)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def spawn_runtime(node: Node) -> None:
    """Start the node's containerd (returns at once; see wait_runtime)."""
    procs.spawn(node.proc("containerd"), node_argv(node, "containerd"), netns_path=node.netns_path)


def wait_runtime(node: Node, timeout: float = 30) -> None:
    wait(f"{node.name}: containerd", lambda: _accepts(node.containerd_socket), timeout, [node.proc("containerd")])


def spawn_agents(node: Node) -> None:
    """Start the node's kube-proxy and kubelet (those not running)."""
    running = procs.recorded()
    for component in ("kube-proxy", "kubelet"):
        if node.proc(component) not in running:
            procs.spawn(node.proc(component), node_argv(node, component), netns_path=node.netns_path)


def spawn_policy_agent(node: Node) -> int:
    """Start the node's kube-router, once the node is registered (it reads its Node object).
    Returns the size its log had before, for policy_agent_synced."""
    name = node.proc("kube-router")
    log_file = procs.log_dir() / f"{name}.log"
    offset = log_file.stat().st_size if log_file.exists() else 0
    if S.NETWORK_POLICY and name not in procs.recorded():
        procs.spawn(name, node_argv(node, "kube-router"), netns_path=node.netns_path)
    return offset


def policy_agent_synced(node: Node, offset: int) -> bool:
    """kube-router finished a full sync of iptables and ipsets since its log had ``offset`` bytes."""
    with open(procs.log_dir() / f"{node.proc('kube-router')}.log", "rb") as f:
        f.seek(offset)
        return b"sync iptables took" in f.read()


def core_processes(node: Node) -> list[str]:
    return [node.proc(c) for c in ("containerd", "kubelet", "kube-proxy")]


def stop(node: Node, *, kill_pods: bool = False, timeout: float = 15) -> None:
    """Stop the node's kubelet, agents and containerd.

    The Pods' containers keep running (as they do when only the kubelet and
    containerd die) unless ``kill_pods``: then they are killed too, as on a
    power loss. The network namespace and the node's state stay for ``start``."""
    if node.first:
        raise ClusterError("node 1 carries the control plane: it cannot be stopped on its own")
    node.stopped_mark.write_text("stopped by a test\n")
    for component in AGENTS:
        procs.stop(node.proc(component), timeout=timeout)
    procs.stop(node.proc("containerd"), timeout=timeout)
    if kill_pods:
        for _ in range(3):
            pids = cgroups.pids([node])
            if not pids:
                break
            procs.stop_pids(pids, timeout=0, sig=9)
        shims = runtime.shims(node)
        sockets = runtime.shim_sockets(shims)
        procs.stop_pids(shims, timeout=0, sig=9)
        for sock in sockets:
            sock.unlink(missing_ok=True)
        # containerd makes them again when it cleans up after the dead shims on its next start.
        _stale_sockets_file(node).write_text(json.dumps([str(p) for p in sockets]))
    log(f"{node.name} stopped" + (" with its Pods" if kill_pods else ""))


def start(node: Node, timeout: float = 60) -> None:
    """Start a stopped node again: its containerd, then its kubelet and kube-proxy
    (kube-router follows once the node is Ready: spawn_policy_agent)."""
    if node.proc("containerd") not in procs.recorded():
        spawn_runtime(node)
    wait_runtime(node, timeout)
    remove_stale_sockets(node)
    spawn_agents(node)
    with contextlib.suppress(FileNotFoundError):
        node.stopped_mark.unlink()
    log(f"{node.name} started")
