"""What an MCPGateway becomes: owned objects, least-privilege RBAC, a restricted Deployment, its Service."""

from __future__ import annotations

from typing import Any

from controller.objects import gateway
from kubemcp.controller import mcpgateway_objects as objects
from kubemcp.controller.kinds import owner_reference
from kubemcp.crd.gateway_models import MCPGatewaySpec

NAMES = objects.Names("mcp", "team")
OWNER = owner_reference(gateway("mcp"))


def _all(spec: MCPGatewaySpec) -> list[dict[str, Any]]:
    return [
        objects.service_account(NAMES, OWNER),
        objects.role(NAMES, OWNER),
        objects.role_binding(NAMES, OWNER),
        objects.configmap(NAMES, OWNER, {"catalog.yaml": "x"}),
        objects.deployment(NAMES, OWNER, spec, "kubemcp/kubemcp:dev"),
        objects.service(NAMES, OWNER, spec),
    ]


def test_everything_is_owned_by_the_gateway_in_its_namespace() -> None:
    assert OWNER == {
        "apiVersion": "kubemcp.dev/v1alpha1",
        "kind": "MCPGateway",
        "name": "mcp",
        "uid": "uid-mcpgateway-mcp",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for body in _all(MCPGatewaySpec()):
        assert body["metadata"]["namespace"] == "team"
        assert body["metadata"]["ownerReferences"] == [OWNER]
        assert body["metadata"]["labels"]["kubemcp.dev/owner-gateway"] == "mcp"


def test_role_is_least_privilege_and_names_its_configmap() -> None:
    role = objects.role(NAMES, OWNER)
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): r for r in role["rules"]}
    assert set(rules[("",), ("pods",)]["verbs"]) == {"create", "get", "list", "watch", "delete", "patch"}
    assert set(rules[("",), ("pods/attach",)]["verbs"]) == {"create", "get"}
    assert rules[("",), ("pods/log",)]["verbs"] == ["get"]
    assert set(rules[("batch",), ("jobs",)]["verbs"]) == {"create", "get", "list", "watch", "delete"}
    configmaps = rules[("",), ("configmaps",)]
    assert configmaps["resourceNames"] == [NAMES.configmap]
    assert set(configmaps["verbs"]) == {"get", "list", "watch"}
    slices = rules[("discovery.k8s.io",), ("endpointslices",)]  # the replicas find each other
    assert set(slices["verbs"]) == {"get", "list", "watch"}
    assert len(rules) == 6
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"]
        assert not {"secrets", "pods/exec"} & set(rule["resources"])
    binding = objects.role_binding(NAMES, OWNER)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAMES.role}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAMES.service_account, "namespace": "team"}]


def test_roles_in_other_namespaces_carry_labels_not_owners() -> None:
    role = objects.role(NAMES, OWNER, "apps")
    assert role["metadata"]["namespace"] == "apps"
    assert "ownerReferences" not in role["metadata"]
    assert role["metadata"]["labels"]["kubemcp.dev/owner-namespace"] == "team"
    assert all(rule["resources"] != ["configmaps"] for rule in role["rules"])
    binding = objects.role_binding(NAMES, OWNER, "apps")
    assert binding["subjects"][0]["namespace"] == "team"


def test_deployment_runs_the_gateway_from_its_configmap() -> None:
    spec = MCPGatewaySpec(transport="sse", port=9000, replicas=2, imagePullPolicy="Never")
    deployment = objects.deployment(NAMES, OWNER, spec, "kubemcp/kubemcp:dev")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "kubemcp/kubemcp:dev"
    assert container["imagePullPolicy"] == "Never"
    assert container["command"] == ["kubemcp"]
    assert container["args"] == [
        "gateway", "run", "--runtime", "kubernetes", "--from-configmap", NAMES.configmap,
        "--transport", "sse", "--host", "0.0.0.0", "--port", "9000", "--gateway-name", "mcp",
        "--replica-key-file", "/etc/kubemcp/replicas/key", "--peers-service", "mcp",
        "--secret-scan", "block", "--tokens-dir", "/var/run/kubemcp/tokens",
    ]  # fmt: skip
    env = {item["name"]: item for item in container["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_UID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.uid"}}
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "mcp"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "mcp"}
    # A slow start (many gateways starting on a busy node) is waited for, not killed by liveness after ~70 s.
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "mcp"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert "initialDelaySeconds" not in container["livenessProbe"]
    # the replicas' shared key, readable by the gateway's user only through its group
    key = next(volume for volume in pod["volumes"] if volume["name"] == "replica-key")
    assert key["secret"] == {"secretName": NAMES.replica_key, "defaultMode": 0o440}
    assert {"name": "replica-key", "mountPath": "/etc/kubemcp/replicas", "readOnly": True} in container["volumeMounts"]
    # rolling updates add a replica before removing one; replicas spread over nodes
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    [spread] = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert pod["terminationGracePeriodSeconds"] > objects.DRAIN_SECONDS
    assert container["ports"] == [{"name": "mcp", "containerPort": 9000, "protocol": "TCP"}]
    assert deployment["spec"]["replicas"] == 2
    assert pod["serviceAccountName"] == NAMES.service_account
    # restricted Pod Security
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_callers_authenticate_with_the_generated_tokens_or_as_the_gateway_says() -> None:
    default = objects.deployment(NAMES, OWNER, MCPGatewaySpec(), "img")["spec"]["template"]["spec"]
    tokens = next(volume for volume in default["volumes"] if volume["name"] == "tokens")
    assert tokens["secret"] == {"secretName": NAMES.tokens, "defaultMode": 0o440}
    assert objects.tokens_secret(NAMES, OWNER, "t" * 43)["stringData"] == {"default": "t" * 43}

    oauth = MCPGatewaySpec.model_validate(
        {
            "auth": {
                "tokensSecret": "team-tokens",
                "oauth": {
                    "issuer": "https://issuer.example",
                    "audience": "https://mcp.example/mcp",
                    "jwksConfigMap": {"name": "issuer-keys", "key": "jwks.json"},
                    "scopes": ["mcp.use"],
                },
            },
            "secretScan": "redact",
        }
    )
    pod = objects.deployment(NAMES, OWNER, oauth, "img")["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--oauth-jwks-url") + 1] == "file:///etc/kubemcp/oauth/jwks.json"
    assert args[args.index("--oauth-scopes") + 1] == "mcp.use"
    assert args[args.index("--secret-scan") + 1] == "redact"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["tokens"]["secret"]["secretName"] == "team-tokens"
    assert volumes["oauth-keys"]["configMap"]["name"] == "issuer-keys"

    open_door = MCPGatewaySpec.model_validate({"auth": {"allowUnauthenticated": True}})
    pod = objects.deployment(NAMES, OWNER, open_door, "img")["spec"]["template"]["spec"]
    assert "--allow-unauthenticated" in pod["containers"][0]["args"]
    assert "--tokens-dir" not in pod["containers"][0]["args"]
    assert "tokens" not in {volume["name"] for volume in pod["volumes"]}


