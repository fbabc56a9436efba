"""A Docker engine of the test run's own (Debian's docker.io), started in a temporary folder and stopped by PID.

It binds no TCP port and makes no network of its own (`--bridge none --iptables=false`); the test
images come from no registry: the cluster harness's base image (`docker load` of the archive its
buildah writes) with the container-test peer added by `docker build`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PEER_IMAGE = "kubemcp/docker-peer:test"
HINT = "install Debian's docker.io (apt-get install docker.io) and run bash tests/cluster/setup.sh for the base image"


def unavailable(reason: str) -> None:
    """Fail under CI (the engine tests are mandatory there), skip with the hint elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"container engine tests cannot run: {reason} ({HINT})")
    pytest.skip(f"{reason} ({HINT})")


def docker(host: str, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_BUILDKIT": "0"}
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result


def _base_archive() -> Path | None:
    try:
        from cluster.baseimages import base_archive
    except ImportError:
        return None
    try:
        return base_archive()
    except Exception:
        return None


@contextmanager
def engine() -> Iterator[str]:
    """A running dockerd; yields its DOCKER_HOST address."""
    dockerd = shutil.which("dockerd")
    if dockerd is None or shutil.which("docker") is None:
        unavailable("dockerd or docker is not installed")
    folder = Path(tempfile.mkdtemp(prefix="kubemcp-engine-", dir="/tmp"))
    sock = folder / "docker.sock"
    host = f"unix://{sock}"
    log = (folder / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            str(dockerd), "--data-root", str(folder / "root"), "--exec-root", str(folder / "exec"),
            "-H", host, "--pidfile", str(folder / "docker.pid"), "--bridge", "none",
            "--iptables=false", "--ip-masq=false", "--containerd-namespace", "kubemcp-tests",
            "--containerd-plugins-namespace", "kubemcp-tests-plugins",
        ],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while docker(host, "version", check=False, timeout=30).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                text = (folder / "dockerd.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"dockerd did not start:\n{text}")
            time.sleep(0.2)
        yield host
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        _unmount_under(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _unmount_under(folder: Path) -> None:
    """dockerd leaves mounts in its folders (its default network namespace, overlays): deepest first."""
    prefix = str(folder) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if len(line.split()) > 1]
    for point in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def peer_image(host: str) -> str:
    """The container-test peer, built on the harness's base image (loaded without a registry)."""
    archive = _base_archive()
    if archive is None or not archive.is_file():
        unavailable("the test base image is not built")
    assert archive is not None
    docker(host, "load", "-q", "-i", str(archive))
    docker(host, "build", "-q", "-t", PEER_IMAGE, str(TESTS / "peers" / "docker_peer"))
    return PEER_IMAGE
