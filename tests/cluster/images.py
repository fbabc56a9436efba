"""Container images without a registry.

Images are built with buildah (``STORAGE_DRIVER=vfs``, ``BUILDAH_ISOLATION=chroot``)
on top of a base image made from Debian packages with debootstrap, then
imported into every node's containerd with ``ctr -n k8s.io images import``.
Pods must use ``imagePullPolicy: Never``.

    from tests.cluster import images
    ref = images.build_image("examples/echo", "Dockerfile", "kubemcp/echo:dev")
    images.load_image(ref)          # into every node's containerd

A Dockerfile builds on the base with ``FROM localhost/kubemcp/base:bookworm``
(or ``ARG BASE_IMAGE`` + ``FROM ${BASE_IMAGE}``, which build_image fills in).
The base has python3 and runs as the unprivileged user ``app`` (uid 1000).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import settings as S
from . import topology
from .baseimages import (
    apt_mirror,
    base_archive,
    base_image,
    base_rootfs,
    check_mirror,
    pause_archive,
)
from .buildah import ImageError, buildah, canonical, exclusive, image_id, log, push

__all__ = [
    "ImageError",
    "apt_mirror",
    "base_archive",
    "base_image",
    "base_rootfs",
    "build_and_load",
    "build_image",
    "buildah",
    "canonical",
    "check_mirror",
    "exclusive",
    "image_id",
    "import_archive",
    "load_image",
    "load_system_images",
    "pause_archive",
    "prepare",
    "save_image",
]


def build_image(
    context_dir: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = "Dockerfile",
    tag: str = "",
    *,
    dockerfile_text: str | None = None,
    build_args: Mapping[str, str] | None = None,
    quiet: bool = True,
) -> str:
    """Build ``tag`` from ``context_dir`` with buildah on top of the base image.

    ``dockerfile`` is relative to ``context_dir`` unless absolute; pass
    ``dockerfile_text`` instead to build from a string. ``BASE_IMAGE`` is
    passed as a build argument. Returns the canonical reference
    (``localhost/<name>:<tag>``) to use in Pod specs and ``load_image``.
    """
    if not tag:
        raise ValueError("build_image needs a tag")
    ref = canonical(tag)
    context = Path(context_dir).resolve()
    base_image()
    with tempfile.TemporaryDirectory() as tmp:
        if dockerfile_text is not None:
            df = Path(tmp) / "Dockerfile"
            df.write_text(dockerfile_text)
        else:
            df = Path(dockerfile or "Dockerfile")
            if not df.is_absolute():
                df = context / df
        args = [
            "bud",
            "--layers",
            "--pull=never",
            "--isolation",
            "chroot",
            "-f",
            str(df),
            "-t",
            ref,
            "--build-arg",
            f"BASE_IMAGE={S.BASE_IMAGE}",
        ]
        for k, v in (build_args or {}).items():
            args += ["--build-arg", f"{k}={v}"]
        if quiet:
            args.append("--quiet")
        res = buildah(*args, str(context), check=False, capture=True, timeout=1800)
        if res.returncode != 0:
            raise ImageError(f"building {ref} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return ref


def save_image(ref: str) -> Path:
    """Write ``ref`` as a docker-archive tarball in the cache (reused while the image is unchanged)."""
    ref = canonical(ref)
    iid = image_id(ref)
    if not iid:
        raise ImageError(f"image {ref} is not in buildah storage; build it first")
    out = S.IMAGE_CACHE / "archives" / f"{iid[:24]}.tar"
    if not out.exists():
        push(ref, out)
        _prune_archives(keep=out)
    else:
        os.utime(out)  # in use: newest, so pruning keeps it
    return out


ARCHIVES_KEPT = 12


def _prune_archives(keep: Path) -> None:
    """Delete all but the newest archives: every test build makes a new image, so they pile up."""
    archives = sorted(keep.parent.glob("*.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in archives[ARCHIVES_KEPT:]:
        if old != keep:
            old.unlink(missing_ok=True)


def _ctr(sock: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [S.CTR, "-a", str(sock), "-n", "k8s.io", *args], capture_output=True, text=True, timeout=timeout
    )


def _targets(socket: Path | None) -> list[tuple[Path, Path | None]]:
    """(containerd socket, its image store) to import into: ``socket``, or every running node's."""
    nodes = topology.nodes()
    if socket is not None:
        roots = [n.containerd_root for n in nodes if n.containerd_socket == Path(socket)]
        return [(Path(socket), roots[0] if roots else None)]
    stopped = [n.name for n in nodes if n.stopped_mark.exists()]
    if stopped:
        log(f"not importing into stopped nodes: {', '.join(stopped)}")
    return [(n.containerd_socket, n.containerd_root) for n in nodes if n.name not in stopped]


