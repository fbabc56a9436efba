"""The NetworkPolicy agent: kube-router's firewall on every node, and the API access it needs.

The bridge CNI plugin enforces no NetworkPolicy; kube-router
(``--run-firewall=true --run-router=false --run-service-proxy=false``) does it
with iptables and ipsets in each node's network namespace, for the Pods on that
node. It signs in with the client certificate ``kubemcp:kube-router``, which a
ClusterRole lets read what its informers watch.
"""

from __future__ import annotations

from typing import Any

from .client import api
from .common import ClusterError

USER = "kubemcp:kube-router"
NAME = "kubemcp:kube-router"
READ = ["get", "list", "watch"]

CLUSTER_ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": NAME},
    "rules": [
        {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"], "verbs": READ},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": READ},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
    ],
}
CLUSTER_ROLE_BINDING: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": NAME},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
}


def grant_access(port: int) -> None:
    """Create (or replace) the agent's ClusterRole and its binding."""
    base = "/apis/rbac.authorization.k8s.io/v1"
    for kind, body in (("clusterroles", CLUSTER_ROLE), ("clusterrolebindings", CLUSTER_ROLE_BINDING)):
        status, resp = api(port, "POST", f"{base}/{kind}", body)
        if status == 409:
            status, resp = api(port, "PUT", f"{base}/{kind}/{body['metadata']['name']}", body)
        if status not in (200, 201):
            raise ClusterError(f"creating {kind} {NAME}: HTTP {status} {resp}")
