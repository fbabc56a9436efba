"""The custom resources' API paths, owner references and the labels the operator puts on what it makes."""

from __future__ import annotations

from typing import Any

from kubemcp.crd.models import API_VERSION, GROUP, VERSION
from kubemcp.kube.client import path_for

Obj = dict[str, Any]

CATALOGS = "mcpcatalogs"
SERVERS = "mcpservers"
GATEWAYS = "mcpgateways"
POLICIES = "networkpolicies"
PODS = "pods"
KIND_OF = {CATALOGS: "MCPCatalog", SERVERS: "MCPServer", GATEWAYS: "MCPGateway"}

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_OWNER_GATEWAY = f"{GROUP}/owner-gateway"
LABEL_OWNER_NAMESPACE = f"{GROUP}/owner-namespace"
MANAGER = "kubemcp-operator"
COMPONENT = "kubemcp-operator"

# Kinds not ours that the operator keeps in its index beside its own resources (watched and listed with a label
# selector): plural -> (apiVersion, label selector). Its NetworkPolicies, the server Pods, the gateways' parts.
OWNED = {
    POLICIES: ("networking.k8s.io/v1", f"{LABEL_MANAGED_BY}=kubemcp"),
    PODS: ("v1", f"{GROUP}/server"),
    **{
        plural: (api_version, f"{LABEL_MANAGED_BY}=kubemcp")
        for plural, api_version in (
            ("serviceaccounts", "v1"),
            ("configmaps", "v1"),
            ("services", "v1"),
            ("deployments", "apps/v1"),
            ("roles", "rbac.authorization.k8s.io/v1"),
            ("rolebindings", "rbac.authorization.k8s.io/v1"),
            ("poddisruptionbudgets", "policy/v1"),
        )
    },
}
INDEXED = frozenset({*KIND_OF, *OWNED})

# kopf's (group, version, plural) triples for the decorators.
RESOURCE = {plural: (GROUP, VERSION, plural) for plural in KIND_OF}


def path(plural: str, namespace: str, name: str | None = None, *, status: bool = False) -> str:
    """`/apis/kubemcp.dev/v1alpha1/namespaces/<ns>/<plural>[/<name>[/status]]`."""
    base = path_for(API_VERSION, plural, namespace, name)
    return f"{base}/status" if status else base


def meta(obj: Obj) -> Obj:
    value: Obj = obj.get("metadata") or {}
    return value


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Obj) -> str:
    return str(meta(obj).get("namespace", ""))


def generation_of(obj: Obj) -> int | None:
    value = meta(obj).get("generation")
    return int(value) if value is not None else None


def labels_of(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


def owner_reference(obj: Obj, *, controller: bool = True) -> Obj:
    """An ownerReference to one of our resources: deleting it garbage-collects the dependent."""
    return {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj["kind"],
        "name": name_of(obj),
        "uid": meta(obj)["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Obj, owner_uid: str) -> bool:
    return any(ref.get("uid") == owner_uid for ref in meta(obj).get("ownerReferences") or [])
