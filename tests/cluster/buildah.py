"""buildah with the harness's own storage (under the cache folder), and image references."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import settings as S

BUILDAH = "/usr/bin/buildah"


class ImageError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[images] {msg}", file=sys.stderr, flush=True)


def _storage() -> Path:
    return S.CACHE / "buildah"


_held = threading.local()
_process_lock = threading.RLock()


@contextmanager
def exclusive() -> Iterator[None]:
    """Hold the shared image store for a sequence of buildah commands (build, then save; a prune).

    Several checkouts and test runs on one machine share the store: without this, one run's prune
    removes layers another is building on, or its build retags an image between another's build and
    save. Re-entrant within a process; other processes wait for it (an exclusive `flock`)."""
    with _process_lock:
        depth = getattr(_held, "depth", 0)
        if depth == 0:
            _storage().mkdir(parents=True, exist_ok=True)
            fd = os.open(_storage() / ".kubemcp-lock", os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            _held.fd = fd
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth -= 1
            if _held.depth == 0:
                fcntl.flock(_held.fd, fcntl.LOCK_UN)
                os.close(_held.fd)


def _buildah_env() -> dict[str, str]:
    env = dict(os.environ)
    env["STORAGE_DRIVER"] = os.environ.get("KUBEMCP_BUILDAH_DRIVER", "vfs")
    env["BUILDAH_ISOLATION"] = "chroot"
    conf = _storage() / "registries.conf"
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        # No short-name lookups on any registry: images come from local storage only.
        conf.write_text('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
    env["CONTAINERS_REGISTRIES_CONF"] = str(conf)
    return env


def buildah(
    *args: str, check: bool = True, capture: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run buildah with the harness's own storage (under the cache dir)."""
    argv = [
        BUILDAH,
        "--root",
        str(_storage() / "storage"),
        "--runroot",
        str(_storage() / "run"),
        "--storage-driver",
        _buildah_env()["STORAGE_DRIVER"],
        *args,
    ]
    res = subprocess.run(
        argv,
        env=_buildah_env(),
        text=True,
        timeout=timeout,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else sys.stderr,
    )
    if check and res.returncode != 0:
        raise ImageError(f"buildah {' '.join(args)} failed ({res.returncode}): {res.stderr if capture else ''}")
    return res


def image_label(ref: str, label: str) -> str | None:
    res = buildah("inspect", "--type", "image", ref, check=False)
    if res.returncode != 0:
        return None
    labels = json.loads(res.stdout).get("OCIv1", {}).get("config", {}).get("Labels") or {}
    return labels.get(label)


def image_id(ref: str) -> str | None:
    res = buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", ref, check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


def canonical(tag: str) -> str:
    """``name[:tag]`` -> ``localhost/name:tag``; references with a registry are kept."""
    ref = tag
    if "@" in ref:
        return ref
    if ":" not in ref.split("/")[-1]:
        ref += ":latest"
    first = ref.split("/")[0]
    if "/" not in ref or not ("." in first or ":" in first or first == "localhost"):
        ref = f"localhost/{ref}"
    return ref


def push(ref: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # the cache is shared by concurrent sessions
    tmp.unlink(missing_ok=True)
    buildah("push", "--quiet", ref, f"docker-archive:{tmp}:{ref}")
    os.replace(tmp, out)
    return out
