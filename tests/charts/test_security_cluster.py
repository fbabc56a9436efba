"""Least privilege on the real cluster, as the chart installs it: the API server refuses any Pod a gateway
might try to create beyond a restricted server Pod (so controlling a gateway gives no one the
operator's rights), server Pods run as an account with nothing, and a server Pod reaches only the
destinations its MCPServer allows."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from cluster import manifests
from cluster_client import (
    GATEWAY,
    RELEASE,
    call,
    gateway_ready,
    gateway_token,
    get,
    listed_tools,
    port_forward,
    probe_server,
    wait_for,
)
from support import CHART, tool_value

pytestmark = pytest.mark.cluster


@pytest.fixture
def installed(chart_release: Callable[..., Any]) -> None:
    chart_release("install")


def server_pod(image: str) -> dict[str, Any]:
    """A Pod as the gateway makes them for a call."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "mcp-probe-call-",
            "labels": {"app.kubernetes.io/managed-by": "kubemcp", "kubemcp.dev/role": "call"},
        },
        "spec": {
            "serviceAccountName": "kubemcp-server",
            "automountServiceAccountToken": False,
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "server",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "stdin": True,
                    "stdinOnce": True,
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


def as_gateway(cluster: Any, namespace: str, body: dict[str, Any]) -> Any:
    account = f"system:serviceaccount:{namespace}:{GATEWAY}-kubemcp-gateway"
    return cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "--as", account, "-f", "-", input=json.dumps(body), check=False
    )


def test_a_gateway_may_create_restricted_server_pods_and_nothing_else(
    cluster: Any, namespace: str, installed: None, product_images: dict[str, str]
) -> None:
    wait_for(lambda: get(cluster, namespace, "rolebinding", f"kubemcp-gateway-{GATEWAY}"), 120, "the gateway's Role")
    # A namespace gets the servers' account with its first MCPServer.
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(probe_server(product_images["probe"])))
    wait_for(lambda: get(cluster, namespace, "serviceaccount", "kubemcp-server"), 120, "the servers' account")
    good = server_pod(product_images["probe"])
    admitted = as_gateway(cluster, namespace, good)
    assert admitted.returncode == 0, admitted.stderr

    def variant(change: Any) -> dict[str, Any]:
        body = copy.deepcopy(good)
        change(body["spec"])
        return body

    refused = {
        "as the operator": variant(lambda s: s.update(serviceAccountName=f"{RELEASE}-operator")),
        "with a token": variant(lambda s: s.update(automountServiceAccountToken=True)),
        "privileged": variant(
            lambda s: s["containers"][0]["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
        ),
        "host network": variant(lambda s: s.update(hostNetwork=True)),
        "host path": variant(lambda s: s.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}])),
        "added capability": variant(
            lambda s: s["containers"][0]["securityContext"].update(capabilities={"drop": ["ALL"], "add": ["NET_RAW"]})
        ),
        "init container": variant(
            lambda s: s.update(initContainers=[{**copy.deepcopy(s["containers"][0]), "name": "i"}])
        ),
    }
    policy = "ValidatingAdmissionPolicy"
    for what, body in refused.items():
        result = as_gateway(cluster, namespace, body)
        assert result.returncode != 0, f"a Pod {what} was admitted"
        # The admission policy, or for some the namespace's Pod Security "restricted" first: both the API server's.
        assert policy in result.stderr or "violates PodSecurity" in result.stderr, (what, result.stderr)
    # What Pod Security does not look at, the policy refuses itself: who the Pod runs as, and what it is.
    unlabelled = copy.deepcopy(good)
    unlabelled["metadata"]["labels"] = {}
    for body in (refused["as the operator"], refused["with a token"], unlabelled):
        result = as_gateway(cluster, namespace, body)
        assert result.returncode != 0
        assert policy in result.stderr, result.stderr


def web_server(name: str, image: str) -> dict[str, Any]:
    pod = manifests.pod(name, image, command=["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0"])
    pod["metadata"]["labels"] = {"app": name}
    return pod


