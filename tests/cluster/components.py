"""The cluster's processes: their start order and command lines."""

from __future__ import annotations

import sys

from . import settings as S
from .state import pki_dir

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


def argv(name: str) -> list[str]:
    """Command line of one cluster component."""
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
