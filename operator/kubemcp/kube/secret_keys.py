"""The Kubernetes Secret that MCPServers read their secrets from (`kubemcp secret ... --kubernetes`).

Keys are secret names (as in a catalog entry's `secrets`); values are never shown. The gateway reads the few a
remote server needs (its header secrets and OAuth tokens); nothing else reads them back.
"""

from __future__ import annotations

import base64
from typing import Any

from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import NotFoundError, path_for
from kubemcp.model.names import check_secret_name

Obj = dict[str, Any]


def _encoded(values: dict[str, str]) -> dict[str, str]:
    return {check_secret_name(name): base64.b64encode(value.encode()).decode() for name, value in values.items()}


async def set_keys(kube: KubeApi, namespace: str, secret: str, values: dict[str, str]) -> None:
    """Create the Secret, or add and replace keys in it; other keys stay."""
    data = _encoded(values)
    try:
        await kube.patch(path_for("v1", "secrets", namespace, secret), {"data": data})
    except NotFoundError:
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": secret, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "kubemcp"}},
            "data": data,
        }
        await kube.create(path_for("v1", "secrets", namespace), body)


async def list_keys(kube: KubeApi, namespace: str, secret: str) -> list[str]:
    """The Secret's key names (an absent Secret has none)."""
    try:
        found = await kube.get(path_for("v1", "secrets", namespace, secret))
    except NotFoundError:
        return []
    return sorted((found.get("data") or {}).keys())


async def remove_keys(kube: KubeApi, namespace: str, secret: str, names: list[str]) -> list[str]:
    """Remove keys; returns the names that were not there (nothing is removed then)."""
    present = set(await list_keys(kube, namespace, secret))
    missing = [name for name in names if name not in present]
    if not missing:
        await kube.patch(path_for("v1", "secrets", namespace, secret), {"data": dict.fromkeys(names)})
    return missing


async def read_key(kube: KubeApi, namespace: str, secret: str, name: str) -> str | None:
    """One key's value, for the gateway's own use (remote servers' headers and OAuth tokens); never shown."""
    try:
        found = await kube.get(path_for("v1", "secrets", namespace, secret))
    except NotFoundError:
        return None
    value = (found.get("data") or {}).get(name)
    return base64.b64decode(value).decode() if isinstance(value, str) else None


async def read_keys(kube: KubeApi, namespace: str, secret: str, names: list[str]) -> dict[str, str]:
    """The values of the keys present among `names`."""
    try:
        found = await kube.get(path_for("v1", "secrets", namespace, secret))
    except NotFoundError:
        return {}
    data = found.get("data") or {}
    return {name: base64.b64decode(data[name]).decode() for name in names if isinstance(data.get(name), str)}