def test_a_server_reaches_the_hosts_it_is_allowed_and_no_other(
    cluster: Any, namespace: str, installed: None, product_images: dict[str, str]
) -> None:
    for name in ("allowed", "forbidden"):
        cluster.kubectl(
            "apply", "-n", namespace, "-f", "-", input=json.dumps(web_server(name, product_images["probe"]))
        )
    address = {
        name: wait_for(
            lambda: (get(cluster, namespace, "pod", name) or {}).get("status", {}).get("podIP"),  # noqa: B023
            120,
            f"the {name} web server's address",
        )
        for name in ("allowed", "forbidden")
    }
    server = probe_server(product_images["probe"])
    server["spec"]["egress"] = {"to": [f"{address['allowed']}:8080"]}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(server))
    account = wait_for(lambda: get(cluster, namespace, "serviceaccount", "kubemcp-server"), 120, "the servers' account")
    assert account["automountServiceAccountToken"] is False
    wait_for(
        lambda: (get(cluster, namespace, "networkpolicy", "kubemcp-server-probe-egress") or {}).get("spec"),
        120,
        "the probe's egress policy",
    )
    labels = json.loads(cluster.kubectl("get", "namespace", namespace, "-o", "json").stdout)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    token = gateway_token(cluster, namespace)
    # A port-forward to a replica that is not serving yet fails (Pending) or ends at the first refused connection.
    wait_for(lambda: gateway_ready(cluster, namespace), 240, "the gateway Deployment")
    with port_forward(cluster, namespace, f"svc/{GATEWAY}", 8811) as url:

        def fetch(name: str) -> Any:
            arguments = {"url": f"http://{address[name]}:8080/", "timeout": 3}
            return tool_value(anyio.run(call, url, "fetch", arguments, token))

        allowed = wait_for(lambda: _try(fetch, "allowed"), 180, "the probe to be served and reach its allowed host")
        assert allowed == {"ok": True, "status": 200}
        # Each call is a new Pod: the policy agent programs it as it starts, so allow it a few tries.
        blocked = wait_for(lambda: (found := fetch("forbidden"))["ok"] is False and found, 60, "the refusal")
        assert "error" in blocked
        assert fetch("allowed") == {"ok": True, "status": 200}  # still, after the refusal


def _listed(url: str, token: str) -> set[str]:
    try:
        return listed_tools(url, token)
    except Exception:  # not served yet
        return set()


def _try(fetch: Any, name: str) -> Any:
    try:
        found = fetch(name)
    except Exception:  # not served yet
        return None
    return found if found.get("ok") else None


