"""The cluster's processes: their names, start order and command lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from . import settings as S
from .state import pki_dir
from .topology import Node

# The control plane, in start order (node 1's containerd starts first); down() stops them in reverse.
CONTROL_PLANE = (
    "etcd",
    "kube-apiserver",
    "apiserver-forward",
    "kube-controller-manager",
    "kube-scheduler",
)


def components(nodes: Sequence[Node]) -> tuple[str, ...]:
    """Every process of a cluster with these nodes (names of pid and log files)."""
    return CONTROL_PLANE + tuple(p for n in nodes for p in n.processes())


# A one-node cluster's processes.
COMPONENTS = components([Node(1)])


def node_argv(node: Node, component: str) -> list[str]:
    """Command line of one of a node's processes (containerd, kubelet, kube-proxy, kube-router)."""
    st, kc = node.state, S.STATE / "kubeconfigs"
    if component == "containerd":
        return [S.CONTAINERD, "--config", str(st / "containerd" / "config.toml")]
    if component == "kube-proxy":
        return [str(S.binary("kube-proxy")), f"--config={st / 'kube-proxy-config.yaml'}", "--v=1"]
    if component == "kubelet":
        return [
            str(S.binary("kubelet")),
            f"--config={st / 'kubelet-config.yaml'}",
            f"--kubeconfig={kc / node.cert}",
            f"--root-dir={st / 'kubelet'}",
            f"--hostname-override={node.name}",
            f"--node-ip={node.ip}",
            "--v=1",
        ]
    if component == "kube-router":
        # Only the firewall: Pods keep the bridge CNI plugin and kube-proxy keeps Services.
        return [
            str(S.kube_router_path()),
            f"--kubeconfig={kc / 'kube-router'}",
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            f"--hostname-override={node.name}",
            f"--service-cluster-ip-range={S.SERVICE_CIDR}",
            "--metrics-port=0",
            "--health-port=0",
            "--v=1",
        ]
    raise KeyError(component)


def argv(name: str) -> list[str]:
    """Command line of one control-plane component."""
    st, p, kc = S.STATE, pki_dir(), S.STATE / "kubeconfigs"
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
            # Notice a lost node within seconds (the kubelets renew their lease every 2.5 s).
            "--node-monitor-period=2s",
            "--node-monitor-grace-period=20s",
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
