"""The files an MCPGateway's ConfigMap carries: `catalog.yaml`, `registry.yaml` and `config.yaml`.

The gateway (`kubemcp gateway run --from-configmap`) loads them exactly like local files. Output
is deterministic (sorted), so an unchanged set of servers renders the same bytes and applying the
ConfigMap again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from kubemcp.controller.resolve import Resolved
from kubemcp.files.authz_policy import AuthzPolicy
from kubemcp.model.entry import CatalogEntry, Discovered
from kubemcp.model.names import unique_by_name

Obj = dict[str, Any]


@dataclass(frozen=True)
class ServedServer:
    """One selected MCPServer: its resolved entry and, when current, what discovery recorded."""

    name: str
    namespace: str
    entry: CatalogEntry
    config: Obj = field(default_factory=dict)
    discovered: Obj | None = None


def served_server(resolved: Resolved, status: Obj | None) -> ServedServer:
    """`status.discovery` counts only when it was learnt from the digest the server resolves to now."""
    discovery = (status or {}).get("discovery") or {}
    current = discovery if discovery.get("digest") == resolved.digest else None
    return ServedServer(resolved.name, resolved.namespace, resolved.entry, dict(resolved.server.config), current)


def catalog_entry_data(server: ServedServer) -> Obj:
    entry = server.entry
    if server.discovered is not None:
        discovered = Discovered.model_validate(
            {key: server.discovered.get(key) or [] for key in ("tools", "prompts", "resources", "resourceTemplates")}
            | {"digest": server.discovered.get("digest", "")}
        )
        entry = entry.model_copy(update={"discovered": discovered})
    data: Obj = entry.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)


def render_files(gateway: str, servers: list[ServedServer], authz: AuthzPolicy | None = None) -> dict[str, str]:
    ordered = sorted(servers, key=lambda s: s.name)
    catalog = {
        "version": 2,
        "name": gateway,
        "displayName": f"MCPGateway {gateway}",
        "registry": {server.name: catalog_entry_data(server) for server in ordered},
    }
    registry = {"registry": {server.name: {"ref": ""} for server in ordered}}
    config = {server.name: server.config for server in ordered if server.config}
    files = {"catalog.yaml": _dump(catalog), "registry.yaml": _dump(registry), "config.yaml": _dump(config)}
    if authz is not None:  # without it the gateway lets every authenticated caller use everything
        files["authz.yaml"] = _dump(authz.model_dump(mode="json", exclude_defaults=False))
    return files


def select_unique(servers: list[ServedServer], own_namespace: str) -> tuple[list[ServedServer], list[str]]:
    """One server per name: the gateway's own namespace wins, then the first listed; the rest are reported."""
    chosen, dropped = unique_by_name(servers, lambda s: s.name, lambda s: s.namespace == own_namespace)
    owner = {server.name: server.namespace for server in chosen}
    return chosen, [f"{s.namespace}/{s.name} (name taken by {owner[s.name]})" for s in dropped]
