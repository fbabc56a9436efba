"""Bring a real single-node Kubernetes cluster up and down on this machine.

The cluster runs entirely inside a network namespace made here (``settings.NETNS``):
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
containerd and the kubelet. The node address lives on a veth pair inside that
namespace; the only way in from the host is a loopback forwarder
(127.0.0.1:<port> -> apiserver). Nothing in the namespace has a route out of it.

    from tests.cluster import harness
    cluster = harness.up()        # reuses a running cluster
    cluster.kubectl("get", "nodes")
    harness.down()                # stops everything, removes mounts and netns
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import pki, procs
from . import settings as S

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


class ClusterError(RuntimeError):
    """The cluster could not be started or is not healthy."""


# Start order; down() stops them in reverse.
COMPONENTS = (
    "containerd",
    "etcd",
    "kube-apiserver",
    "apiserver-forward",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
)


def _log(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- paths


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


CLEAN_MARK = ".clean-shutdown"
CRI_DIRS = ("io.containerd.grpc.v1.cri/sandboxes", "io.containerd.grpc.v1.cri/containers")


def _prepare_containerd_root() -> None:
    root = containerd_root()
    if root.exists() and not (root / CLEAN_MARK).exists():
        _log("containerd's image store was not shut down cleanly: starting it afresh")
        _unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / CLEAN_MARK).unlink(missing_ok=True)


def _info_path() -> Path:
    return S.STATE / "cluster.json"


def _cgroup_root_name() -> str:
    return S.CGROUP_ROOT


@contextlib.contextmanager
def lock() -> Iterator[None]:
    """Serialise up/down between processes (pytest workers, the CLI)."""
    path = S.STATE.parent / f".{S.STATE.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------- the handle


@dataclass
class Cluster:
    """A running cluster, as seen from the host."""

    kubeconfig: Path
    server: str
    port: int
    state: Path
    reused: bool = False  # True when up() found it already running

    @property
    def kubectl_path(self) -> Path:
        return S.binary("kubectl")

    @property
    def helm_path(self) -> Path:
        return S.helm_path()

    @property
    def containerd_socket(self) -> Path:
        return containerd_socket()

    @property
    def ca_file(self) -> Path:
        return pki_dir() / "ca.crt"

    def env(self) -> dict[str, str]:
        """Environment for child processes (kubectl, helm, the gateway) to use this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def kubectl(
        self,
        *args: str,
        input: str | bytes | None = None,
        check: bool = True,
        timeout: float = 120,
        namespace: str | None = None,
    ) -> subprocess.CompletedProcess[Any]:
        """Run kubectl against the cluster; returns the CompletedProcess (text output)."""
        argv = [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig)]
        if namespace:
            argv += ["--namespace", namespace]
        argv += list(args)
        text = not isinstance(input, bytes)
        res = subprocess.run(argv, input=input, capture_output=True, text=text, timeout=timeout)
        if check and res.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [str(self.helm_path), "--kubeconfig", str(self.kubeconfig), *args]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise ClusterError(f"helm {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def api_client(self) -> ApiClient:
        """A kubernetes-python ``ApiClient`` with the admin credentials."""
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.server
        cfg.ssl_ca_cert = str(pki_dir() / "ca.crt")
        cfg.cert_file = str(pki_dir() / "admin.crt")
        cfg.key_file = str(pki_dir() / "admin.key")
        return client.ApiClient(cfg)

    def ssl_context(self, user: str = "admin") -> ssl.SSLContext:
        """TLS context trusting the cluster CA, with a client certificate (default: admin)."""
        return _ssl_context(user)

    def user_kubeconfig(self, name: str, token: str, namespace: str = "default") -> Path:
        """Write a kubeconfig that authenticates with a bearer token (e.g. a service account's)."""
        path = S.STATE / "kubeconfigs" / f"token-{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        ca = (pki_dir() / "ca.crt").read_bytes()
        import base64

        path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: kubemcp
  cluster:
    server: {self.server}
    certificate-authority-data: {base64.b64encode(ca).decode()}
users:
- name: {name}
  user:
    token: {token}
contexts:
- name: kubemcp
  context: {{cluster: kubemcp, user: {name}, namespace: {namespace}}}
current-context: kubemcp
""")
        os.chmod(path, 0o600)
        return path

    def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, timeout: float = 10
    ) -> tuple[int, Any]:
        """Minimal API call (admin cert, or a bearer token); returns (status, decoded JSON)."""
        return _api(self.port, method, path, body, token=token, timeout=timeout)


def _ssl_context(user: str = "admin") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki_dir() / "ca.crt"))
    if user:
        ctx.load_cert_chain(str(pki_dir() / f"{user}.crt"), str(pki_dir() / f"{user}.key"))
    return ctx


def _api(
    port: int, method: str, path: str, body: Any = None, *, token: str | None = None, timeout: float = 10
) -> tuple[int, Any]:
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
    ctx = _ssl_context("" if token else "admin")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


# ---------------------------------------------------------------- prerequisites

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
}


def missing_prerequisites() -> list[str]:
    """Debian packages that setup.sh installs and that are missing here."""
    missing = {pkg for path, pkg in REQUIRED_FILES.items() if not Path(path).exists()}
    if shutil.which("openssl") is None:
        missing.add("openssl")
    return sorted(missing)


def binaries_present() -> bool:
    return all(S.binary(c).is_file() for c in S.K8S_COMPONENTS)


def ensure_binaries(build: bool = True) -> None:
    """Build the pinned Kubernetes binaries and helm into the cache if missing."""
    if binaries_present() and S.helm_path().is_file():
        return
    if not build:
        raise ClusterError(f"Kubernetes binaries missing in {S.BIN_DIR}; run tests/cluster/setup.sh")
    _log(f"building Kubernetes {S.K8S_VERSION} and helm {S.HELM_VERSION} (first run takes minutes)")
    res = subprocess.run(
        ["bash", str(S.HERE / "build-bins.sh"), S.K8S_VERSION, S.HELM_VERSION], stdout=sys.stderr, stderr=sys.stderr
    )
    if res.returncode != 0 or not binaries_present():
        raise ClusterError("building the Kubernetes binaries failed (see output above)")


def helm_path(build: bool = True) -> Path:
    """Path of the pinned helm binary, built into the cache on first use."""
    if not S.helm_path().is_file():
        ensure_binaries(build=build)
    return S.helm_path()


# ---------------------------------------------------------------- network namespace


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(argv), capture_output=True, text=True)
    if check and res.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


def _in_ns(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run([S.NSENTER, f"--net={S.NETNS_PATH}", "--", *argv], check=check)


def _net_up() -> None:
    if not S.NETNS_PATH.exists():
        _run([S.IP, "netns", "add", S.NETNS])
    _in_ns(S.IP, "link", "set", "lo", "up")
    if _in_ns(S.IP, "link", "show", S.VETH_NODE, check=False).returncode != 0:
        # This kernel has no dummy device: a veth pair whose both ends stay
        # inside the namespace gives the node a non-loopback address.
        _in_ns(S.IP, "link", "add", S.VETH_NODE, "type", "veth", "peer", "name", S.VETH_PEER)
    _in_ns(S.IP, "addr", "replace", f"{S.NODE_IP}/{S.NODE_PREFIX}", "dev", S.VETH_NODE)
    _in_ns(S.IP, "link", "set", S.VETH_NODE, "up")
    _in_ns(S.IP, "link", "set", S.VETH_PEER, "up")
    # The default route points into the namespace only: nothing can leave it.
    _in_ns(S.IP, "route", "replace", "default", "dev", S.VETH_NODE)
    _in_ns("/usr/sbin/sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    _in_ns("/usr/sbin/sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1", check=False)


def _net_down() -> None:
    if S.NETNS_PATH.exists() or S.NETNS in _run([S.IP, "netns", "list"], check=False).stdout.split():
        _run([S.IP, "netns", "delete", S.NETNS], check=False)
        with contextlib.suppress(FileNotFoundError):
            # A stale bind-mount target left by a crash.
            subprocess.run(["umount", str(S.NETNS_PATH)], capture_output=True)
            S.NETNS_PATH.unlink()


# ---------------------------------------------------------------- cgroups


def _cgroup_hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2
        return [root]
    return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]


def _cgroups_up() -> None:
    """Create the kubelet's cgroup root in every v1 hierarchy (it must exist)."""
    name = _cgroup_root_name()
    for h in _cgroup_hierarchies():
        d = h / name
        d.mkdir(exist_ok=True)
        if (h / "cpuset.cpus").exists():
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not (d / f).read_text().strip():
                    (d / f).write_text((h / f).read_text())


def _cgroup_pids() -> list[int]:
    out: set[int] = set()
    for h in _cgroup_hierarchies():
        d = h / _cgroup_root_name()
        if not d.is_dir():
            continue
        for procs_file in d.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                out.update(int(x) for x in procs_file.read_text().split())
    return sorted(out)


def _cgroups_down() -> None:
    for h in _cgroup_hierarchies():
        d = h / _cgroup_root_name()
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


# ---------------------------------------------------------------- mounts


def _mounts_under(prefix: Path) -> list[str]:
    out = []
    pre = str(prefix).rstrip("/")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == pre or mp.startswith(pre + "/"):
                out.append(mp)
    return out


def _unmount_all(prefix: Path) -> None:
    for _ in range(5):
        mps = _mounts_under(prefix)
        if not mps:
            return
        for mp in sorted(set(mps), key=len, reverse=True):
            r = subprocess.run(["umount", mp], capture_output=True)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True)


