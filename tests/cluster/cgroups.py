"""The kubelet's cgroup root in every cgroup hierarchy (cgroup v1 here, v2 handled too)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from . import settings as S


def root_name() -> str:
    return S.CGROUP_ROOT


def hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2
        return [root]
    return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]


def up() -> None:
    """Create the kubelet's cgroup root in every v1 hierarchy (it must exist)."""
    name = root_name()
    for h in hierarchies():
        d = h / name
        d.mkdir(exist_ok=True)
        if (h / "cpuset.cpus").exists():
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not (d / f).read_text().strip():
                    (d / f).write_text((h / f).read_text())


def pids() -> list[int]:
    """Processes in the cgroup root (containers, whatever their parent)."""
    out: set[int] = set()
    for h in hierarchies():
        d = h / root_name()
        if not d.is_dir():
            continue
        for procs_file in d.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                out.update(int(x) for x in procs_file.read_text().split())
    return sorted(out)


def existing() -> list[str]:
    return [str(h / root_name()) for h in hierarchies() if (h / root_name()).exists()]


def down() -> None:
    for h in hierarchies():
        d = h / root_name()
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
