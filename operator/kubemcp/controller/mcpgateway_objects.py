"""What an MCPGateway becomes: ServiceAccount, Role, RoleBinding, ConfigMap, Deployment and Service.

Pure builders; every object carries an ownerReference to the MCPGateway (in its namespace), so
deleting the MCPGateway removes them all. Roles in other namespaces cannot be owned across
namespaces: they carry owner labels instead and the operator removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubemcp.controller import kinds
from kubemcp.crd.models import MCPGatewaySpec, ResourcesSpec

Obj = dict[str, Any]

CONTAINER = "gateway"
USER = 1000
HEALTH = "/health"
DEFAULT_RESOURCES: Obj = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


@dataclass(frozen=True)
class Names:
    gateway: str
    namespace: str

    @property
    def service(self) -> str:
        return self.gateway

    @property
    def deployment(self) -> str:
        return self.gateway

    @property
    def service_account(self) -> str:
        return f"{self.gateway}-kubemcp-gateway"[:253]

    @property
    def role(self) -> str:
        return f"kubemcp-gateway-{self.gateway}"[:253]

    @property
    def configmap(self) -> str:
        return f"{self.gateway}-kubemcp-gateway"[:253]

    def endpoint(self, port: int) -> str:
        return f"{self.service}.{self.namespace}.svc:{port}"


def selector_labels(names: Names) -> dict[str, str]:
    return {"app.kubernetes.io/name": "kubemcp-gateway", "app.kubernetes.io/instance": names.gateway}


def common_labels(names: Names) -> dict[str, str]:
    return {
        **selector_labels(names),
        "app.kubernetes.io/component": "gateway",
        kinds.LABEL_MANAGED_BY: "kubemcp",
        kinds.LABEL_OWNER_GATEWAY: names.gateway,
        kinds.LABEL_OWNER_NAMESPACE: names.namespace,
    }


def _metadata(names: Names, name: str, owner: Obj | None, namespace: str | None = None) -> Obj:
    metadata: Obj = {"name": name, "namespace": namespace or names.namespace, "labels": common_labels(names)}
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return metadata


def service_account(names: Names, owner: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(names, names.service_account, owner),
        "automountServiceAccountToken": True,
    }


def role_rules(configmap: str | None, secrets: list[str] | None = None) -> list[Obj]:
    """Least privilege for running server Pods and Jobs; its own ConfigMap only, by name; and, when it serves
    remote servers, the Secrets holding their header secrets and OAuth tokens (read, and written when a
    token is refreshed), by name."""
    rules: list[Obj] = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete", "patch"]},
        {"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["create", "get"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    ]
    if configmap is not None:
        rules.append(
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [configmap],
                "verbs": ["get", "list", "watch"],
            }
        )
    if secrets:
        rules.append(
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": sorted(secrets), "verbs": ["get", "patch"]}
        )
    return rules


def role(names: Names, owner: Obj | None, namespace: str | None = None, secrets: list[str] | None = None) -> Obj:
    """The Role in the gateway's namespace (owned), or in another namespace it serves (labelled, no ConfigMap)."""
    here = namespace is None or namespace == names.namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(names, names.role, owner if here else None, namespace),
        "rules": role_rules(names.configmap if here else None, secrets),
    }


def role_binding(names: Names, owner: Obj | None, namespace: str | None = None) -> Obj:
    here = namespace is None or namespace == names.namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(names, names.role, owner if here else None, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": names.role},
        "subjects": [{"kind": "ServiceAccount", "name": names.service_account, "namespace": names.namespace}],
    }


def configmap(names: Names, owner: Obj, files: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(names, names.configmap, owner),
        "data": dict(files),
    }


def _resources(spec: ResourcesSpec | None) -> Obj:
    if spec is None:
        return DEFAULT_RESOURCES
    dumped: Obj = spec.model_dump(mode="json", exclude_none=True)
    return dumped


def gateway_args(names: Names, spec: MCPGatewaySpec) -> list[str]:
    return [
        "gateway",
        "run",
        "--runtime",
        "kubernetes",
        "--from-configmap",
        names.configmap,
        "--transport",
        spec.transport,
        "--host",
        "0.0.0.0",
        "--port",
        str(spec.port),
        "--gateway-name",
        names.gateway,
    ]


def deployment(names: Names, owner: Obj, spec: MCPGatewaySpec, image: str) -> Obj:
    probe = {"httpGet": {"path": HEALTH, "port": "mcp"}}
    container: Obj = {
        "name": CONTAINER,
        "image": image,
        "command": ["kubemcp"],
        "args": gateway_args(names, spec),
        "ports": [{"name": "mcp", "containerPort": spec.port, "protocol": "TCP"}],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "HOME", "value": "/tmp"},  # noqa: S108 - the Pod's own emptyDir
            {"name": "XDG_CACHE_HOME", "value": "/tmp/cache"},  # noqa: S108
            {"name": "KUBEMCP_HOME", "value": "/tmp/kubemcp"},  # noqa: S108
        ],
        "readinessProbe": {**probe, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3},
        "livenessProbe": {
            **probe,
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": _resources(spec.resources),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": USER,
            "runAsGroup": USER,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }
    if spec.image_pull_policy:
        container["imagePullPolicy"] = spec.image_pull_policy
    pod_labels = common_labels(names)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(names, names.deployment, owner),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector_labels(names)},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": names.service_account,
                    "automountServiceAccountToken": True,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER,
                        "runAsGroup": USER,
                        "fsGroup": USER,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            },
        },
    }


def service(names: Names, owner: Obj, spec: MCPGatewaySpec) -> Obj:
    port: Obj = {"name": "mcp", "port": spec.port, "targetPort": "mcp", "protocol": "TCP", "appProtocol": "http"}
    if spec.node_port is not None and spec.service_type != "ClusterIP":
        port["nodePort"] = spec.node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(names, names.service, owner),
        "spec": {
            "type": spec.service_type,
            "selector": selector_labels(names),
            "ports": [port],
        },
    }
