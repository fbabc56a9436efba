"""What runs and what is left: status(), leftovers(), the memory of the cluster's processes."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import cgroups, procs, runtime
from . import settings as S
from .components import COMPONENTS
from .lifecycle import node_ready, readyz
from .mounts import mounts_under
from .state import containerd_root, info_path


def leftovers() -> dict[str, list[Any]]:
    """What would remain of a cluster: processes, mounts, netns, cgroups. Empty lists when clean."""
    netns = list(os.listdir("/var/run/netns")) if os.path.isdir("/var/run/netns") else []
    return {
        "processes": sorted(
            set(procs.recorded().values())
            | set(runtime.shims())
            | set(cgroups.pids())
            | set(procs.pids_in_netns(S.NETNS_PATH))
        ),
        "mounts": mounts_under(S.STATE)
        + mounts_under(containerd_root())
        + [m for m in mounts_under(Path("/var/run/netns")) if Path(m).name == S.NETNS],
        "netns": [n for n in netns if n == S.NETNS],
        "cgroups": cgroups.existing(),
    }


def status() -> dict[str, Any]:
    """A summary: which processes run, where the kubeconfig is, whether the node is Ready."""
    running = procs.recorded()
    out: dict[str, Any] = {"state": str(S.STATE), "processes": running}
    with contextlib.suppress(OSError, ValueError):
        out.update(json.loads(info_path().read_text()))
    healthy = False
    if all(c in running for c in COMPONENTS):
        with contextlib.suppress(Exception):
            healthy = readyz() and node_ready()
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
    """Resident memory (KiB) of the named cluster processes."""
    out = {}
    for name, pid in procs.recorded().items():
        if name not in names:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out[name] = int(line.split()[1])
    return out