# ---------------------------------------------------------------- configs


def _write_configs() -> None:
    st = S.STATE
    p = pki_dir()
    server_in_ns = f"https://{S.NODE_IP}:{S.APISERVER_PORT}"
    kcfg = st / "kubeconfigs"
    kcfg.mkdir(parents=True, exist_ok=True)
    for user in ("controller-manager", "scheduler", "kube-proxy", "kubelet"):
        pki.kubeconfig(kcfg / user, p, user, server_in_ns)

    cd = st / "containerd"
    for sub in ("state", "runc", "opt"):
        (cd / sub).mkdir(parents=True, exist_ok=True)
    cni_conf = st / "cni" / "net.d"
    cni_conf.mkdir(parents=True, exist_ok=True)
    (st / "cni" / "networks").mkdir(parents=True, exist_ok=True)
    (cni_conf / "10-kubemcp.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "1.0.0",
                "name": S.CNI_NETWORK,
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": S.CNI_BRIDGE,
                        "isGateway": True,
                        "ipMasq": False,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": S.POD_CIDR, "gateway": S.POD_GATEWAY}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": str(st / "cni" / "networks"),
                        },
                    }
                ],
            },
            indent=2,
        )
    )
    (cd / "config.toml").write_text(f"""version = 2
root = "{containerd_root()}"
state = "{cd / "state"}"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{containerd_socket()}"

[ttrpc]
  address = ""

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{cd / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{S.PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE here: a negative oom_score_adj is refused.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 65536

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{S.RUNC}"
        Root = "{cd / "runc"}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{S.CNI_BIN_DIR}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
""")

    kl = st / "kubelet"
    kl.mkdir(parents=True, exist_ok=True)
    (st / "pod-logs").mkdir(parents=True, exist_ok=True)
    (st / "kubelet-config.yaml").write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {S.NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {p / "ca.crt"}
authorization:
  mode: Webhook
tlsCertFile: {p / "kubelet-serving.crt"}
tlsPrivateKeyFile: {p / "kubelet-serving.key"}
containerRuntimeEndpoint: unix://{containerd_socket()}
cgroupDriver: cgroupfs
cgroupRoot: /{_cgroup_root_name()}
failCgroupV1: false
failSwapOn: false
resolvConf: ""
clusterDomain: cluster.local
podLogsDir: {st / "pod-logs"}
volumePluginDir: {st / "kubelet-plugins"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "64Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
syncFrequency: 10s
fileCheckFrequency: 10s
maxPods: 110
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
""")
    (st / "kube-proxy-config.yaml").write_text(f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kcfg / "kube-proxy"}
mode: iptables
clusterCIDR: {S.CLUSTER_CIDR}
hostnameOverride: {S.NODE_NAME}
bindAddress: {S.NODE_IP}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["primary"]
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
""")


def _argv(name: str) -> list[str]:
    st, p, kc = S.STATE, pki_dir(), S.STATE / "kubeconfigs"
    if name == "containerd":
        return [S.CONTAINERD, "--config", str(st / "containerd" / "config.toml")]
    if name == "etcd":
        return [
            S.ETCD,
            "--name",
            "kubemcp",
            "--data-dir",
            str(st / "etcd"),
            "--listen-client-urls",
            "http://127.0.0.1:2379",
            "--advertise-client-urls",
            "http://127.0.0.1:2379",
            "--listen-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-cluster",
            "kubemcp=http://127.0.0.1:2380",
            "--listen-metrics-urls",
            "http://127.0.0.1:2381",
            "--snapshot-count",
            "10000",
            "--logger",
            "zap",
            "--log-level",
            "warn",
        ]
    if name == "kube-apiserver":
        return [
            str(S.binary("kube-apiserver")),
            "--etcd-servers=http://127.0.0.1:2379",
            "--bind-address=0.0.0.0",
            f"--secure-port={S.APISERVER_PORT}",
            f"--advertise-address={S.NODE_IP}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={p / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={S.SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--profiling=false",
            "--event-ttl=1h",
            "--v=1",
        ]
    if name == "kube-controller-manager":
        k = str(kc / "controller-manager")
        return [
            str(S.binary("kube-controller-manager")),
            f"--kubeconfig={k}",
            f"--authentication-kubeconfig={k}",
            f"--authorization-kubeconfig={k}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}",
            f"--cluster-signing-cert-file={p / 'ca.crt'}",
            f"--cluster-signing-key-file={p / 'ca.key'}",
            "--cluster-name=kubemcp",
            f"--flex-volume-plugin-dir={st / 'kubelet-plugins'}",
            "--allocate-node-cidrs=false",
            f"--service-cluster-ip-range={S.SERVICE_CIDR}",
            "--profiling=false",
            "--v=1",
        ]
    if name == "kube-scheduler":
        k = str(kc / "scheduler")
        return [
            str(S.binary("kube-scheduler")),
            f"--kubeconfig={k}",
            f"--authentication-kubeconfig={k}",
            f"--authorization-kubeconfig={k}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]
    if name == "kube-proxy":
        return [str(S.binary("kube-proxy")), f"--config={st / 'kube-proxy-config.yaml'}", "--v=1"]
    if name == "kubelet":
        return [
            str(S.binary("kubelet")),
            f"--config={st / 'kubelet-config.yaml'}",
            f"--kubeconfig={kc / 'kubelet'}",
            f"--root-dir={st / 'kubelet'}",
            f"--hostname-override={S.NODE_NAME}",
            f"--node-ip={S.NODE_IP}",
            "--v=1",
        ]
    if name == "apiserver-forward":
        return [
            sys.executable,
            str(S.HERE / "forward.py"),
            "--listen",
            f"127.0.0.1:{S.HOST_PORT}",
            "--netns",
            str(S.NETNS_PATH),
            "--target",
            f"{S.NODE_IP}:{S.APISERVER_PORT}",
            "--port-file",
            str(st / "apiserver-forward.port"),
        ]
    raise KeyError(name)


# ---------------------------------------------------------------- waiting


def _wait(what: str, check: Callable[[], Any], timeout: float, watch: Sequence[str] = ()) -> Any:
    deadline = time.monotonic() + timeout
    last_err: Exception | None = None
    while time.monotonic() < deadline:
        for name in watch:
            if name not in procs.recorded():
                raise ClusterError(f"{name} exited while waiting for {what}:\n{procs.log_tail(name)}")
        try:
            res = check()
            if res:
                return res
        except Exception as e:
            last_err = e
        time.sleep(0.2)
    logs = "\n".join(f"--- {n} ---\n{procs.log_tail(n)}" for n in watch)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_err})\n{logs}")


