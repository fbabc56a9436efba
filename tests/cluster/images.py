"""Container images without a registry.

Images are built with buildah (``STORAGE_DRIVER=vfs``, ``BUILDAH_ISOLATION=chroot``)
on top of a base image made from Debian packages with debootstrap, then
imported into the node's containerd with ``ctr -n k8s.io images import``.
Pods must use ``imagePullPolicy: Never``.

    from tests.cluster import images
    ref = images.build_image("examples/echo", "Dockerfile", "kubemcp/echo:dev")
    images.load_image(ref)          # into the running cluster's containerd

A Dockerfile builds on the base with ``FROM localhost/kubemcp/base:bookworm``
(or ``ARG BASE_IMAGE`` + ``FROM ${BASE_IMAGE}``, which build_image fills in).
The base has python3 and runs as the unprivileged user ``app`` (uid 1000).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import settings as S

BUILDAH = "/usr/bin/buildah"
DEBOOTSTRAP = "/usr/sbin/debootstrap"
RECIPE_VERSION = "1"  # bump to rebuild the cached base image

PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = quit;
    sigaction(SIGINT, &sa, 0);
    sigaction(SIGTERM, &sa, 0);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, 0);
    for (;;) pause();
}
"""


class ImageError(RuntimeError):
    pass


def _log(msg: str) -> None:
    print(f"[images] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- buildah


def _storage() -> Path:
    return S.CACHE / "buildah"


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


def _image_label(ref: str, label: str) -> str | None:
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


# ---------------------------------------------------------------- pause image


def pause_archive() -> Path:
    """Build (once) the pause image from a static C program and return its archive."""
    key = hashlib.sha256((PAUSE_C + S.PAUSE_IMAGE + RECIPE_VERSION).encode()).hexdigest()[:16]
    out = S.IMAGE_CACHE / f"pause-{key}.tar"
    if out.exists():
        return out
    S.IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "pause.c"
        src.write_text(PAUSE_C)
        subprocess.run(["gcc", "-Os", "-static", "-o", str(Path(tmp) / "pause"), str(src)], check=True)
        subprocess.run(["strip", str(Path(tmp) / "pause")], check=False)
        ctr = buildah("from", "--pull=never", "scratch").stdout.strip()
        try:
            buildah("copy", "--chmod", "0755", ctr, str(Path(tmp) / "pause"), "/pause")
            buildah("config", "--entrypoint", '["/pause"]', "--cmd", "", "--user", "65535:65535", ctr)
            buildah("commit", "--rm", ctr, S.PAUSE_IMAGE)
        except BaseException:
            buildah("rm", ctr, check=False)
            raise
    _push(S.PAUSE_IMAGE, out)
    return out


# ---------------------------------------------------------------- base image


def apt_mirror() -> str:
    """Debian mirror that apt uses on this machine (deb822 or one-line sources)."""
    env = os.environ.get("KUBEMCP_DEBIAN_MIRROR")
    if env:
        return env.rstrip("/")
    files = [
        *sorted(Path("/etc/apt/sources.list.d").glob("*.sources")),
        Path("/etc/apt/sources.list"),
        *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
    ]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            if re.search(rf"^Suites:.*\b{S.DEBIAN_SUITE}\b(?!-)", stanza, re.M) and "Types: deb" in stanza:
                m = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if m and "security" not in m.group(1):
                    return m.group(1).rstrip("/")
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == S.DEBIAN_SUITE and "[" not in parts[1]:
                return parts[1].rstrip("/")
    return "http://deb.debian.org/debian"


def check_mirror(mirror: str | None = None, timeout: float = 20) -> str:
    """Fail early with a clear message if the Debian mirror cannot be reached."""
    mirror = mirror or apt_mirror()
    url = f"{mirror}/dists/{S.DEBIAN_SUITE}/Release"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read(64)
    except OSError as e:
        raise ImageError(f"Debian mirror {mirror} is not reachable ({url}: {e}); set KUBEMCP_DEBIAN_MIRROR") from e
    return mirror


def _base_key() -> str:
    recipe = json.dumps([RECIPE_VERSION, S.DEBIAN_SUITE, sorted(S.BASE_PACKAGES), S.BASE_UID])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def base_rootfs() -> Path:
    """The cached root filesystem tarball of the base image (debootstrap on first use)."""
    out = S.IMAGE_CACHE / f"base-{_base_key()}-rootfs.tar"
    if out.exists():
        return out
    mirror = check_mirror()
    S.IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    _log(f"debootstrap {S.DEBIAN_SUITE} from {mirror} (first run only)")
    with tempfile.TemporaryDirectory(dir=S.IMAGE_CACHE) as tmp:
        root = Path(tmp) / "rootfs"
        res = subprocess.run(
            [
                DEBOOTSTRAP,
                "--variant=minbase",
                "--components=main",
                "--include=" + ",".join(S.BASE_PACKAGES),
                S.DEBIAN_SUITE,
                str(root),
                mirror,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if res.returncode != 0:
            raise ImageError(f"debootstrap failed:\n{res.stdout[-4000:]}")
        subprocess.run(
            [
                "chroot",
                str(root),
                "useradd",
                "--uid",
                str(S.BASE_UID),
                "--user-group",
                "--create-home",
                "--shell",
                "/bin/sh",
                "app",
            ],
            check=True,
        )
        for junk in (
            "var/cache/apt/archives",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/info",
            "var/log",
            "var/cache/debconf",
        ):
            d = root / junk
            if d.is_dir():
                for child in d.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    elif child.name not in ("partial", "lock"):
                        child.unlink()
        # The pods' resolver and hostname come from the kubelet.
        for f in ("etc/resolv.conf", "etc/hostname"):
            (root / f).unlink(missing_ok=True)
        tmp_tar = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(tmp_tar), "."], check=True)
        os.replace(tmp_tar, out)
    _log(f"base rootfs ready in {time.monotonic() - t0:.0f}s: {out}")
    return out


def base_image() -> str:
    """Make sure the base image is in buildah's storage; returns its reference."""
    key = _base_key()
    if _image_label(S.BASE_IMAGE, "kubemcp.base-key") == key:
        return S.BASE_IMAGE
    rootfs = base_rootfs()
    ctr = buildah("from", "--pull=never", "scratch").stdout.strip()
    try:
        buildah("add", ctr, str(rootfs), "/")
        buildah(
            "config",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env",
            "LANG=C.UTF-8",
            "--env",
            "PYTHONUNBUFFERED=1",
            "--env",
            "HOME=/home/app",
            "--user",
            f"{S.BASE_UID}:{S.BASE_UID}",
            "--workingdir",
            "/home/app",
            "--cmd",
            '["/bin/sh"]',
            "--label",
            f"kubemcp.base-key={key}",
            ctr,
        )
        buildah("commit", "--rm", ctr, S.BASE_IMAGE)
    except BaseException:
        buildah("rm", ctr, check=False)
        raise
    return S.BASE_IMAGE


def base_archive() -> Path:
    out = S.IMAGE_CACHE / f"base-{_base_key()}.tar"
    if not out.exists():
        _push(base_image(), out)
    return out


# ---------------------------------------------------------------- build / load


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


def _push(ref: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # the cache is shared by concurrent sessions
    tmp.unlink(missing_ok=True)
    buildah("push", "--quiet", ref, f"docker-archive:{tmp}:{ref}")
    os.replace(tmp, out)
    return out


def save_image(ref: str) -> Path:
    """Write ``ref`` as a docker-archive tarball in the cache (reused while the image is unchanged)."""
    ref = canonical(ref)
    iid = image_id(ref)
    if not iid:
        raise ImageError(f"image {ref} is not in buildah storage; build it first")
    out = S.IMAGE_CACHE / "archives" / f"{iid[:24]}.tar"
    if not out.exists():
        _push(ref, out)
    return out


def _ctr(sock: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [S.CTR, "-a", str(sock), "-n", "k8s.io", *args], capture_output=True, text=True, timeout=timeout
    )


def import_archive(archive: Path, socket: Path | None = None, ref: str | None = None) -> None:
    """Import a docker/OCI archive into the node's containerd (namespace k8s.io).

    containerd's image store outlives clusters: an archive already imported
    (and whose ``ref`` is still there) is not imported again."""
    from . import harness

    sock = socket or harness.containerd_socket()
    if not Path(sock).exists():
        raise ImageError(f"containerd is not running ({sock}); start the cluster first")
    marker = harness.containerd_root() / "kubemcp-imported" / archive.name
    if ref and marker.exists() and ref in _ctr(sock, "images", "ls", "-q", timeout=30).stdout.split():
        return
    res = _ctr(sock, "images", "import", "--digests", "--snapshotter", "overlayfs", str(archive))
    if res.returncode != 0:
        raise ImageError(f"ctr images import {archive} failed: {res.stderr}")
    if socket is None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{ref or ''}\n")


def load_image(ref: str, *, socket: Path | None = None) -> str:
    """Import a built image into the running node so Pods can use it with imagePullPolicy: Never.

    Also tags it as ``docker.io/<name>`` when built without a registry, so the
    short name (e.g. ``kubemcp/echo:dev``) works in Pod specs too. Returns the
    canonical reference.
    """
    from . import harness

    ref = canonical(ref)
    import_archive(save_image(ref), socket, ref)
    sock = str(socket or harness.containerd_socket())
    if ref.startswith("localhost/"):
        alias = "docker.io/" + ref[len("localhost/") :]
        if "/" not in alias[len("docker.io/") :]:
            alias = "docker.io/library/" + alias[len("docker.io/") :]
        subprocess.run(
            [S.CTR, "-a", sock, "-n", "k8s.io", "images", "tag", "--force", ref, alias], capture_output=True, text=True
        )
    return ref


def build_and_load(
    context_dir: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = "Dockerfile",
    tag: str = "",
    **kw: Any,
) -> str:
    """``build_image`` then ``load_image``; returns the reference for Pod specs."""
    return load_image(build_image(context_dir, dockerfile, tag, **kw))


def prepare() -> dict[str, Path]:
    """Build (or reuse) the pause and base images and their archives."""
    return {"pause": pause_archive(), "base": base_archive()}


def load_system_images(socket: Path | None = None) -> None:
    """Import the pause and base images into the node's containerd (called by harness.up)."""
    archives = prepare()
    import_archive(archives["pause"], socket, S.PAUSE_IMAGE)
    import_archive(archives["base"], socket, S.BASE_IMAGE)
