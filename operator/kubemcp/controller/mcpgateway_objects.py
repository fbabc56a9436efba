"""What an MCPGateway becomes: ServiceAccount, Role, RoleBinding, ConfigMap, the replicas' key Secret,
Deployment, Service and (with two replicas or more) a PodDisruptionBudget.

Pure builders; every object carries an ownerReference to the MCPGateway (in its namespace), so
deleting the MCPGateway removes them all. Roles in other namespaces cannot be owned across
namespaces: they carry owner labels instead and the operator removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubemcp.controller import kinds
from kubemcp.controller.mcpgateway_auth import auth_args, auth_volumes
from kubemcp.crd.gateway_models import MCPGatewaySpec
from kubemcp.crd.models import GROUP, ResourcesSpec
from kubemcp.files.tokens import DEFAULT_TOKEN_NAME
from kubemcp.kube.pods import TOLERATIONS

Obj = dict[str, Any]

CONTAINER = "gateway"
USER = 1000
HEALTH = "/health"
READY = "/ready"
REPLICA_KEY_DIR = "/etc/kubemcp/replicas"
REPLICA_KEY = "key"
# The gateway drains for up to this long on SIGTERM (calls in flight finish); the Pod gets a little more.
DRAIN_SECONDS = 30
TERMINATION_GRACE_SECONDS = DRAIN_SECONDS + 15
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

    @property
    def replica_key(self) -> str:
        return f"{self.gateway}-kubemcp-replicas"[:253]

    @property
    def tokens(self) -> str:
        return f"{self.gateway}-kubemcp-tokens"[:253]

    @property
    def ingress_policy(self) -> str:
        return f"{self.gateway}-kubemcp-gateway-ingress"[:253]

    @property
    def disruption_budget(self) -> str:
        return self.gateway

    @property
    def metrics_service(self) -> str:
        return f"{self.gateway}-kubemcp-metrics"[:253]

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


def role_rules(configmap: str | None, secrets: list[str] | None = None, servers: list[str] | None = None) -> list[Obj]:
    """Least privilege for running server Pods and Jobs; its own ConfigMap only, by name; the status of the
    MCPServers it serves, by name (their recorded discoveries); and, when it serves remote servers, the
    Secrets holding their header secrets and OAuth tokens (read, and written when a token is refreshed),
    by name."""
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
        # Its own namespace only: the replicas find each other through their Service's endpoints.
        rules.append(
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}
        )
    if servers:
        rules.append(
            {
                "apiGroups": [GROUP],
                "resources": ["mcpservers/status"],
                "resourceNames": sorted(servers),
                "verbs": ["get"],
            }
        )
    if secrets:
        rules.append(
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": sorted(secrets), "verbs": ["get", "patch"]}
        )
    return rules


def role(
    names: Names,
    owner: Obj | None,
    namespace: str | None = None,
    secrets: list[str] | None = None,
    servers: list[str] | None = None,
) -> Obj:
    """The Role in the gateway's namespace (owned), or in another namespace it serves (labelled, no ConfigMap)."""
    here = namespace is None or namespace == names.namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(names, names.role, owner if here else None, namespace),
        "rules": role_rules(names.configmap if here else None, secrets, servers),
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


def replica_key(names: Names, owner: Obj, value: str) -> Obj:
    """The key the gateway's replicas share (session IDs any replica can verify): created once, never changed."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(names, names.replica_key, owner),
        "stringData": {REPLICA_KEY: value},
    }


def tokens_secret(names: Names, owner: Obj, token: str) -> Obj:
    """The gateway's bearer tokens (key: principal name, value: token), made once with a random `default`;
    add and rotate keys as you like (the gateway reads the mounted files again when they change)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(names, names.tokens, owner),
        "stringData": {DEFAULT_TOKEN_NAME: token},
    }


