"""Bring the cluster up and down: the order of things, health probes, reuse of a running cluster,
and stopping or starting one node for tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from . import cgroups, configs, hostpaths, netns, node, pki, policy_agent, procs, runtime, topology
from . import settings as S
from .client import Cluster, api
from .common import ClusterError, log, wait
from .components import CONTROL_PLANE, argv, components, node_argv
from .mounts import mounts_under, unmount_all
from .prereqs import ensure_binaries, missing_prerequisites
from .state import active_users, info_path, kubeconfig_path, lock, pki_dir
from .topology import Node

# ---------------------------------------------------------------- probes


def port() -> int:
    """The host port of the loopback forwarder to the apiserver."""
    return int((S.STATE / "apiserver-forward.port").read_text())


def readyz() -> bool:
    status, _ = api(port(), "GET", "/readyz", timeout=3)
    return status == 200


def node_ready(name: str = S.NODE_NAME) -> bool:
    """Whether the node's Ready condition is True."""
    status, obj = api(port(), "GET", f"/api/v1/nodes/{name}", timeout=3)
    if status != 200:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"].get("conditions", []))


def _default_sa() -> bool:
    status, _ = api(port(), "GET", "/api/v1/namespaces/default/serviceaccounts/default", timeout=3)
    return status == 200


def _live(nodes: list[Node]) -> list[Node]:
    """The nodes not stopped on purpose by a test (see stop_node)."""
    return [n for n in nodes if not n.stopped_mark.exists()]


# ---------------------------------------------------------------- up


def current() -> Cluster | None:
    """The running cluster if it is healthy, else None. A node that a test stopped
    on purpose (stop_node) does not count against its health."""
    try:
        info = json.loads(info_path().read_text())
    except (OSError, ValueError):
        return None
    nodes = topology.nodes()
    live = _live(nodes)
    running = procs.recorded()
    if any(c not in running for c in components(live)):
        return None
    try:
        if not (readyz() and all(node_ready(n.name) for n in live)):
            return None
    except OSError:
        return None
    return Cluster(
        kubeconfig=Path(info["kubeconfig"]),
        server=info["server"],
        port=info["port"],
        state=S.STATE,
        reused=True,
        nodes=tuple(n.name for n in nodes),
    )


def up(*, build: bool = True, images: bool = True, timeout: float = 180) -> Cluster:
    """Start the cluster, or return the running one. Raises ClusterError on failure.

    A running cluster is reused whatever its number of nodes, unless
    KUBEMCP_CLUSTER_NODES asks for another number and no other session uses it."""
    with lock():
        c = current()
        if c is not None:
            if "KUBEMCP_CLUSTER_NODES" not in os.environ or len(c.nodes) == S.NODES:
                return c
            if active_users():
                log(f"reusing the running cluster with {len(c.nodes)} nodes: other sessions use it")
                return c
            log(f"the running cluster has {len(c.nodes)} nodes, {S.NODES} asked: starting it again")
        if info_path().exists() or procs.recorded() or S.NETNS_PATH.exists():
            log("cleaning up a previous cluster")
            _down_locked()
        try:
            return _up_locked(build=build, images=images, timeout=timeout)
        except BaseException:
            log("start failed; logs kept in " + str(procs.log_dir()))
            _down_locked(keep_logs=True)
            raise


def _import_system_images(enabled: bool, n: Node, phases: dict[str, float], t0: float) -> None:
    if enabled:
        from . import images as img

        img.load_system_images(n.containerd_socket)
    phases[f"images imported ({n.name})"] = time.monotonic() - t0


def _fresh_state() -> None:
    """Empty the state folder (old logs go too) and make it again."""
    if S.STATE.exists():
        unmount_all(S.STATE)
        logs = procs.log_dir()
        for child in S.STATE.iterdir():
            if child != logs:
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        if logs.is_dir():
            shutil.rmtree(logs)
    S.STATE.mkdir(parents=True, exist_ok=True)
    os.chmod(S.STATE, 0o711)


