"""The files an MCPGateway's ConfigMap carries: `catalog.yaml`, `registry.yaml`, `config.yaml`,
`gateway.yaml` (its `spec.options` the gateway applies without a restart; metrics and tracing, which
need one, become the Deployment's arguments instead) and `discovery.yaml`.

Discovered tools, prompts and resources stay in each MCPServer's `status.discovery`, their one record:
`discovery.yaml` only names, per served server, the MCPServer and the digest and time of the discovery
to serve, and the gateway reads those statuses itself. So the ConfigMap grows by a few lines per server,
not by its schemas, and stays far below its 1 MiB limit however large the servers' schemas are.

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
from kubemcp.model.entry import CatalogEntry
from kubemcp.model.gateway_options import GatewayOptions
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
    data: Obj = server.entry.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"discovered"})
    return data


def discovery_ref(server: ServedServer) -> Obj | None:
    """Where the gateway reads what discovery recorded for this server (None: nothing current recorded)."""
    if server.discovered is None:
        return None
    return {
        "namespace": server.namespace,
        "name": server.name,
        "digest": server.discovered.get("digest", ""),
        "discoveredAt": server.discovered.get("discoveredAt", ""),
    }


# libyaml's emitter when PyYAML has it: the same bytes, several times quicker for a gateway of many servers
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: Any) -> str:
    text: str = yaml.dump(data, Dumper=_DUMPER, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return text


RESTART_OPTIONS = {"metrics", "tracing"}


def options_file(options: GatewayOptions | None) -> str:
    """`gateway.yaml`: the options that apply without a restart (an empty mapping when none are set)."""
    if options is None:
        return _dump({})
    return _dump(options.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=RESTART_OPTIONS))


def render_files(
    gateway: str,
    servers: list[ServedServer],
    authz: AuthzPolicy | None = None,
    options: GatewayOptions | None = None,
) -> dict[str, str]:
    ordered = sorted(servers, key=lambda s: s.name)
    catalog = {
        "version": 2,
        "name": gateway,
        "displayName": f"MCPGateway {gateway}",
        "registry": {server.name: catalog_entry_data(server) for server in ordered},
    }
    registry = {"registry": {server.name: {"ref": ""} for server in ordered}}
    config = {server.name: server.config for server in ordered if server.config}
    refs = {server.name: ref for server in ordered if (ref := discovery_ref(server)) is not None}
    files = {
        "catalog.yaml": _dump(catalog),
        "registry.yaml": _dump(registry),
        "config.yaml": _dump(config),
        "gateway.yaml": options_file(options),
        "discovery.yaml": _dump({"servers": refs}),
    }
    if authz is not None:  # without it the gateway lets every authenticated caller use everything
        files["authz.yaml"] = _dump(authz.model_dump(mode="json", exclude_defaults=False))
    return files


def select_unique(servers: list[ServedServer], own_namespace: str) -> tuple[list[ServedServer], list[str]]:
    """One server per name: the gateway's own namespace wins, then the first listed; the rest are reported."""
    chosen, dropped = unique_by_name(servers, lambda s: s.name, lambda s: s.namespace == own_namespace)
    owner = {server.name: server.namespace for server in chosen}
    return chosen, [f"{s.namespace}/{s.name} (name taken by {owner[s.name]})" for s in dropped]