def test_allowed_from_admits_its_peers_and_the_gateways_own_replicas() -> None:
    spec = MCPGatewaySpec.model_validate(
        {"port": 9000, "allowedFrom": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}]}
    )
    policy = objects.ingress_policy(NAMES, OWNER, spec)
    [rule] = policy["spec"]["ingress"]
    own = {"podSelector": {"matchLabels": objects.selector_labels(NAMES)}}
    assert rule["from"] == [own, {"namespaceSelector": {"matchLabels": {"team": "a"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9000}]
    assert policy["spec"]["podSelector"] == own["podSelector"]


def test_the_replicas_key_and_disruption_budget() -> None:
    key = objects.replica_key(NAMES, OWNER, "k" * 64)
    assert key["metadata"]["name"] == NAMES.replica_key
    assert key["stringData"] == {"key": "k" * 64}
    budget = objects.disruption_budget(NAMES, OWNER)
    assert budget["spec"]["maxUnavailable"] == 1
    deployment = objects.deployment(NAMES, OWNER, MCPGatewaySpec(), "img")
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_service_selects_only_gateway_pods() -> None:
    spec = MCPGatewaySpec(serviceType="NodePort")
    service = objects.service(NAMES, OWNER, spec)
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["port"] == 8811
    selector = service["spec"]["selector"]
    deployment = objects.deployment(NAMES, OWNER, spec, "img")
    assert deployment["spec"]["selector"]["matchLabels"] == selector
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    server_pod_labels = {"app.kubernetes.io/managed-by": "kubemcp", "kubemcp.dev/gateway": "mcp"}
    assert not selector.items() <= server_pod_labels.items()
    assert NAMES.endpoint(8811) == "mcp.team.svc:8811"


def test_resources_default_and_override() -> None:
    default = objects.deployment(NAMES, OWNER, MCPGatewaySpec(), "img")
    assert default["spec"]["template"]["spec"]["containers"][0]["resources"] == objects.DEFAULT_RESOURCES
    spec = MCPGatewaySpec.model_validate({"resources": {"limits": {"cpu": 1, "memory": "1Gi"}}})
    custom = objects.deployment(NAMES, OWNER, spec, "img")
    assert custom["spec"]["template"]["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}}


def test_label_selector() -> None:
    spec = MCPGatewaySpec.model_validate(
        {
            "serverSelector": {
                "matchLabels": {"team": "a"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["gold", "silver"]},
                    {"key": "off", "operator": "DoesNotExist"},
                ],
            }
        }
    )
    selector = spec.server_selector
    assert selector is not None
    assert selector.matches({"team": "a", "tier": "gold"})
    assert not selector.matches({"team": "a", "tier": "bronze"})
    assert not selector.matches({"team": "a", "tier": "gold", "off": "1"})
    assert not selector.matches({"tier": "gold"})


def test_node_port_is_set_only_where_a_node_port_exists() -> None:
    node = objects.service(NAMES, OWNER, MCPGatewaySpec.model_validate({"serviceType": "NodePort", "nodePort": 30811}))
    assert node["spec"]["ports"][0]["nodePort"] == 30811
    cluster_ip = objects.service(NAMES, OWNER, MCPGatewaySpec.model_validate({"nodePort": 30811}))
    assert "nodePort" not in cluster_ip["spec"]["ports"][0]