def ingress_policy(names: Names, owner: Obj, spec: MCPGatewaySpec) -> Obj:
    """Only `allowedFrom`, and the gateway's own replicas (they forward sessions to each other), may connect;
    only `metricsAllowedFrom` (a Prometheus) may reach the metrics port, and nobody when it is unset."""
    peers: list[Obj] = [{"podSelector": {"matchLabels": selector_labels(names)}}]
    for peer in spec.allowed_from or []:
        peers.append(peer.model_dump(mode="json", by_alias=True, exclude_none=True))
    rules: list[Obj] = [{"from": peers, "ports": [{"protocol": "TCP", "port": spec.port}]}]
    if (port := metrics_port(spec)) is not None and spec.metrics_allowed_from:
        scrapers = [
            peer.model_dump(mode="json", by_alias=True, exclude_none=True) for peer in spec.metrics_allowed_from
        ]
        rules.append({"from": scrapers, "ports": [{"protocol": "TCP", "port": port}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(names, names.ingress_policy, owner),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(names)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def disruption_budget(names: Names, owner: Obj) -> Obj:
    """With two replicas or more, a voluntary disruption (a node drain) keeps one serving."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(names, names.disruption_budget, owner),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(names)}},
    }


def gateway_args(names: Names, spec: MCPGatewaySpec) -> list[str]:
    return [*_base_args(names, spec), *_restart_option_args(spec)]


def _restart_option_args(spec: MCPGatewaySpec) -> list[str]:
    """Options read at start: changing them changes the Pod template, so the replicas roll."""
    options = spec.options
    args: list[str] = []
    if options is not None and options.tracing is not None and options.tracing.otlp_endpoint:
        args += ["--otlp-endpoint", options.tracing.otlp_endpoint]
    if metrics_port(spec) is not None:
        args += ["--metrics-port", str(metrics_port(spec))]
    return args


def metrics_port(spec: MCPGatewaySpec) -> int | None:
    options = spec.options
    return options.metrics.port if options is not None and options.metrics is not None else None


def _base_args(names: Names, spec: MCPGatewaySpec) -> list[str]:
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
        "--replica-key-file",
        f"{REPLICA_KEY_DIR}/{REPLICA_KEY}",
        "--peers-service",
        names.service,
        *auth_args(names, spec),
    ]


STARTUP_SECONDS = 600  # how long a gateway replica may take to serve /health for the first time


def deployment(names: Names, owner: Obj, spec: MCPGatewaySpec, image: str) -> Obj:
    probe = {"httpGet": {"path": HEALTH, "port": "mcp"}}
    readiness = {"httpGet": {"path": READY, "port": "mcp"}}
    container: Obj = {
        "name": CONTAINER,
        "image": image,
        "command": ["kubemcp"],
        "args": gateway_args(names, spec),
        "ports": [
            {"name": "mcp", "containerPort": spec.port, "protocol": "TCP"},
            *([{"name": "metrics", "containerPort": port, "protocol": "TCP"}] if (port := metrics_port(spec)) else []),
        ],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "HOME", "value": "/tmp"},  # noqa: S108 - the Pod's own emptyDir
            {"name": "XDG_CACHE_HOME", "value": "/tmp/cache"},  # noqa: S108
            {"name": "KUBEMCP_HOME", "value": "/tmp/kubemcp"},  # noqa: S108
        ],
        "readinessProbe": {**readiness, "periodSeconds": 2, "timeoutSeconds": 3, "failureThreshold": 1},
        # Liveness begins once the gateway has served /health: a start slowed by a busy node (many gateways
        # starting at once) gets up to STARTUP_SECONDS instead of being killed and started again.
        "startupProbe": {**probe, "periodSeconds": 2, "timeoutSeconds": 5, "failureThreshold": STARTUP_SECONDS // 2},
        "livenessProbe": {**probe, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3},
        "resources": _resources(spec.resources),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": USER,
            "runAsGroup": USER,
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
            {"name": "replica-key", "mountPath": REPLICA_KEY_DIR, "readOnly": True},
            *[
                {"name": volume["name"], "mountPath": path, "readOnly": True}
                for volume, path in auth_volumes(names, spec)
            ],
        ],
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
            # A new replica is ready before an old one goes; the old one drains its calls.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
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
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    # A replica on a node that stops answering is replaced within a minute, not five.
                    "tolerations": [dict(toleration) for toleration in TOLERATIONS],
                    # Replicas spread over nodes, so losing one node leaves the others serving.
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector_labels(names)},
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                        {
                            "name": "replica-key",
                            "secret": {"secretName": names.replica_key, "defaultMode": 0o440},
                        },
                        *[volume for volume, _ in auth_volumes(names, spec)],
                    ],
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


def metrics_service(names: Names, owner: Obj, port: int) -> Obj:
    """The metrics port on a Service of its own, always ClusterIP: a NodePort or LoadBalancer MCP Service
    never exposes the port that needs no token. A ServiceMonitor selects it by its component label."""
    metadata = _metadata(names, names.metrics_service, owner)
    metadata["labels"]["app.kubernetes.io/component"] = "metrics"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(names),
            "ports": [{"name": "metrics", "port": port, "targetPort": "metrics", "protocol": "TCP"}],
        },
    }