def _port() -> int:
    return int((S.STATE / "apiserver-forward.port").read_text())


def _readyz() -> bool:
    status, _ = _api(_port(), "GET", "/readyz", timeout=3)
    return status == 200


def _node_ready() -> bool:
    status, node = _api(_port(), "GET", f"/api/v1/nodes/{S.NODE_NAME}", timeout=3)
    if status != 200:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def _default_sa() -> bool:
    status, _ = _api(_port(), "GET", "/api/v1/namespaces/default/serviceaccounts/default", timeout=3)
    return status == 200


# ---------------------------------------------------------------- up / down / status


def current() -> Cluster | None:
    """The running cluster if it is healthy, else None."""
    try:
        info = json.loads(_info_path().read_text())
    except (OSError, ValueError):
        return None
    running = procs.recorded()
    if any(c not in running for c in COMPONENTS):
        return None
    try:
        if not (_readyz() and _node_ready()):
            return None
    except OSError:
        return None
    return Cluster(
        kubeconfig=Path(info["kubeconfig"]), server=info["server"], port=info["port"], state=S.STATE, reused=True
    )


def up(*, build: bool = True, images: bool = True, timeout: float = 180) -> Cluster:
    """Start the cluster, or return the running one. Raises ClusterError on failure."""
    with lock():
        c = current()
        if c is not None:
            return c
        if _info_path().exists() or procs.recorded() or S.NETNS_PATH.exists():
            _log("cleaning up a previous cluster that is not healthy")
            _down_locked()
        try:
            return _up_locked(build=build, images=images, timeout=timeout)
        except BaseException:
            _log("start failed; logs kept in " + str(procs.log_dir()))
            _down_locked(keep_logs=True)
            raise


