"""Pod and Job manifests for backend servers: restricted security, secrets by reference, limits.

Every server Pod speaks MCP on stdio: `stdin: true` with `stdinOnce: true`, so when the caller closes
stdin the server sees end-of-input, exits, and the Pod completes.

Docker's fields, in a Pod: `user` (uid[:gid]) is the Pod's runAsUser/runAsGroup; `mounts` become
volumes (PVC, ConfigMap, Secret, emptyDir — never hostPath); `extraHosts` become hostAliases;
`$VAR` in `command` and `env` becomes Kubernetes' `$(VAR)`, so a secret's value (a secretKeyRef
the gateway never reads) is expanded by the kubelet, in the order Docker sets them: secrets first,
then `env`. `disableNetwork` and `allowHosts` stay on the resolved entry for the NetworkPolicy.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kubemcp.errors import ServerUnavailableError
from kubemcp.model import templates
from kubemcp.model.entry import KubernetesForm
from kubemcp.model.mounts import Mount, from_docker_volume
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


_NUMERIC_USER = re.compile(r"^([0-9]+)(?::([0-9]+))?$")


def kubernetes_text(value: str, defined: set[str]) -> str:
    """A Docker value with `$VAR` for the kubelet: defined names become `$(VAR)`, others are empty (as in
    Docker), and a literal `$(` is escaped so the kubelet leaves it alone."""
    marked = templates.expand_variables(value, lambda name: f"\0{name}\0" if name in defined else "")
    parts = marked.replace("$(", "$$(").split("\0")
    return "".join(f"$({part})" if index % 2 else part for index, part in enumerate(parts))


def _env(spec: ServerSpec, form: KubernetesForm) -> tuple[list[Obj], set[str]]:
    env: list[Obj] = []
    defined: set[str] = set()
    for ref in spec.entry.secret_refs():
        if form.secret_name is None:
            raise ServerUnavailableError(
                spec.name, f"needs secret {ref.name!r} but no Kubernetes Secret is named for it (secretName)"
            )
        env.append({"name": ref.env, "valueFrom": {"secretKeyRef": {"name": form.secret_name, "key": ref.name}}})
        defined.add(ref.env)
    for var in spec.entry.env:
        if templates.has_template(var.value):
            value = spec.expand(var.value).replace("$(", "$$(")
        else:
            value = kubernetes_text(var.value, defined)
        if value != "":
            env.append({"name": var.name, "value": value})
            defined.add(var.name)
    return env, defined


def _user(spec: ServerSpec) -> tuple[int | None, int | None]:
    text = spec.container_user()
    if text is None:
        return None, None
    match = _NUMERIC_USER.match(text)
    if match is None:
        raise ServerUnavailableError(spec.name, f"user {text!r} is not uid[:gid]; a Pod runs as a numeric user")
    uid = int(match.group(1))
    if uid == 0:
        raise ServerUnavailableError(spec.name, "user 0: server Pods never run as root")
    return uid, int(match.group(2)) if match.group(2) else None


def _mounts(spec: ServerSpec) -> list[Mount]:
    """The entry's `mounts`, then its Docker `volumes` mapped the way `catalog import` maps them; a host
    path fails the server with the reason (a Pod never gets hostPath)."""
    mounts = list(spec.entry.mounts)
    for index, volume in enumerate(spec.container_volumes()):
        try:
            mounts.append(from_docker_volume(volume, index))
        except ValueError as exc:
            raise ServerUnavailableError(spec.name, f"volumes[{index}]: {exc}") from None
    return mounts


def _host_aliases(spec: ServerSpec) -> list[Obj]:
    by_address: dict[str, list[str]] = {}
    for line in spec.entry.extra_hosts:
        host, _, address = line.strip().partition(":")
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ServerUnavailableError(
                spec.name, f"extraHosts: {line!r} is not host:address (a Pod's hosts file takes IP addresses)"
            ) from None
        by_address.setdefault(address, []).append(host)
    return [{"ip": address, "hostnames": hosts} for address, hosts in by_address.items()]


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
    entry_uid, entry_gid = _user(spec)
    user = form.run_as_user or entry_uid or DEFAULT_RUN_AS_USER
    group = entry_gid if entry_gid is not None and not form.run_as_user else user
    env, defined = _env(spec, form)
    mounts = _mounts(spec)
    container: Obj = {
        "name": CONTAINER,
        "image": spec.entry.image,
        "stdin": True,
        "stdinOnce": True,
        "tty": False,
        "env": env,
        "resources": _resources(spec),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": form.read_only_root,
            "runAsNonRoot": True,
            "runAsUser": user,
            "runAsGroup": group,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": TMP_MOUNT}, *(m.volume_mount() for m in mounts)],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.entry.command:
        container["args"] = [kubernetes_text(part, defined) for part in spec.expand_list(spec.entry.command)]
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
            "runAsGroup": group,
            "fsGroup": group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}, *(m.volume() for m in mounts)],
    }
    aliases = _host_aliases(spec)
    if aliases:
        result["hostAliases"] = aliases
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