def _up_locked(*, build: bool, images: bool, timeout: float) -> Cluster:
    missing = missing_prerequisites()
    if missing:
        raise ClusterError(f"missing Debian packages: {' '.join(missing)}; run tests/cluster/setup.sh")
    ensure_binaries(build=build)
    t0 = time.monotonic()
    nodes = topology.nodes(S.NODES)
    _fresh_state()
    topology.record_count(len(nodes))
    pki.generate(pki_dir(), nodes)
    configs.write_cluster_configs()
    for n in nodes:
        runtime.prepare_root(n)
        configs.write_node_configs(n)
    hostpaths.record()
    netns.up(nodes)
    cgroups.up(nodes)
    phases = {"pki, configs, netns": time.monotonic() - t0}

    for n in nodes:
        node.spawn_runtime(n)
    procs.spawn("etcd", argv("etcd"))
    procs.spawn("kube-apiserver", argv("kube-apiserver"))
    procs.spawn("apiserver-forward", argv("apiserver-forward"), netns=False)
    for n in nodes:
        node.wait_runtime(n)
    phases["containerd up"] = time.monotonic() - t0
    # The pause and base images go into each containerd while the control plane starts.
    pool = ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="image-import")
    imported = [pool.submit(_import_system_images, images, n, phases, t0) for n in nodes]
    pool.shutdown(wait=False)
    wait("forwarder port", lambda: (S.STATE / "apiserver-forward.port").exists(), 10, ["apiserver-forward"])
    server = f"https://127.0.0.1:{port()}"
    pki.kubeconfig(kubeconfig_path(), pki_dir(), "admin", server)
    wait("kube-apiserver /readyz", readyz, timeout, ["etcd", "kube-apiserver", "apiserver-forward"])
    phases["apiserver ready"] = time.monotonic() - t0

    if S.NETWORK_POLICY:
        policy_agent.grant_access(port())
    for name in ("kube-controller-manager", "kube-scheduler"):
        procs.spawn(name, argv(name))
    for n in nodes:
        node.spawn_agents(n)
    started = [c for c in components(nodes) if not c.startswith("kube-router")]  # it follows
    for n in nodes:
        wait(f"node {n.name} Ready", partial(node_ready, n.name), timeout, started)
    phases["nodes ready"] = time.monotonic() - t0
    if S.NETWORK_POLICY:
        offsets = [node.spawn_policy_agent(n) for n in nodes]
        for n, offset in zip(nodes, offsets, strict=True):
            synced = partial(node.policy_agent_synced, n, offset)
            wait(f"{n.name}: kube-router's first sync", synced, 60, components(nodes))
        phases["network policy agents synced"] = time.monotonic() - t0
    wait("default service account", _default_sa, timeout, components(nodes))
    for f in imported:
        f.result(timeout=600)
    info_path().write_text(
        json.dumps(
            {
                "kubeconfig": str(kubeconfig_path()),
                "server": server,
                "port": port(),
                "version": S.K8S_VERSION,
                "instance": S.INSTANCE,
                "netns": S.NETNS,
                "node_ip": S.NODE_IP,
                "nodes": {n.name: {"ip": n.ip, "netns": n.netns, "pod_cidr": n.pod_cidr} for n in nodes},
                "network_policy": S.NETWORK_POLICY,
                "started": time.time(),
                "start_seconds": round(time.monotonic() - t0, 2),
                "start_phases": {k: round(v, 2) for k, v in phases.items()},
            },
            indent=2,
        )
    )
    log(f"cluster ready in {time.monotonic() - t0:.1f}s; KUBECONFIG={kubeconfig_path()}")
    return Cluster(
        kubeconfig=kubeconfig_path(), server=server, port=port(), state=S.STATE, nodes=tuple(n.name for n in nodes)
    )


# ---------------------------------------------------------------- one node


def nodes() -> list[Node]:
    """The nodes of the running cluster (node 1 first)."""
    return topology.nodes()


def stop_node(name: str, *, kill_pods: bool = False, timeout: float = 15) -> None:
    """Stop one node's kubelet, containerd and agents, as if the node were lost (see node.stop).
    Node 1 carries the control plane and cannot be stopped."""
    with lock():
        node.stop(topology.by_name(name), kill_pods=kill_pods, timeout=timeout)


CRI_NOT_READY = "server is not initialized yet"


def start_node(name: str, *, timeout: float = 120) -> None:
    """Start a node stopped by stop_node and wait until it is Ready again."""
    n = topology.by_name(name)
    with lock():
        node.start(n, timeout)
    deadline = time.monotonic() + timeout
    while True:
        left = max(deadline - time.monotonic(), 1.0)
        try:
            wait(f"node {name} Ready", lambda: node_ready(name), left, node.core_processes(n))
            break
        except ClusterError as exc:
            # containerd accepts on its socket before its CRI service is up; a kubelet asking then exits at
            # once ("server is not initialized yet"). As systemd would on a real node, start it again.
            if CRI_NOT_READY not in str(exc) or time.monotonic() >= deadline:
                raise
            log(f"{name}: the kubelet started before containerd's CRI service was up; starting it again")
            time.sleep(1)
            with lock():
                node.spawn_agents(n)
    if S.NETWORK_POLICY:
        with lock():
            offset = node.spawn_policy_agent(n)
        wait(f"{name}: kube-router's first sync", partial(node.policy_agent_synced, n, offset), 60, n.processes())