def issuer() -> tuple[Any, dict[str, Any]]:
    """The test's own OAuth issuer: an RSA key and its public key set (PyJWT signs, `cryptography` makes the key)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "test-key", "use": "sig", "alg": "RS256"})
    return key, {"keys": [public]}


def jwt_for(key: Any, subject: str, audience: str) -> str:
    import time

    import jwt

    now = int(time.time())
    claims = {"iss": ISSUER, "sub": subject, "aud": audience, "iat": now, "exp": now + 3600, "scope": "mcp.use"}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-key"})


ISSUER = "https://issuer.kubemcp.test"


def test_callers_need_a_credential_and_see_only_what_they_may_use(
    cluster: Any, namespace: str, product_images: dict[str, str], tmp_path: Any
) -> None:
    audience = f"http://{GATEWAY}.{namespace}.svc:8811/mcp"
    key, keys = issuer()
    tokens = {"default": os.urandom(24).hex(), "limited": os.urandom(24).hex()}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "team-tokens"}, "stringData": tokens}
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "issuer-keys"},
                 "data": {"jwks.json": json.dumps(keys)}}  # fmt: skip
    for body in (secret, configmap):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    values = {
        "image": {"repository": "kubemcp/kubemcp", "tag": "dev", "pullPolicy": "Never"},
        "servers": {"imagePullPolicy": "Never"},
        "operator": {"watchNamespaces": [namespace]},
        "gateway": {
            "auth": {
                "tokensSecret": "team-tokens",
                "oauth": {"issuer": ISSUER, "audience": audience, "scopes": ["mcp.use"],
                          "jwksConfigMap": {"name": "issuer-keys", "key": "jwks.json"}},
            },
            "authorization": {
                "default": "deny",
                "rules": [
                    {"principals": ["token:default", "sub:alice"], "allow": ["probe"]},
                    {"principals": ["token:limited"], "allow": ["probe:echo"]},
                ],
            },
        },
    }  # fmt: skip
    values_file = tmp_path / "values.yaml"
    values_file.write_text(json.dumps(values))
    cluster.helm("install", RELEASE, str(CHART), "-n", namespace, "-f", str(values_file), "--wait", "--timeout", "240s")
    try:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(probe_server(product_images["probe"])))
        wait_for(
            lambda: (
                "probe"
                in ((get(cluster, namespace, "mcpgateway", GATEWAY) or {}).get("status", {}).get("servers") or [])
            ),
            240,
            "the probe to be served",
        )
        wait_for(lambda: (get(cluster, namespace, "deployment", GATEWAY) or {}).get("status", {}).get("readyReplicas"),
                 240, "the gateway")  # fmt: skip
        # Discovery adds the probe's other tools to the three its MCPServer declares: wait until they
        # are served, so every check below sees the same listing.
        with port_forward(cluster, namespace, f"svc/{GATEWAY}", 8811) as forwarded:
            wait_for(lambda: "fetch" in _listed(forwarded, tokens["default"]), 240, "the probe's discovered tools")
        cases = [
            {"name": "none", "token": None},
            {"name": "default", "token": tokens["default"]},
            {"name": "limited", "token": tokens["limited"]},
            {"name": "alice", "token": jwt_for(key, "alice", audience)},
            {"name": "elsewhere", "token": jwt_for(key, "alice", "https://another.example/mcp")},
            {"name": "stranger", "token": jwt_for(key, "mallory", audience)},
        ]
        other = f"{namespace}-x"[:63]
        cluster.kubectl("create", "namespace", other)
        try:
            address = get(cluster, namespace, "service", GATEWAY)["spec"]["clusterIP"]
            url = f"http://{address}:8811/mcp"
            pod = manifests.pod("auth-check", product_images["probe"],
                                command=["python", "/app/auth_check.py", url, json.dumps(cases)])  # fmt: skip
            cluster.kubectl("apply", "-n", other, "-f", "-", input=json.dumps(pod))
            wait_for(lambda: (get(cluster, other, "pod", "auth-check") or {}).get("status", {}).get("phase")
                     in {"Succeeded", "Failed"}, 180, "the checks from another namespace")  # fmt: skip
            found = json.loads(cluster.kubectl("logs", "-n", other, "auth-check").stdout.strip().splitlines()[-1])
        finally:
            cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)
        assert found["none"]["status"] == 401
        assert found["none"]["authenticate"].startswith("Bearer")
        assert found["elsewhere"]["status"] == 401  # a JWT issued for another audience
        everything = found["default"]["tools"]
        assert found["default"]["status"] == 200
        assert "echo" in everything
        assert "fetch" in everything
        assert found["alice"] == {"status": 200, "tools": everything}  # the issuer's JWT, for this gateway
        assert found["limited"] == {"status": 200, "tools": ["echo"]}  # only what its rule allows
        assert found["stranger"] == {"status": 200, "tools": []}  # authenticated, allowed nothing
    finally:
        cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", check=False)


def test_only_the_allowed_pods_reach_the_gateway(
    cluster: Any, namespace: str, product_images: dict[str, str], tmp_path: Any
) -> None:
    values = {
        "image": {"repository": "kubemcp/kubemcp", "tag": "dev", "pullPolicy": "Never"},
        "servers": {"imagePullPolicy": "Never"},
        "operator": {"watchNamespaces": [namespace]},
        "gateway": {"allowedFrom": [{"podSelector": {"matchLabels": {"role": "client"}}}]},
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(json.dumps(values))
    cluster.helm("install", RELEASE, str(CHART), "-n", namespace, "-f", str(values_file), "--wait", "--timeout", "240s")
    try:
        wait_for(
            lambda: get(cluster, namespace, "networkpolicy", f"{GATEWAY}-kubemcp-gateway-ingress"), 120, "the policy"
        )
        wait_for(lambda: (get(cluster, namespace, "deployment", GATEWAY) or {}).get("status", {}).get("readyReplicas"),
                 240, "the gateway")  # fmt: skip
        url = f"http://{get(cluster, namespace, 'service', GATEWAY)['spec']['clusterIP']}:8811/mcp"
        found = {}
        for name, labels in (("client", {"role": "client"}), ("stranger", {"role": "other"})):
            pod = manifests.pod(name, product_images["probe"], command=["python", "/app/auth_check.py", url,
                                json.dumps([{"name": "reach", "token": None}])], labels=labels)  # fmt: skip
            cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
        for name in ("client", "stranger"):
            wait_for(lambda: (get(cluster, namespace, "pod", name) or {}).get("status", {}).get("phase")  # noqa: B023
                     in {"Succeeded", "Failed"}, 180, f"the {name}'s check")  # fmt: skip
            found[name] = json.loads(cluster.kubectl("logs", "-n", namespace, name).stdout.strip().splitlines()[-1])
        assert found["client"]["reach"]["status"] == 401  # reached: it only lacks a credential
        assert found["stranger"]["reach"]["status"] is None  # never reached the gateway
    finally:
        cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", check=False)
