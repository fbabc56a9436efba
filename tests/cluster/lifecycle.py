"""Bring the cluster up and down: the order of things, health probes, and reuse of a running cluster."""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import cgroups, configs, hostpaths, netns, pki, procs, runtime
from . import settings as S
from .client import Cluster, api
from .common import ClusterError, log, wait
from .components import COMPONENTS, argv
from .mounts import mounts_under, unmount_all
from .prereqs import ensure_binaries, missing_prerequisites
from .state import active_users, containerd_socket, info_path, kubeconfig_path, lock, pki_dir

# ---------------------------------------------------------------- probes


def port() -> int:
    """The host port of the loopback forwarder to the apiserver."""
    return int((S.STATE / "apiserver-forward.port").read_text())


def readyz() -> bool:
    status, _ = api(port(), "GET", "/readyz", timeout=3)
    return status == 200


def node_ready(name: str = S.NODE_NAME) -> bool:
    status, node = api(port(), "GET", f"/api/v1/nodes/{name}", timeout=3)
    if status != 200:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def _default_sa() -> bool:
    status, _ = api(port(), "GET", "/api/v1/namespaces/default/serviceaccounts/default", timeout=3)
    return status == 200


# ---------------------------------------------------------------- up


def current() -> Cluster | None:
    """The running cluster if it is healthy, else None."""
    try:
        info = json.loads(info_path().read_text())
    except (OSError, ValueError):
        return None
    running = procs.recorded()
    if any(c not in running for c in COMPONENTS):
        return None
    try:
        if not (readyz() and node_ready()):
            return None
    except OSError:
        return None
    return Cluster(
        kubeconfig=Path(info["kubeconfig"]), server=info["server"], port=info["port"], state=S.STATE, reused=True
    )


def up(*, build: bool = True, images: bool = True, timeout: float = 180) -> Cluster:
    """Start the cluster, or return the running one. Raises ClusterError on failure."""
    with lock():
        c = current()
        if c is not None:
            return c
        if info_path().exists() or procs.recorded() or S.NETNS_PATH.exists():
            log("cleaning up a previous cluster that is not healthy")
            _down_locked()
        try:
            return _up_locked(build=build, images=images, timeout=timeout)
        except BaseException:
            log("start failed; logs kept in " + str(procs.log_dir()))
            _down_locked(keep_logs=True)
            raise


def _import_system_images(enabled: bool, phases: dict[str, float], t0: float) -> None:
    if enabled:
        from . import images as img

        img.load_system_images()
    phases["images imported"] = time.monotonic() - t0


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
    _fresh_state()
    pki.generate(pki_dir())
    runtime.prepare_root()
    configs.write_configs()
    hostpaths.record()
    netns.up()
    cgroups.up()
    phases = {"pki, configs, netns": time.monotonic() - t0}

    procs.spawn("containerd", argv("containerd"))
    procs.spawn("etcd", argv("etcd"))
    procs.spawn("kube-apiserver", argv("kube-apiserver"))
    procs.spawn("apiserver-forward", argv("apiserver-forward"), netns=False)
    wait("containerd", lambda: containerd_socket().exists(), 30, ["containerd"])
    phases["containerd up"] = time.monotonic() - t0
    # The pause and base images go into containerd while the control plane starts.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-import")
    imported = pool.submit(_import_system_images, images, phases, t0)
    pool.shutdown(wait=False)
    wait("forwarder port", lambda: (S.STATE / "apiserver-forward.port").exists(), 10, ["apiserver-forward"])
    server = f"https://127.0.0.1:{port()}"
    pki.kubeconfig(kubeconfig_path(), pki_dir(), "admin", server)
    wait("kube-apiserver /readyz", readyz, timeout, ["etcd", "kube-apiserver", "apiserver-forward"])
    phases["apiserver ready"] = time.monotonic() - t0

    for name in ("kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet"):
        procs.spawn(name, argv(name))
    wait(f"node {S.NODE_NAME} Ready", node_ready, timeout, COMPONENTS)
    phases["node ready"] = time.monotonic() - t0
    wait("default service account", _default_sa, timeout, COMPONENTS)
    imported.result(timeout=600)
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
                "started": time.time(),
                "start_seconds": round(time.monotonic() - t0, 2),
                "start_phases": {k: round(v, 2) for k, v in phases.items()},
            },
            indent=2,
        )
    )
    log(f"cluster ready in {time.monotonic() - t0:.1f}s; KUBECONFIG={kubeconfig_path()}")
    return Cluster(kubeconfig=kubeconfig_path(), server=server, port=port(), state=S.STATE)


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
    running = procs.recorded()
    # Control plane and node agents first, so nothing restarts containers.
    for name in reversed(COMPONENTS):
        if name in running and name != "containerd":
            procs.stop(name, timeout=10)
    graceful = runtime.remove_containers()
    # Whatever is left in the pods' cgroups.
    for _ in range(3):
        pids = cgroups.pids()
        if not pids:
            break
        procs.stop_pids(pids, timeout=0, sig=9)
    shims = runtime.shims()
    sockets = runtime.shim_sockets(shims)
    procs.stop_pids(shims, timeout=5)
    graceful = procs.stop("containerd", timeout=15) and graceful
    # Anything else still running inside the cluster's network namespace.
    procs.stop_pids([p for p in procs.pids_in_netns(S.NETNS_PATH) if p != os.getpid()], timeout=5)
    for name in COMPONENTS:
        procs.stop(name, timeout=5)
    for sock in sockets:
        sock.unlink(missing_ok=True)
    unmount_all(S.STATE)
    cgroups.down()
    netns.down()
    hostpaths.remove_container_log_links()
    hostpaths.remove_cni_cache([S.CNI_NETWORK], runtime.sandbox_dirs())
    hostpaths.remove()
    runtime.finish_root(graceful)
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
