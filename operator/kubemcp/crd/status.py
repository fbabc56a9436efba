"""Status models of MCPCatalog, MCPServer and MCPGateway: what the operator reports, and the source of
the status part of their CRD schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

PRESERVED_ITEMS = Annotated[
    list[dict[str, Any]],
    WithJsonSchema({"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}),
]
Int64 = Annotated[int, WithJsonSchema({"type": "integer", "format": "int64"})]
DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class _Status(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ConditionStatus(_Status):
    """A metav1.Condition."""

    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=1024)
    message: str = Field(max_length=32768)
    last_transition_time: DateTime = Field(alias="lastTransitionTime")
    observed_generation: Annotated[int, WithJsonSchema({"type": "integer", "format": "int64", "minimum": 0})] | None = (
        Field(default=None, alias="observedGeneration")
    )


Conditions = Annotated[
    list[ConditionStatus],
    Field(json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
]


class _Reported(_Status):
    observed_generation: Int64 | None = Field(default=None, alias="observedGeneration")
    conditions: Conditions | None = None


class MCPCatalogStatus(_Reported):
    entries: int | None = None


class ResolvedStatus(_Status):
    image: str | None = None
    digest: str | None = None
    catalog: str | None = None
    entry: str | None = None


class DiscoveryStatus(_Status):
    """What the server lists, learnt by running it once (for the digest named here)."""

    digest: str | None = None
    discovered_at: DateTime | None = Field(default=None, alias="discoveredAt")
    tools: PRESERVED_ITEMS | None = None
    prompts: PRESERVED_ITEMS | None = None
    resources: PRESERVED_ITEMS | None = None
    resource_templates: PRESERVED_ITEMS | None = Field(default=None, alias="resourceTemplates")


class WarmPoolStatus(_Status):
    desired: int | None = None
    ready: int | None = None


class MCPServerStatus(_Reported):
    resolved: ResolvedStatus | None = None
    discovery: DiscoveryStatus | None = Field(
        default=None, description="What the server lists, learnt by running it once (for the digest named here)."
    )
    warm_pool: WarmPoolStatus | None = Field(default=None, alias="warmPool")


class MCPGatewayStatus(_Reported):
    servers: list[str] | None = None
    namespaces: list[str] | None = None
    endpoint: str | None = None
    config_map: str | None = Field(default=None, alias="configMap")
    replicas: int | None = None
