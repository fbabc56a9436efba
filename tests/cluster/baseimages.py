"""The images every node needs: the pause image (a static C program) and the base image
(Debian with python3, made with debootstrap from the apt mirror)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from . import settings as S
from .buildah import ImageError, buildah, image_label, log, push

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
    push(S.PAUSE_IMAGE, out)
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
    log(f"debootstrap {S.DEBIAN_SUITE} from {mirror} (first run only)")
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
    log(f"base rootfs ready in {time.monotonic() - t0:.0f}s: {out}")
    return out


def base_image() -> str:
    """Make sure the base image is in buildah's storage; returns its reference."""
    key = _base_key()
    if image_label(S.BASE_IMAGE, "kubemcp.base-key") == key:
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
        push(base_image(), out)
    return out