def _import_system_images(enabled: bool, phases: dict[str, float], t0: float) -> None:
    if enabled:
        from . import images as img

        img.load_system_images()
    phases["images imported"] = time.monotonic() - t0


def _up_locked(*, build: bool, images: bool, timeout: float) -> Cluster:
    missing = missing_prerequisites()
    if missing:
        raise ClusterError(f"missing Debian packages: {' '.join(missing)}; run tests/cluster/setup.sh")
    ensure_binaries(build=build)
    t0 = time.monotonic()
    if S.STATE.exists():
        _unmount_all(S.STATE)
        logs = procs.log_dir()
        for child in S.STATE.iterdir():
            if child != logs:
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        if logs.is_dir():
            shutil.rmtree(logs)
    S.STATE.mkdir(parents=True, exist_ok=True)
    os.chmod(S.STATE, 0o711)
    pki.generate(pki_dir())
    _prepare_containerd_root()
    _write_configs()
    _record_host_paths()
    _net_up()
    _cgroups_up()
    phases = {"pki, configs, netns": time.monotonic() - t0}

    procs.spawn("containerd", _argv("containerd"))
    procs.spawn("etcd", _argv("etcd"))
    procs.spawn("kube-apiserver", _argv("kube-apiserver"))
    procs.spawn("apiserver-forward", _argv("apiserver-forward"), netns=False)
    _wait("containerd", lambda: containerd_socket().exists(), 30, ["containerd"])
    phases["containerd up"] = time.monotonic() - t0
    # The pause and base images go into containerd while the control plane starts.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-import")
    imported = pool.submit(_import_system_images, images, phases, t0)
    pool.shutdown(wait=False)
    _wait("forwarder port", lambda: (S.STATE / "apiserver-forward.port").exists(), 10, ["apiserver-forward"])
    port = _port()
    server = f"https://127.0.0.1:{port}"
    pki.kubeconfig(kubeconfig_path(), pki_dir(), "admin", server)
    _wait("kube-apiserver /readyz", _readyz, timeout, ["etcd", "kube-apiserver", "apiserver-forward"])
    phases["apiserver ready"] = time.monotonic() - t0

    for name in ("kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet"):
        procs.spawn(name, _argv(name))
    _wait(f"node {S.NODE_NAME} Ready", _node_ready, timeout, COMPONENTS)
    phases["node ready"] = time.monotonic() - t0
    _wait("default service account", _default_sa, timeout, COMPONENTS)
    imported.result(timeout=600)
    _info_path().write_text(
        json.dumps(
            {
                "kubeconfig": str(kubeconfig_path()),
                "server": server,
                "port": port,
                "version": S.K8S_VERSION,
                "netns": S.NETNS,
                "node_ip": S.NODE_IP,
                "started": time.time(),
                "start_seconds": round(time.monotonic() - t0, 2),
                "start_phases": {k: round(v, 2) for k, v in phases.items()},
            },
            indent=2,
        )
    )
    _log(f"cluster ready in {time.monotonic() - t0:.1f}s; KUBECONFIG={kubeconfig_path()}")
    return Cluster(kubeconfig=kubeconfig_path(), server=server, port=port, state=S.STATE)


