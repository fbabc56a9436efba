"""What a local container for one server looks like: the Docker Engine API `create` body, built from
a `ServerSpec` with Docker MCP Toolkit's isolation defaults. Pure: no engine is contacted.

Defaults, as `docker mcp` runs servers: `--init`, `--security-opt no-new-privileges`, stdin kept
open for MCP's stdio, removed when it exits (`--rm`), 1 CPU and 2 GiB unless the entry's
`resources.limits` say otherwise, `--network none` when the entry says `disableNetwork`, the
entry's `user`, `volumes` and `extraHosts`.

Host paths in `volumes` follow Docker's own safety rules: system and credential paths (`/etc`,
`/proc`, `~/.ssh`, `~/.docker`, ...) are refused; a bind without a mode is read-only; a writable
bind (`:rw`) is refused unless its host path is listed in `KUBEMCP_WRITABLE_BIND_PATHS` (or
Docker's `MCP_GATEWAY_DOCKER_BIND_ALLOW_WRITABLE_PATHS`), os.pathsep-separated. A relative host
path is taken from the catalog file's folder.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

from kubemcp.errors import ServerUnavailableError
from kubemcp.model.mounts import is_named_volume, read_only_mode, split_volume
from kubemcp.model.spec import ServerSpec

LABEL_MANAGED = "kubemcp.dev/managed-by"
LABEL_SERVER = "kubemcp.dev/server"
LABEL_GATEWAY_PID = "kubemcp.dev/gateway-pid"
LABEL_GATEWAY_HOST = "kubemcp.dev/gateway-host"
DEFAULT_CPUS = 1.0
DEFAULT_MEMORY = 2 * 1024**3
WRITABLE_ENV = ("KUBEMCP_WRITABLE_BIND_PATHS", "MCP_GATEWAY_DOCKER_BIND_ALLOW_WRITABLE_PATHS")
BLOCKED_ROOTS = (
    "/dev", "/etc", "/proc", "/root", "/run", "/sys", "/boot", "/var/run", "/var/lib/docker",
    "/var/lib/containerd", "/var/lib/kubelet", "/private/etc", "/private/var/run",
)  # fmt: skip
CREDENTIAL_PARTS = {".aws", ".azure", ".config", ".docker", ".gnupg", ".kube", ".ssh", ".kubemcp"}
CREDENTIAL_FILES = {".netrc", ".npmrc", "id_dsa", "id_ecdsa", "id_ed25519", "id_rsa", "secrets.env"}

_QUANTITY = re.compile(r"^\s*([0-9.]+)\s*([A-Za-z]*)\s*$")
_BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}  # Kubernetes
_DECIMAL = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}  # Kubernetes
_DOCKER = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}  # docker run --memory


def memory_bytes(text: str) -> int:
    """`2Gi`, `512Mi`, `1G` (Kubernetes quantities) or `2g`, `512m`, `512mb` (Docker's) as bytes."""
    match = _QUANTITY.match(str(text))
    if match is None:
        raise ValueError(f"memory {text!r} is not a quantity such as 512Mi or 2g")
    number, unit = float(match.group(1)), match.group(2)
    factor = _BINARY.get(unit) or _DECIMAL.get(unit) or _DOCKER.get(unit.lower().removesuffix("b") or "b")
    if factor is None or (unit and unit not in _BINARY and unit not in _DECIMAL and not unit.islower()):
        raise ValueError(f"memory {text!r} has an unknown unit {unit!r}")
    return int(number * factor)


def cpu_nanos(text: str) -> int:
    """`1`, `0.5` or `500m` CPUs as the engine's NanoCpus."""
    value = str(text).strip()
    try:
        cpus = float(value[:-1]) / 1000 if value.endswith("m") else float(value)
    except ValueError:
        raise ValueError(f"cpu {text!r} is not a quantity such as 1, 0.5 or 500m") from None
    if cpus <= 0:
        raise ValueError(f"cpu {text!r} must be more than 0")
    return int(cpus * 1e9)


def _writable_paths() -> set[str]:
    paths: set[str] = set()
    for name in WRITABLE_ENV:
        for part in os.environ.get(name, "").split(os.pathsep):
            if part.strip():
                paths.add(str(Path(part.strip()).expanduser().resolve()))
    return paths


def _blocked(path: str) -> str | None:
    lower = path.lower()
    for root in BLOCKED_ROOTS:
        if lower == root or lower.startswith(root + "/"):
            return "a system path"
    parts = set(lower.split("/"))
    if parts & CREDENTIAL_PARTS or parts & CREDENTIAL_FILES:
        return "a credential path"
    return None


def bind(spec: ServerSpec, text: str) -> str:
    """One Docker volume string as the engine's `Binds` item, after the safety rules above."""
    try:
        source, target, mode = split_volume(text)
    except ValueError as exc:
        raise ServerUnavailableError(spec.name, f"volumes: {exc}") from None
    if not source or is_named_volume(source):
        return text.strip()
    host = Path(source).expanduser()
    if not host.is_absolute():
        host = Path(spec.source.directory) / host
    resolved = str(host.resolve())
    reason = _blocked(resolved)
    if reason:
        raise ServerUnavailableError(spec.name, f"volumes: {text!r} would mount {resolved}, {reason}; refused")
    if not mode:
        mode = "ro"
    if not read_only_mode(mode) and resolved not in _writable_paths():
        raise ServerUnavailableError(
            spec.name,
            f"volumes: {text!r} asks to write to the host path {resolved}; host paths are mounted read-only unless "
            f"listed in {WRITABLE_ENV[0]}",
        )
    return f"{resolved}:{target}:{mode}"


def _mount_binds(spec: ServerSpec) -> list[str]:
    """kubemcp's `mounts` on a local engine: a claim is the named volume of that name, an emptyDir an
    anonymous volume; ConfigMaps and Secrets exist only in a cluster."""
    binds = []
    for mount in spec.entry.mounts:
        mode = "ro" if mount.read_only else "rw"
        if mount.persistent_volume_claim is not None:
            binds.append(f"{mount.persistent_volume_claim.claim_name}:{mount.mount_path}:{mode}")
        elif mount.empty_dir is not None:
            binds.append(mount.mount_path)
        else:
            raise ServerUnavailableError(
                spec.name, f"mounts: {mount.name!r} is a ConfigMap or Secret, which exist only in a Kubernetes cluster"
            )
    return binds


def _limits(spec: ServerSpec) -> tuple[int, int]:
    limits = spec.entry.resources.limits if spec.entry.resources is not None else None
    try:
        nanos = cpu_nanos(limits.cpu) if limits is not None and limits.cpu else int(DEFAULT_CPUS * 1e9)
        memory = memory_bytes(limits.memory) if limits is not None and limits.memory else DEFAULT_MEMORY
    except ValueError as exc:
        raise ServerUnavailableError(spec.name, f"resources.limits: {exc}") from None
    return nanos, memory


def _extra_hosts(spec: ServerSpec) -> list[str]:
    hosts = []
    for entry in spec.entry.extra_hosts:
        text = entry.strip()
        if not text:
            continue
        if text.startswith("-") or ":" not in text:
            raise ServerUnavailableError(spec.name, f"extraHosts: {text!r} is not host:address")
        hosts.append(text)
    return hosts


def labels(spec: ServerSpec, role: str = "server") -> dict[str, str]:
    return {
        LABEL_MANAGED: "kubemcp",
        LABEL_SERVER: spec.name,
        LABEL_GATEWAY_PID: str(os.getpid()),
        LABEL_GATEWAY_HOST: socket.gethostname(),
        "kubemcp.dev/role": role,
    }


def create_body(
    spec: ServerSpec,
    *,
    image: str,
    command: list[str],
    env: dict[str, str],
    volumes: list[str],
    user: str | None,
    network: str | None,
    role: str = "server",
    stdin: bool = True,
) -> dict[str, Any]:
    """The Engine API's container `create` body."""
    nanos, memory = _limits(spec)
    for value in [*volumes, user or ""]:
        if value.startswith("-"):
            raise ServerUnavailableError(spec.name, f"{value!r} looks like an option; refused")
    host: dict[str, Any] = {
        "AutoRemove": True,
        "Init": True,
        "SecurityOpt": ["no-new-privileges"],
        "NanoCpus": nanos,
        "Memory": memory,
        "Binds": [bind(spec, volume) for volume in volumes] + _mount_binds(spec),
        "ExtraHosts": _extra_hosts(spec),
    }
    if spec.entry.disable_network:
        host["NetworkMode"] = "none"
    elif network:
        host["NetworkMode"] = network
    body: dict[str, Any] = {
        "Image": image,
        "Env": [f"{name}={value}" for name, value in env.items()],
        "Labels": labels(spec, role),
        "Tty": False,
        "OpenStdin": stdin,
        "StdinOnce": stdin,
        "AttachStdin": stdin,
        "AttachStdout": True,
        "AttachStderr": True,
        "HostConfig": host,
    }
    if command:
        body["Cmd"] = command
    if user:
        body["User"] = user
    return body


def server_body(spec: ServerSpec, network: str | None) -> dict[str, Any]:
    """The container of an image entry, speaking MCP on stdio."""
    if not spec.entry.image:
        raise ServerUnavailableError(spec.name, "its catalog entry has no 'image'")
    spec.check_config()
    env = spec.environment()
    return create_body(
        spec,
        image=spec.entry.image,
        command=spec.container_command(lambda name: env.get(name, "")),
        env=env,
        volumes=spec.container_volumes(),
        user=spec.container_user(),
        network=network,
    )
