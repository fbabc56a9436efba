"""The three CustomResourceDefinitions: names, printer columns, subresources and the models of their
spec and status. `kubemcp.crd.generate` turns these into `crds/*.yaml`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from kubemcp.crd.gateway_models import MCPGatewaySpec
from kubemcp.crd.models import GROUP, VERSION, MCPCatalogSpec, MCPServerSpec
from kubemcp.crd.status import MCPCatalogStatus, MCPGatewayStatus, MCPServerStatus

Obj = dict[str, Any]


def column(name: str, kind: str, path: str, *, priority: int | None = None) -> Obj:
    found: Obj = {"name": name, "type": kind, "jsonPath": path}
    if priority is not None:
        found["priority"] = priority
    return found


READY = column("Ready", "string", '.status.conditions[?(@.type=="Ready")].status')
AGE = column("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class Definition:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    comment: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[Obj, ...]
    spec_required: bool = True
    root_rules: tuple[Obj, ...] = ()
    subresources: Obj = field(default_factory=lambda: {"status": {}})

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"


DEFINITIONS = (
    Definition(
        kind="MCPCatalog",
        plural="mcpcatalogs",
        short_names=("mcpcat",),
        comment="MCPCatalog: a catalog of MCP servers (the fields of a Docker MCP Toolkit catalog entry, as a "
        "resource).\nIts entries have the same schema as MCPServer's `spec.inline`.",
        spec=MCPCatalogSpec,
        status=MCPCatalogStatus,
        columns=(
            column("Display Name", "string", ".spec.displayName"),
            column("Entries", "integer", ".status.entries"),
            READY,
            AGE,
        ),
    ),
    Definition(
        kind="MCPServer",
        plural="mcpservers",
        short_names=("mcps", "mcpsrv"),
        comment="MCPServer: one enabled MCP server, from an MCPCatalog entry (catalogRef) or an inline entry.\n"
        "The operator resolves it, runs it once to discover its tools (recorded in status.discovery) and\n"
        "keeps `warmPool` pre-started Pods; MCPGateways that select it serve it.",
        spec=MCPServerSpec,
        status=MCPServerStatus,
        columns=(
            column("Image", "string", ".status.resolved.image"),
            column("Lifecycle", "string", ".spec.lifecycle"),
            READY,
            column("Reason", "string", '.status.conditions[?(@.type=="Ready")].reason'),
            column("Warm", "integer", ".status.warmPool.ready"),
            column("Digest", "string", ".status.resolved.digest", priority=1),
            AGE,
        ),
        root_rules=(
            {
                "rule": "self.metadata.name.size() <= 63 && !self.metadata.name.contains('.')",
                "message": "an MCPServer's name is its server name: a DNS label (at most 63, no '.')",
            },
        ),
    ),
    Definition(
        kind="MCPGateway",
        plural="mcpgateways",
        short_names=("mcpgw",),
        comment="MCPGateway: one MCP endpoint (a Deployment and a Service) serving the MCPServers it selects.",
        spec=MCPGatewaySpec,
        status=MCPGatewayStatus,
        columns=(
            column("Endpoint", "string", ".status.endpoint"),
            column("Transport", "string", ".spec.transport"),
            READY,
            column("Reason", "string", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
            AGE,
        ),
        spec_required=False,
        subresources={
            "status": {},
            "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
        },
    ),
)
BY_KIND = {definition.kind: definition for definition in DEFINITIONS}
__all__ = ["BY_KIND", "DEFINITIONS", "VERSION", "Definition"]
