"""containerd, one per node: its image store that outlives clusters, and taking its containers down."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from . import procs
from . import settings as S
from .common import log
from .mounts import mounts_under, unmount_all
from .topology import Node

CLEAN_MARK = ".clean-shutdown"
CRI_DIRS = ("io.containerd.grpc.v1.cri/sandboxes", "io.containerd.grpc.v1.cri/containers")


def prepare_root(node: Node) -> None:
    """Keep the image store of a cleanly stopped containerd; start afresh after a crash."""
    root = node.containerd_root
    if root.exists() and not (root / CLEAN_MARK).exists():
        log(f"{node.name}: containerd's image store was not shut down cleanly: starting it afresh")
        unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / CLEAN_MARK).unlink(missing_ok=True)


def _ctr(node: Node, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [S.CTR, "-a", str(node.containerd_socket), *args], capture_output=True, text=True, timeout=timeout
    )


def remove_containers(node: Node) -> bool:
    """Kill and delete every task and container through containerd while it is alive, so each
    shim exits and cleans up after itself. Images stay. True when all went cleanly."""
    if node.proc("containerd") not in procs.recorded() or not node.containerd_socket.exists():
        return False
    clean = True
    for ns in ("k8s.io", "default"):
        tasks = _ctr(node, "-n", ns, "tasks", "ls", "-q").stdout.split()
        for cid in tasks:
            _ctr(node, "-n", ns, "tasks", "kill", "-s", "SIGKILL", cid)
        for cid in tasks:
            _ctr(node, "-n", ns, "tasks", "delete", "-f", cid)
        containers = _ctr(node, "-n", ns, "containers", "ls", "-q").stdout.split()
        if containers:
            clean = _ctr(node, "-n", ns, "containers", "rm", *containers, timeout=60).returncode == 0 and clean
    return clean


def shims(node: Node) -> list[int]:
    return procs.pids_with_cmdline(f"-address {node.containerd_socket} ")


def _shim_socket(address: str, namespace: str, cid: str) -> Path:
    # containerd 1.6: sha256("<grpc address>/<namespace>/<id>") under /run/containerd/s.
    digest = hashlib.sha256(f"{address}/{namespace}/{cid}".encode()).hexdigest()
    return Path("/run/containerd/s") / digest


def shim_sockets(pids: Sequence[int]) -> list[Path]:
    """The sockets of these shims (a killed shim leaves its socket behind)."""
    out = []
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        opts = {args[i].decode(): args[i + 1].decode() for i in range(len(args) - 1) if args[i].startswith(b"-")}
        if {"-namespace", "-id", "-address"} <= opts.keys():
            out.append(_shim_socket(opts["-address"], opts["-namespace"], opts["-id"]))
    return out


def sandbox_dirs(node: Node) -> list[Path]:
    """Where containerd's CRI plugin keeps one folder per Pod sandbox."""
    return [
        node.containerd_root / "io.containerd.grpc.v1.cri" / "sandboxes",
        node.state / "containerd" / "state" / "io.containerd.grpc.v1.cri" / "sandboxes",
    ]


def finish_root(node: Node, graceful: bool) -> None:
    """After containerd stopped: mark a clean image store for reuse, or drop a broken one."""
    root = node.containerd_root
    if graceful and root.is_dir() and not mounts_under(root):
        for d in CRI_DIRS:
            shutil.rmtree(root / d, ignore_errors=True)
        (root / CLEAN_MARK).touch()
    elif root.is_dir() and not (root / CLEAN_MARK).exists():
        unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)
