"""Each node's cgroup root (the kubelet's cgroupRoot) in every hierarchy (cgroup v1 here, v2 handled too)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

from .topology import Node


def hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2
        return [root]
    return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]


def up(nodes: Sequence[Node]) -> None:
    """Create each kubelet's cgroup root in every v1 hierarchy (it must exist)."""
    for h in hierarchies():
        for node in nodes:
            d = h / node.cgroup_root
            d.mkdir(exist_ok=True)
            if (h / "cpuset.cpus").exists():
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if not (d / f).read_text().strip():
                        (d / f).write_text((h / f).read_text())


def pids(nodes: Sequence[Node]) -> list[int]:
    """Processes in the nodes' cgroup roots (containers, whatever their parent)."""
    out: set[int] = set()
    for h in hierarchies():
        for node in nodes:
            d = h / node.cgroup_root
            if not d.is_dir():
                continue
            for procs_file in d.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    out.update(int(x) for x in procs_file.read_text().split())
    return sorted(out)


def existing(nodes: Sequence[Node]) -> list[str]:
    return [str(h / n.cgroup_root) for h in hierarchies() for n in nodes if (h / n.cgroup_root).exists()]


def down(nodes: Sequence[Node]) -> None:
    for h in hierarchies():
        for node in nodes:
            d = h / node.cgroup_root
            if not d.is_dir():
                continue
            dirs = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for p in [*dirs, d]:
                for _ in range(20):
                    try:
                        p.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.05)
