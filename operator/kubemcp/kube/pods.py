"""Pod and Job manifests for backend servers: restricted security, secrets by reference, limits.

Every server Pod speaks MCP on stdio: `stdin: true` with `stdinOnce: true`, so when the caller closes
stdin the server sees end-of-input, exits, and the Pod completes.
"""

from __future__ import annotations

from typing import Any

from kubemcp.errors import ServerUnavailableError
from kubemcp.model.entry import KubernetesForm
from kubemcp.model.names import dns_label
from kubemcp.model.spec import ServerSpec

GROUP = "kubemcp.dev"
LABEL_SERVER = f"{GROUP}/server"
LABEL_ROLE = f"{GROUP}/role"
LABEL_DIGEST = f"{GROUP}/digest"
LABEL_GATEWAY = f"{GROUP}/gateway"
LABEL_CLAIMED = f"{GROUP}/claimed"
CONTAINER = "server"
# Every server Pod runs as this ServiceAccount: no rights, and no token mounted (the operator makes it
# in each namespace that holds servers; the chart's admission policy allows no other).
SERVER_SERVICE_ACCOUNT = "kubemcp-server"
DEFAULT_RUN_AS_USER = 1000
TMP_MOUNT = "/tmp"  # noqa: S108 - the Pod's own emptyDir, not the host's
JOB_TTL_SECONDS = 30
# A server Pod on a node that stops answering is evicted this soon (Kubernetes' default is 300 s), so the
# gateway starts the next ones elsewhere.
LOST_NODE_TOLERATION_SECONDS = 30
TOLERATIONS = [
    {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": LOST_NODE_TOLERATION_SECONDS}
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
]

Obj = dict[str, Any]


def labels_for(spec: ServerSpec, role: str, gateway: str | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/managed-by": "kubemcp",
        "app.kubernetes.io/component": "mcp-server",
        LABEL_SERVER: dns_label(spec.name, 63),
        LABEL_ROLE: role,
        LABEL_DIGEST: spec.digest,
    }
    if gateway:
        labels[LABEL_GATEWAY] = dns_label(gateway, 63)
    labels.update(spec.form.labels)
    return labels


def _env(spec: ServerSpec, form: KubernetesForm) -> list[Obj]:
    env: list[Obj] = [{"name": var.name, "value": spec.expand(var.value)} for var in spec.entry.env]
    for ref in spec.entry.secrets:
        if form.secret_name is None:
            raise ServerUnavailableError(
                spec.name, f"needs secret {ref.name!r} but no Kubernetes Secret is named for it (secretName)"
            )
        env.append({"name": ref.env, "valueFrom": {"secretKeyRef": {"name": form.secret_name, "key": ref.name}}})
    return env


def _resources(spec: ServerSpec) -> Obj:
    limits: Obj = {}
    declared = spec.entry.resources
    if declared is not None and declared.limits is not None:
        if declared.limits.memory:
            limits["memory"] = declared.limits.memory
        if declared.limits.cpu:
            limits["cpu"] = str(declared.limits.cpu)
    requests: Obj = {"cpu": "10m", "memory": "32Mi"}
    if declared is not None and declared.requests is not None:
        requests = {k: str(v) for k, v in declared.requests.model_dump(exclude_none=True).items()}
    return {"limits": limits, "requests": requests} if limits else {"requests": requests}


def pod_spec(spec: ServerSpec, *, deadline_seconds: int | None = None, pull_policy: str | None = None) -> Obj:
    """The PodSpec that runs one instance of `spec`'s image, speaking MCP on stdio."""
    if not spec.entry.image:
        raise ServerUnavailableError(spec.name, "its catalog entry has no 'image', so it cannot run on Kubernetes")
    spec.check_config()
    form = spec.form
    user = form.run_as_user or DEFAULT_RUN_AS_USER
    container: Obj = {
        "name": CONTAINER,
        "image": spec.entry.image,
        "stdin": True,
        "stdinOnce": True,
        "tty": False,
        "env": _env(spec, form),
        "resources": _resources(spec),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": form.read_only_root,
            "runAsNonRoot": True,
            "runAsUser": user,
            "runAsGroup": user,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": TMP_MOUNT}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.entry.command:
        container["args"] = [spec.expand(part) for part in spec.entry.command]
    policy = form.image_pull_policy or pull_policy
    if policy:
        container["imagePullPolicy"] = policy
    result: Obj = {
        "restartPolicy": "Never",
        "serviceAccountName": SERVER_SERVICE_ACCOUNT,
        "tolerations": [dict(toleration) for toleration in TOLERATIONS],
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 2,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": user,
            "runAsGroup": user,
            "fsGroup": user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    if deadline_seconds is not None:
        result["activeDeadlineSeconds"] = deadline_seconds
    return result


def server_pod(
    spec: ServerSpec,
    role: str,
    *,
    gateway: str | None = None,
    owner: Obj | None = None,
    pull_policy: str | None = None,
    deadline_seconds: int | None = None,
    deadline: bool = True,
) -> Obj:
    """A server Pod. With `deadline`, `activeDeadlineSeconds` is `deadline_seconds` or the entry's."""
    form = spec.form
    metadata: Obj = {
        "generateName": f"mcp-{dns_label(spec.name)}-{role}-",
        "labels": labels_for(spec, role, gateway),
        "annotations": {f"{GROUP}/server-name": spec.name},
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    seconds = (deadline_seconds if deadline_seconds is not None else form.deadline_seconds) if deadline else None
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": pod_spec(spec, deadline_seconds=seconds, pull_policy=pull_policy),
    }


def server_job(
    spec: ServerSpec, *, gateway: str | None = None, owner: Obj | None = None, pull_policy: str | None = None
) -> Obj:
    """A Job for one call: the Job controller removes it `JOB_TTL_SECONDS` after it ends, whatever happens."""
    form = spec.form
    labels = labels_for(spec, "call", gateway)
    metadata: Obj = {"generateName": f"mcp-{dns_label(spec.name)}-call-", "labels": labels}
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": form.deadline_seconds,
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec(spec, pull_policy=pull_policy),
            },
        },
    }