def down(*, keep_logs: bool = True, force: bool = False) -> None:
    """Stop everything the harness started; safe after a crash and when nothing runs.

    Refuses while other pytest sessions use the cluster, unless ``force``."""
    with lock():
        users = active_users()
        if users and not force:
            raise ClusterError(f"the cluster is in use by test sessions (PIDs {users}); use --force to stop it anyway")
        _down_locked(keep_logs=keep_logs)


# ---------------------------------------------------------------- sessions using the cluster


def _users_dir() -> Path:
    return S.STATE.parent / f".{S.STATE.name}.users"


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


def _shim_socket(address: str, namespace: str, cid: str) -> Path:
    # containerd 1.6: sha256("<grpc address>/<namespace>/<id>") under /run/containerd/s.
    digest = hashlib.sha256(f"{address}/{namespace}/{cid}".encode()).hexdigest()
    return Path("/run/containerd/s") / digest


def _shims() -> list[int]:
    return procs.pids_with_cmdline(f"-address {containerd_socket()}")


def _remove_shim_sockets(pids: Sequence[int]) -> None:
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        opts = {args[i].decode(): args[i + 1].decode() for i in range(len(args) - 1) if args[i].startswith(b"-")}
        if {"-namespace", "-id", "-address"} <= opts.keys():
            sock = _shim_socket(opts["-address"], opts["-namespace"], opts["-id"])
            _shim_sockets_to_remove.append(sock)