def _each(targets: list[tuple[Path, Path | None]], work: Any) -> None:
    """Run ``work(socket, root)`` for every target, the nodes in parallel."""
    if len(targets) == 1:
        work(*targets[0])
        return
    with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="image-import") as pool:
        for f in [pool.submit(work, sock, root) for sock, root in targets]:
            f.result()


def _import(archive: Path, sock: Path, root: Path | None, ref: str | None) -> None:
    if not sock.exists():
        raise ImageError(f"containerd is not running ({sock}); start the cluster first")
    marker = root / "kubemcp-imported" / archive.name if root else None
    if ref and marker and marker.exists() and ref in _ctr(sock, "images", "ls", "-q", timeout=30).stdout.split():
        return
    res = _ctr(sock, "images", "import", "--digests", "--snapshotter", "overlayfs", str(archive))
    if res.returncode != 0:
        raise ImageError(f"ctr images import {archive} into {sock} failed: {res.stderr}")
    if marker:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{ref or ''}\n")


def import_archive(archive: Path, socket: Path | None = None, ref: str | None = None) -> None:
    """Import a docker/OCI archive into every node's containerd (namespace k8s.io), or into ``socket``'s.

    containerd's image stores outlive clusters: an archive already imported
    (and whose ``ref`` is still there) is not imported again."""
    _each(_targets(socket), lambda sock, root: _import(archive, sock, root, ref))


def load_image(ref: str, *, socket: Path | None = None) -> str:
    """Import a built image into every node of the running cluster (or into the containerd at
    ``socket``) so Pods can use it with imagePullPolicy: Never.

    Also tags it as ``docker.io/<name>`` when built without a registry, so the
    short name (e.g. ``kubemcp/echo:dev``) works in Pod specs too. Returns the
    canonical reference.
    """
    return load_archive(save_image(ref), canonical(ref))


def load_archive(archive: Path, ref: str, *, socket: Path | None = None) -> str:
    """Import an image archive saved from ``ref`` into every node (or ``socket``'s containerd)."""
    alias = ""
    if ref.startswith("localhost/"):
        alias = "docker.io/" + ref[len("localhost/") :]
        if "/" not in alias[len("docker.io/") :]:
            alias = "docker.io/library/" + alias[len("docker.io/") :]

    def load(sock: Path, root: Path | None) -> None:
        _import(archive, sock, root, ref)
        if alias:
            _ctr(sock, "images", "tag", "--force", ref, alias, timeout=60)

    _each(_targets(socket), load)
    return ref


def build_and_load(
    context_dir: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = "Dockerfile",
    tag: str = "",
    **kw: Any,
) -> str:
    """``build_image`` then ``load_image``; returns the reference for Pod specs. The build and the
    archive it is imported from are made while holding the shared store (``exclusive``), so another
    checkout building the same tag cannot swap the image in between."""
    with exclusive():
        archive = save_image(build_image(context_dir, dockerfile, tag, **kw))
    return load_archive(archive, canonical(tag))


def prepare() -> dict[str, Path]:
    """Build (or reuse) the pause and base images and their archives."""
    return {"pause": pause_archive(), "base": base_archive()}


def load_system_images(socket: Path | None = None) -> None:
    """Import the pause and base images into every node's containerd, or ``socket``'s (harness.up)."""
    archives = prepare()
    import_archive(archives["pause"], socket, S.PAUSE_IMAGE)
    import_archive(archives["base"], socket, S.BASE_IMAGE)
