"""What the harness needs on the machine: Debian packages and the pinned binaries in the cache."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import settings as S
from .common import ClusterError, log

REQUIRED_FILES = {
    S.CONTAINERD: "containerd",
    S.CTR: "containerd",
    S.RUNC: "runc",
    S.ETCD: "etcd-server",
    f"{S.CNI_BIN_DIR}/bridge": "containernetworking-plugins",
    f"{S.CNI_BIN_DIR}/host-local": "containernetworking-plugins",
    f"{S.CNI_BIN_DIR}/loopback": "containernetworking-plugins",
    S.NSENTER: "util-linux",
    S.IP: "iproute2",
    "/usr/sbin/iptables": "iptables",
    S.IPSET: "ipset",
}


def missing_prerequisites() -> list[str]:
    """Debian packages that setup.sh installs and that are missing here."""
    missing = {pkg for path, pkg in REQUIRED_FILES.items() if not Path(path).exists()}
    if shutil.which("openssl") is None:
        missing.add("openssl")
    return sorted(missing)


def binaries_present() -> bool:
    return (
        all(S.binary(c).is_file() for c in S.K8S_COMPONENTS)
        and S.helm_path().is_file()
        and S.kube_router_path().is_file()
    )


def ensure_binaries(build: bool = True) -> None:
    """Build the pinned Kubernetes binaries, helm and kube-router into the cache if missing."""
    if binaries_present():
        return
    if not build:
        raise ClusterError(f"binaries missing in {S.CACHE / 'bin'}; run tests/cluster/setup.sh")
    log(
        f"building Kubernetes {S.K8S_VERSION}, helm {S.HELM_VERSION} and kube-router {S.KUBE_ROUTER_VERSION}"
        " (first run takes minutes)"
    )
    res = subprocess.run(
        ["bash", str(S.HERE / "build-bins.sh"), S.K8S_VERSION, S.HELM_VERSION, S.KUBE_ROUTER_VERSION],
        stdout=sys.stderr,
        stderr=sys.stderr,
    )
    if res.returncode != 0 or not binaries_present():
        raise ClusterError("building the binaries failed (see output above)")


def helm_path(build: bool = True) -> Path:
    """Path of the pinned helm binary, built into the cache on first use."""
    if not S.helm_path().is_file():
        ensure_binaries(build=build)
    return S.helm_path()


def prometheus_path(build: bool = True) -> Path:
    """Path of the pinned Prometheus server, built into the cache on first use (a few minutes)."""
    if not S.prometheus_path().is_file():
        if not build:
            raise ClusterError(f"{S.prometheus_path()} is missing; run bash tests/cluster/build-prometheus.sh")
        log(f"building Prometheus {S.prometheus_release()} ({S.PROMETHEUS_VERSION}); the first build takes minutes")
        res = subprocess.run(
            ["bash", str(S.HERE / "build-prometheus.sh"), S.PROMETHEUS_VERSION], stdout=sys.stderr, stderr=sys.stderr
        )
        if res.returncode != 0 or not S.prometheus_path().is_file():
            raise ClusterError("building Prometheus failed (see output above)")
    return S.prometheus_path()
