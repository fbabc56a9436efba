"""What runs and what is left: status(), leftovers(), the memory of the cluster's processes."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import cgroups, procs, runtime, topology
from . import settings as S
from .components import CONTROL_PLANE, components
from .lifecycle import node_ready, readyz
from .mounts import mounts_under
from .state import info_path


def leftovers() -> dict[str, list[Any]]:
    """What would remain of a cluster: processes, mounts, netns, cgroups. Empty lists when clean."""
    nodes = topology.known_nodes()
    names = {n.netns for n in nodes}
    netns = list(os.listdir("/var/run/netns")) if os.path.isdir("/var/run/netns") else []
    return {
        "processes": sorted(
            set(procs.recorded().values())
            | {pid for n in nodes for pid in runtime.shims(n)}
            | set(cgroups.pids(nodes))
            | {pid for n in nodes for pid in procs.pids_in_netns(n.netns_path)}
        ),
        "mounts": mounts_under(S.STATE)
        + [m for n in nodes for m in mounts_under(n.containerd_root)]
        + [m for m in mounts_under(Path("/var/run/netns")) if Path(m).name in names],
        "netns": sorted(n for n in netns if n in names),
        "cgroups": cgroups.existing(nodes),
    }


def status() -> dict[str, Any]:
    """A summary: which processes run, where the kubeconfig is, whether the nodes are Ready."""
    running = procs.recorded()
    out: dict[str, Any] = {"state": str(S.STATE), "instance": S.INSTANCE, "processes": running}
    with contextlib.suppress(OSError, ValueError):
        out.update(json.loads(info_path().read_text()))
    nodes = topology.nodes()
    ready: dict[str, bool] = {}
    if all(c in running for c in CONTROL_PLANE):
        for n in nodes:
            with contextlib.suppress(Exception):
                ready[n.name] = node_ready(n.name)
    out["nodes_ready"] = ready
    out["stopped_nodes"] = [n.name for n in nodes if n.stopped_mark.exists()]
    healthy = False
    if all(c in running for c in components(nodes)):
        with contextlib.suppress(Exception):
            healthy = readyz() and all(ready.get(n.name) for n in nodes)
    out["healthy"] = healthy
    out["leftovers"] = leftovers() if not running else None
    return out


def rss_kib(
    names: Sequence[str] = (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "containerd",
    ),
) -> dict[str, int]:
    """Resident memory (KiB) of the named cluster processes (node 2's are ``kubelet-node2``, ...)."""
    out = {}
    for name, pid in procs.recorded().items():
        if name not in names:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out[name] = int(line.split()[1])
    return out