# ---------------------------------------------------------------- one component


RESTARTABLE = ("kube-apiserver", "kubelet")


def stop_component(name: str) -> None:
    """Kill one process of node 1 (``kube-apiserver`` or ``kubelet``) as a crash would (SIGKILL): the
    apiserver's clients see refused connections, the kubelet's streams (attach, exec, logs) are cut; the
    Pods' containers keep running. See start_component."""
    if name not in RESTARTABLE:
        raise ClusterError(f"only {', '.join(RESTARTABLE)} can be stopped on their own, not {name}")
    with lock():
        procs.stop(name, timeout=0, sig=signal.SIGKILL)
    log(f"{name} stopped")


def start_component(name: str, *, timeout: float = 120) -> None:
    """Start a process stopped by stop_component and wait until the apiserver is ready and node 1 Ready."""
    if name not in RESTARTABLE:
        raise ClusterError(f"only {', '.join(RESTARTABLE)} can be started on their own, not {name}")
    first = topology.nodes()[0]
    with lock():
        if name not in procs.recorded():
            if name == "kubelet":
                procs.spawn(name, node_argv(first, name), netns_path=first.netns_path)
            else:
                procs.spawn(name, argv(name))
    wait("kube-apiserver /readyz", readyz, timeout, ["etcd", "kube-apiserver", "apiserver-forward"])
    wait(f"node {first.name} Ready", partial(node_ready, first.name), timeout, node.core_processes(first))
    log(f"{name} started")


def restart_component(name: str, *, down_seconds: float = 0, timeout: float = 120) -> None:
    """stop_component, keep it down ``down_seconds``, start_component."""
    stop_component(name)
    time.sleep(down_seconds)
    start_component(name, timeout=timeout)


# ---------------------------------------------------------------- down


def down(*, keep_logs: bool = True, force: bool = False) -> None:
    """Stop everything the harness started; safe after a crash and when nothing runs.

    Refuses while other pytest sessions use the cluster, unless ``force``."""
    with lock():
        users = active_users()
        if users and not force:
            raise ClusterError(f"the cluster is in use by test sessions (PIDs {users}); use --force to stop it anyway")
        _down_locked(keep_logs=keep_logs)


def _down_locked(keep_logs: bool = True) -> None:
    nodes = topology.known_nodes()
    # Node agents and the control plane first, so nothing restarts containers.
    for n in nodes:
        for component in node.AGENTS:
            procs.stop(n.proc(component), timeout=10)
    for name in reversed(CONTROL_PLANE):
        procs.stop(name, timeout=10)
    graceful = {n.index: runtime.remove_containers(n) for n in nodes}
    # Whatever is left in the pods' cgroups.
    for _ in range(3):
        pids = cgroups.pids(nodes)
        if not pids:
            break
        procs.stop_pids(pids, timeout=0, sig=9)
    shims = [pid for n in nodes for pid in runtime.shims(n)]
    sockets = runtime.shim_sockets(shims)
    procs.stop_pids(shims, timeout=5)
    for n in nodes:
        graceful[n.index] = procs.stop(n.proc("containerd"), timeout=15) and graceful[n.index]
    # Anything else still running inside the cluster's network namespaces.
    procs.stop_pids([p for n in nodes for p in procs.pids_in_netns(n.netns_path) if p != os.getpid()], timeout=5)
    for name in procs.recorded():
        procs.stop(name, timeout=5)
    for sock in sockets:
        sock.unlink(missing_ok=True)
    for n in nodes:
        node.remove_stale_sockets(n)
    unmount_all(S.STATE)
    cgroups.down(nodes)
    netns.down(nodes)
    hostpaths.remove_container_log_links()
    hostpaths.remove_cni_cache([n.cni_network for n in nodes], [d for n in nodes for d in runtime.sandbox_dirs(n)])
    hostpaths.remove()
    for n in nodes:
        runtime.finish_root(n, graceful[n.index])
    if S.STATE.exists():
        for child in S.STATE.iterdir():
            if keep_logs and child.name == "logs":
                continue
            if mounts_under(child):
                continue  # never delete through a mount that would not go away
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
