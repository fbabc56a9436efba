"""Configuration files of a cluster: component kubeconfigs, containerd, CNI, kubelet, kube-proxy."""

from __future__ import annotations

import json

from . import pki
from . import settings as S
from .state import pki_dir
from .topology import Node

# Every node reaches the apiserver at node 1's address.
SERVER_IN_NS = f"https://{S.NODE_IP}:{S.APISERVER_PORT}"
NODE_LEASE_SECONDS = 10


def write_cluster_configs() -> None:
    """Kubeconfigs of the control-plane components and the agents every node shares."""
    kcfg = S.STATE / "kubeconfigs"
    kcfg.mkdir(parents=True, exist_ok=True)
    for user in ("controller-manager", "scheduler", "kube-proxy", "kube-router"):
        pki.kubeconfig(kcfg / user, pki_dir(), user, SERVER_IN_NS)


def write_node_configs(node: Node) -> None:
    """One node's kubelet kubeconfig, containerd, CNI, kubelet and kube-proxy configuration."""
    st = node.state
    p = pki_dir()
    kcfg = S.STATE / "kubeconfigs"
    kcfg.mkdir(parents=True, exist_ok=True)
    pki.kubeconfig(kcfg / node.cert, p, node.cert, SERVER_IN_NS)

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
                "name": node.cni_network,
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": node.bridge,
                        "isGateway": True,
                        "ipMasq": False,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": node.pod_cidr, "gateway": node.pod_gateway}]],
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
root = "{node.containerd_root}"
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
  address = "{node.containerd_socket}"

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
address: {node.ip}
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
tlsCertFile: {p / f"{node.serving_cert}.crt"}
tlsPrivateKeyFile: {p / f"{node.serving_cert}.key"}
containerRuntimeEndpoint: unix://{node.containerd_socket}
cgroupDriver: cgroupfs
cgroupRoot: /{node.cgroup_root}
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
# The lease is renewed every quarter of its duration: a lost node is noticed
# within the controller manager's --node-monitor-grace-period.
nodeLeaseDurationSeconds: {NODE_LEASE_SECONDS}
""")
    (st / "kube-proxy-config.yaml").write_text(f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kcfg / "kube-proxy"}
mode: iptables
clusterCIDR: {S.CLUSTER_CIDR}
hostnameOverride: {node.name}
bindAddress: {node.ip}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["primary"]
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
""")
