"""Where a cluster keeps its state on this machine, the lock that serialises up/down,
and the registry of test sessions that use the cluster."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from . import procs
from . import settings as S


def pki_dir() -> Path:
    return S.STATE / "pki"


def kubeconfig_path() -> Path:
    """Admin kubeconfig for the host (server https://127.0.0.1:<port>)."""
    return S.STATE / "kubeconfig"


def containerd_socket() -> Path:
    return S.STATE / "containerd" / "containerd.sock"


def containerd_root() -> Path:
    """containerd's image store; kept between clusters (wiped after an unclean stop)."""
    return S.CONTAINERD_ROOT


def info_path() -> Path:
    """JSON written once the cluster is up: server, port, start phases."""
    return S.STATE / "cluster.json"


def _sibling(suffix: str) -> Path:
    """A path beside the state folder (it outlives the folder's contents)."""
    return S.STATE.parent / f".{S.STATE.name}.{suffix}"


@contextlib.contextmanager
def lock() -> Iterator[None]:
    """Serialise up/down between processes (pytest workers, the CLI)."""
    path = _sibling("lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def host_paths_file() -> Path:
    return _sibling("host-paths")


# ---------------------------------------------------------------- sessions using the cluster


def _users_dir() -> Path:
    return _sibling("users")


def register_user() -> None:
    """Record this process as a user of the cluster (a pytest session)."""
    _users_dir().mkdir(parents=True, exist_ok=True)
    (_users_dir() / str(os.getpid())).touch()


def active_users() -> list[int]:
    """Live processes other than this one that registered as users."""
    out: list[int] = []
    d = _users_dir()
    if not d.is_dir():
        return out
    for f in d.iterdir():
        if f.name.isdigit() and procs.alive(int(f.name)):
            if int(f.name) != os.getpid():
                out.append(int(f.name))
        else:
            f.unlink(missing_ok=True)
    return sorted(out)


def unregister_user() -> list[int]:
    """Drop this process from the users; returns the other users still there."""
    (_users_dir() / str(os.getpid())).unlink(missing_ok=True)
    others = active_users()
    if not others:
        with contextlib.suppress(OSError):
            _users_dir().rmdir()
    return others