_shim_sockets_to_remove: list[Path] = []


def _down_locked(keep_logs: bool = True) -> None:
    running = procs.recorded()
    # Control plane and node agents first, so nothing restarts containers.
    for name in (
        "kubelet",
        "kube-proxy",
        "kube-scheduler",
        "kube-controller-manager",
        "apiserver-forward",
        "kube-apiserver",
        "etcd",
    ):
        if name in running:
            procs.stop(name, timeout=10)
    # Containers: delete the tasks through containerd while it is alive, so
    # each shim exits and cleans up after itself.
    graceful = "containerd" in procs.recorded() and containerd_socket().exists()
    if graceful:
        for ns in ("k8s.io", "default"):
            r = subprocess.run(
                [S.CTR, "-a", str(containerd_socket()), "-n", ns, "tasks", "ls", "-q"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            for cid in r.stdout.split():
                subprocess.run(
                    [S.CTR, "-a", str(containerd_socket()), "-n", ns, "tasks", "kill", "-s", "SIGKILL", cid],
                    capture_output=True,
                    timeout=30,
                )
            for cid in r.stdout.split():
                subprocess.run(
                    [S.CTR, "-a", str(containerd_socket()), "-n", ns, "tasks", "delete", "-f", cid],
                    capture_output=True,
                    timeout=30,
                )
            # Containers (and their snapshots) go; images stay for the next cluster.
            r = subprocess.run(
                [S.CTR, "-a", str(containerd_socket()), "-n", ns, "containers", "ls", "-q"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if r.stdout.split():
                rm = subprocess.run(
                    [S.CTR, "-a", str(containerd_socket()), "-n", ns, "containers", "rm", *r.stdout.split()],
                    capture_output=True,
                    timeout=60,
                )
                graceful = graceful and rm.returncode == 0
    # Whatever is left in the pods' cgroups.
    for _ in range(3):
        pids = _cgroup_pids()
        if not pids:
            break
        procs.stop_pids(pids, timeout=0, sig=9)
    shims = _shims()
    _remove_shim_sockets(shims)
    procs.stop_pids(shims, timeout=5)
    graceful = procs.stop("containerd", timeout=15) and graceful
    # Anything else still running inside the cluster's network namespace.
    leftovers = [p for p in procs.pids_in_netns(S.NETNS_PATH) if p != os.getpid()]
    procs.stop_pids(leftovers, timeout=5)
    for name in COMPONENTS:
        procs.stop(name, timeout=5)
    for sock in _shim_sockets_to_remove:
        sock.unlink(missing_ok=True)
    _shim_sockets_to_remove.clear()
    _unmount_all(S.STATE)
    _cgroups_down()
    _net_down()
    _remove_container_log_links()
    _remove_cni_cache()
    _remove_host_paths()
    root = containerd_root()
    if graceful and root.is_dir() and not _mounts_under(root):
        for d in CRI_DIRS:
            shutil.rmtree(root / d, ignore_errors=True)
        (root / CLEAN_MARK).touch()
    elif root.is_dir() and not (root / CLEAN_MARK).exists():
        _unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)
    if S.STATE.exists():
        for child in S.STATE.iterdir():
            if keep_logs and child.name == "logs":
                continue
            if _mounts_under(child):
                continue  # never delete through a mount that would not go away
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


# Paths the kubelet uses no matter its --root-dir (device plugin sockets,
# container log links). Those it creates are removed again by down().
HOST_PATHS = (
    "/var/lib/kubelet",
    "/var/lib/kubelet/device-plugins",
    "/var/log/containers",
    "/run/containerd",
    "/run/containerd/s",
    "/var/lib/cni",
    "/var/lib/cni/results",
)


def _host_paths_file() -> Path:
    return S.STATE.parent / f".{S.STATE.name}.host-paths"


NETNS_DIR = "/run/netns"


def _is_mountpoint(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)


def _record_host_paths() -> None:
    f = _host_paths_file()
    created = set(json.loads(f.read_text())) if f.exists() else set()
    created |= {p for p in (*HOST_PATHS, NETNS_DIR) if not Path(p).exists()}
    if not _is_mountpoint(NETNS_DIR):
        created.add(f"mount:{NETNS_DIR}")  # `ip netns add` bind-mounts it onto itself
    f.write_text(json.dumps(sorted(created)))


def _remove_host_paths() -> None:
    f = _host_paths_file()
    if not f.exists():
        return
    recorded = json.loads(f.read_text())
    keep: list[str] = []
    if f"mount:{NETNS_DIR}" in recorded and _is_mountpoint(NETNS_DIR) and not any(Path(NETNS_DIR).iterdir()):
        subprocess.run(["umount", NETNS_DIR], capture_output=True)
    for p in sorted((p for p in recorded if not p.startswith("mount:")), key=len, reverse=True):
        d = Path(p)
        if d.is_dir() and not _mounts_under(d):
            if p.endswith("device-plugins"):
                if _other_kubelets():
                    # Every kubelet keeps its registration socket there, whatever its --root-dir.
                    keep.append(p)
                    continue
                shutil.rmtree(d, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    d.rmdir()  # only when empty: never remove anything else's files
    if keep:
        f.write_text(json.dumps(keep))  # removed by a later down(), once no other kubelet runs
    else:
        f.unlink(missing_ok=True)


def _other_kubelets() -> list[int]:
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


def _remove_cni_cache() -> None:
    """libcni keeps a result file per Pod sandbox in /var/lib/cni/results: remove this node's."""
    cache = Path("/var/lib/cni/results")
    if not cache.is_dir():
        return
    cd = S.STATE / "containerd"
    sandboxes = {
        p.name
        for d in (
            containerd_root() / "io.containerd.grpc.v1.cri" / "sandboxes",
            cd / "state" / "io.containerd.grpc.v1.cri" / "sandboxes",
        )
        if d.is_dir()
        for p in d.iterdir()
    }
    # libcni names them <network>-<container id>-<interface>.
    mine = re.compile(rf"{re.escape(S.CNI_NETWORK)}-[0-9a-f]{{64}}-")
    for f in cache.iterdir():
        if mine.match(f.name) or any(f"-{sid}-" in f.name for sid in sandboxes):
            f.unlink(missing_ok=True)


def _remove_container_log_links() -> None:
    d = Path("/var/log/containers")
    if not d.is_dir():
        return
    for link in d.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(str(S.STATE) + "/"):
                link.unlink()


def leftovers() -> dict[str, list[Any]]:
    """What would remain of a cluster: processes, mounts, netns, cgroups. Empty lists when clean."""
    netns = [n for n in os.listdir("/var/run/netns")] if os.path.isdir("/var/run/netns") else []
    return {
        "processes": sorted(
            set(procs.recorded().values())
            | set(_shims())
            | set(_cgroup_pids())
            | set(procs.pids_in_netns(S.NETNS_PATH))
        ),
        "mounts": _mounts_under(S.STATE)
        + _mounts_under(containerd_root())
        + [m for m in _mounts_under(Path("/var/run/netns")) if Path(m).name == S.NETNS],
        "netns": [n for n in netns if n == S.NETNS],
        "cgroups": [str(h / _cgroup_root_name()) for h in _cgroup_hierarchies() if (h / _cgroup_root_name()).exists()],
    }


def status() -> dict[str, Any]:
    """A summary: which processes run, where the kubeconfig is, whether the node is Ready."""
    running = procs.recorded()
    out: dict[str, Any] = {"state": str(S.STATE), "processes": running}
    with contextlib.suppress(OSError, ValueError):
        out.update(json.loads(_info_path().read_text()))
    healthy = False
    if all(c in running for c in COMPONENTS):
        with contextlib.suppress(Exception):
            healthy = _readyz() and _node_ready()
    out["healthy"] = healthy
    out["leftovers"] = leftovers() if not running else None
    return out


def rss_kib(
    names: Sequence[str] = (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "containerd",
    ),
) -> dict[str, int]:
    """Resident memory (KiB) of the named cluster processes."""
    out = {}
    for name, pid in procs.recorded().items():
        if name not in names:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out[name] = int(line.split()[1])
    return out


def apply_crds(cluster: Cluster, crd_dir: Path | None = None, timeout: float = 60) -> list[str]:
    """Apply every CRD manifest in ``crds/`` (if any) and wait until they are Established."""
    crd_dir = crd_dir or (S.REPO / "crds")
    files = sorted(p for p in crd_dir.glob("*.y*ml") if p.is_file()) if crd_dir.is_dir() else []
    if not files:
        return []
    names: list[str] = []
    for f in files:
        r = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f), "-o", "name")
        names += [n for n in r.stdout.split() if n.startswith("customresourcedefinition")]
    if names:
        cluster.kubectl(
            "wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *names, timeout=timeout + 10
        )
    return names
