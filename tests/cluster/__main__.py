"""Command line for the test cluster (run from the repository root):

python -m tests.cluster up             # start, or reuse the running cluster
python -m tests.cluster status         # processes, kubeconfig, health (JSON)
python -m tests.cluster down [--force]  # stop and clean up (--force: even while test sessions use it)
python -m tests.cluster build-images   # pause + base images into the cache
python -m tests.cluster build-bins     # Kubernetes + helm binaries into the cache
python -m tests.cluster env            # `export KUBECONFIG=...` for a shell
python -m tests.cluster kubectl get pods -A
python -m tests.cluster helm-path
python -m tests.cluster prometheus-path  # the dashboard checks' Prometheus, built into the cache if missing
python -m tests.cluster stop-node NAME [--kill-pods]  # simulate losing a node (not node 1)
python -m tests.cluster start-node NAME                # bring it back, wait until Ready

Environment: KUBEMCP_CLUSTER_INSTANCE (run several clusters side by side),
KUBEMCP_CLUSTER_NODES (1..8, default 1), KUBEMCP_CLUSTER_NETWORK_POLICY (0: no kube-router).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from . import harness, images, prereqs, settings


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0
    cmd, rest = argv[0], argv[1:]
    if os.geteuid() != 0 and cmd in ("up", "down", "build-images", "stop-node", "start-node"):
        print("the cluster harness needs root (network namespaces, mounts, cgroups)", file=sys.stderr)
        return 1
    try:
        if cmd == "up":
            c = harness.up(build="--no-build" not in rest)
            harness.apply_crds(c)
            print(f"export KUBECONFIG={c.kubeconfig}")
            return 0
        if cmd == "down":
            harness.down(force="--force" in rest)
            left = harness.leftovers()
            if any(left.values()):
                print(json.dumps({"leftovers": left}, indent=2), file=sys.stderr)
                return 1
            return 0
        if cmd == "status":
            st = harness.status()
            st["rss_kib"] = harness.rss_kib(list(st["processes"]))
            st["rss_total_mib"] = round(sum(st["rss_kib"].values()) / 1024, 1)
            print(json.dumps(st, indent=2, default=str))
            return 0 if st["healthy"] else 3
        if cmd == "build-images":
            for name, path in images.prepare().items():
                print(f"{name}: {path}")
            return 0
        if cmd == "build-bins":
            harness.ensure_binaries(build=True)
            print(settings.BIN_DIR)
            return 0
        if cmd == "env":
            print(f"export KUBECONFIG={harness.kubeconfig_path()}")
            print(f"export PATH={settings.BIN_DIR}:{settings.HELM_DIR}:$PATH")
            return 0
        if cmd == "kubectl":
            return subprocess.call(
                [str(settings.binary("kubectl")), "--kubeconfig", str(harness.kubeconfig_path()), *rest]
            )
        if cmd in ("stop-node", "start-node") and rest:
            if cmd == "stop-node":
                harness.stop_node(rest[0], kill_pods="--kill-pods" in rest)
            else:
                harness.start_node(rest[0])
            return 0
        if cmd == "helm-path":
            print(harness.helm_path())
            return 0
        if cmd == "prometheus-path":
            print(prereqs.prometheus_path())
            return 0
    except (harness.ClusterError, images.ImageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"unknown command {cmd!r}\n\n{__doc__.strip()}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
