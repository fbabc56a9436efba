"""Small manifest builders for cluster tests; Pods follow the restricted Pod Security profile."""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]

# Pod Security "restricted": https://kubernetes.io/docs/concepts/security/pod-security-standards/
RESTRICTED_POD_SECURITY: Manifest = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER_SECURITY: Manifest = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def container(
    name: str,
    image: str,
    command: list[str] | None = None,
    *,
    stdin: bool = False,
    stdin_once: bool = False,
    env: dict[str, str] | None = None,
) -> Manifest:
    c: Manifest = {
        "name": name,
        "image": image,
        "imagePullPolicy": "Never",  # images are imported into the node, there is no registry
        "securityContext": dict(RESTRICTED_CONTAINER_SECURITY),
    }
    if command:
        c["command"] = command
    if stdin:
        c["stdin"] = True
        c["stdinOnce"] = stdin_once
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return c


def pod_spec(containers: list[Manifest], *, restart: str = "Never", service_account: str | None = None) -> Manifest:
    spec: Manifest = {
        "restartPolicy": restart,
        "securityContext": dict(RESTRICTED_POD_SECURITY),
        "terminationGracePeriodSeconds": 1,
        "containers": containers,
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    return spec


def pod(
    name: str,
    image: str,
    command: list[str] | None = None,
    *,
    restart: str = "Never",
    labels: dict[str, str] | None = None,
    service_account: str | None = None,
    **container_kw: Any,
) -> Manifest:
    """A one-container Pod with the restricted security settings and imagePullPolicy: Never."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": pod_spec(
            [container(name, image, command, **container_kw)], restart=restart, service_account=service_account
        ),
    }


def job(
    name: str,
    image: str,
    command: list[str],
    *,
    ttl_seconds_after_finished: int | None = None,
    backoff_limit: int = 0,
) -> Manifest:
    spec: Manifest = {
        "backoffLimit": backoff_limit,
        "template": {"spec": pod_spec([container(name, image, command)], restart="Never")},
    }
    if ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = ttl_seconds_after_finished
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def on_node(manifest: Manifest, node: str, *, toleration_seconds: int | None = None) -> Manifest:
    """Pin a Pod to a node (``kubernetes.io/hostname``). With ``toleration_seconds`` it is evicted
    that soon after its node is lost (not-ready/unreachable), instead of the default 300 s."""
    spec = manifest["spec"]
    spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    if toleration_seconds is not None:
        spec["tolerations"] = [
            {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": toleration_seconds}
            for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
        ]
    return manifest
