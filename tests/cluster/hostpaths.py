"""Host paths a node touches outside its state folder, and how down() gives them back.

The kubelet uses some paths whatever its --root-dir (the device plugin socket,
container log links), libcni caches results in /var/lib/cni, containerd's shims
put sockets in /run/containerd/s and `ip netns add` bind-mounts /run/netns.
The folders a cluster created are recorded and removed again when empty;
files are removed only when they belong to this cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from . import procs
from . import settings as S
from .mounts import is_mountpoint, mounts_under
from .state import host_paths_file

HOST_PATHS = (
    "/var/lib/kubelet",
    "/var/lib/kubelet/device-plugins",
    "/var/log/containers",
    "/run/containerd",
    "/run/containerd/s",
    "/var/lib/cni",
    "/var/lib/cni/results",
)
NETNS_DIR = "/run/netns"


def record() -> None:
    """Remember which of the host paths do not exist yet (this cluster creates them)."""
    f = host_paths_file()
    created = set(json.loads(f.read_text())) if f.exists() else set()
    created |= {p for p in (*HOST_PATHS, NETNS_DIR) if not Path(p).exists()}
    if not is_mountpoint(NETNS_DIR):
        created.add(f"mount:{NETNS_DIR}")  # `ip netns add` bind-mounts it onto itself
    f.write_text(json.dumps(sorted(created)))


def _record_files() -> list[Path]:
    """This cluster's record and those of the other instances beside it."""
    own = host_paths_file()
    return sorted({own, *own.parent.glob(".kubemcp-cluster*.host-paths")})


def remove() -> None:
    """Remove the recorded host paths that are empty again (those of every instance: the
    paths are shared, and whichever instance goes down last cleans up). What another
    cluster still uses stays recorded, for a later down()."""
    files = [f for f in _record_files() if f.exists()]
    recorded: set[str] = set()
    for f in files:
        with contextlib.suppress(OSError, ValueError):
            recorded |= set(json.loads(f.read_text()))
    keep: list[str] = []
    if f"mount:{NETNS_DIR}" in recorded:
        if is_mountpoint(NETNS_DIR) and not any(Path(NETNS_DIR).iterdir()):
            subprocess.run(["umount", NETNS_DIR], capture_output=True)
        if is_mountpoint(NETNS_DIR):
            keep.append(f"mount:{NETNS_DIR}")
    for p in sorted((p for p in recorded if not p.startswith("mount:")), key=len, reverse=True):
        d = Path(p)
        if d.is_dir() and not mounts_under(d):
            if p.endswith("device-plugins") and not other_kubelets():
                # Every kubelet keeps its registration socket there, whatever its --root-dir.
                shutil.rmtree(d, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    d.rmdir()  # only when empty: never remove anything else's files
        if d.exists():
            keep.append(p)
    own = host_paths_file()
    for f in files:
        if f != own and f.name == ".kubemcp-cluster.host-paths":
            continue  # the default instance's record is only read by the others
        if keep:
            f.write_text(json.dumps(sorted(keep)))
        else:
            f.unlink(missing_ok=True)


def other_kubelets() -> list[int]:
    """Kubelets of other clusters (other instances) running on this machine."""
    mine = f"--root-dir={S.STATE}/"
    out = []
    for pid in procs.pids_with_cmdline("--root-dir="):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if Path(exe).name == "kubelet" and mine not in cmd:
            out.append(pid)
    return out


def remove_cni_cache(networks: Iterable[str], sandbox_dirs: Iterable[Path]) -> None:
    """libcni keeps a result file per Pod sandbox in /var/lib/cni/results: remove this cluster's."""
    cache = Path("/var/lib/cni/results")
    if not cache.is_dir():
        return
    sandboxes = {p.name for d in sandbox_dirs if d.is_dir() for p in d.iterdir()}
    # libcni names them <network>-<container id>-<interface>.
    mine = re.compile("|".join(rf"{re.escape(n)}-[0-9a-f]{{64}}-" for n in networks))
    for f in cache.iterdir():
        if mine.match(f.name) or any(f"-{sid}-" in f.name for sid in sandboxes):
            f.unlink(missing_ok=True)


def remove_container_log_links() -> None:
    d = Path("/var/log/containers")
    if not d.is_dir():
        return
    for link in d.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(str(S.STATE) + "/"):
                link.unlink()
