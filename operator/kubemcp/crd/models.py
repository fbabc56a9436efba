"""Spec models of MCPCatalog, MCPServer and MCPGateway; they read exactly the fields of `crds/*.yaml`.

The API server has already checked types, enums and bounds; these models give the operator typed
access and catch what a schema cannot (for example an entry that the gateway would reject).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kubemcp.model.entry import CatalogEntry
from kubemcp.model.fields import DEFAULT_PORT, MaxInstances

GROUP = "kubemcp.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
DEFAULT_SECRET_NAME = "kubemcp-secrets"  # noqa: S105 - the name of a Secret, not a value

ENTRY_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")

PullPolicy = Literal["Always", "IfNotPresent", "Never"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Quantities(_Spec):
    """CPU and memory, written as quantities (`"500m"`, `1`, `128Mi`)."""

    memory: str | None = None
    cpu: str | None = None

    @field_validator("memory", "cpu", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class ResourcesSpec(_Spec):
    limits: Quantities | None = None
    requests: Quantities | None = None


class EnvSpec(_Spec):
    name: str
    value: str = ""


class SecretSpec(_Spec):
    name: str
    env: str


class ToolArgumentSpec(_Spec):
    name: str
    type: str | None = None
    desc: str | None = None
    optional: bool | None = None


class ToolSpec(_Spec):
    name: str
    title: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = Field(default=None, alias="inputSchema")
    annotations: dict[str, Any] | None = None
    arguments: list[ToolArgumentSpec] | None = None


class ConfigSchemaSpec(_Spec):
    name: str | None = None
    description: str | None = None
    type: str | None = None
    properties: dict[str, Any] | None = None
    required: list[str] | None = None


class EntrySpec(_Spec):
    """One catalog entry: the fields of a Docker MCP Toolkit entry that run on Kubernetes."""

    description: str | None = None
    title: str | None = None
    type: Literal["server", "poci"] | None = None
    image: str = Field(min_length=1)
    command: list[str] | None = None
    env: list[EnvSpec] | None = None
    secrets: list[SecretSpec] | None = None
    tools: list[ToolSpec] | None = None
    config: list[ConfigSchemaSpec] | None = None
    resources: ResourcesSpec | None = None
    long_lived: bool | None = Field(default=None, alias="longLived")

    def to_catalog_entry(self) -> CatalogEntry:
        """The gateway's model of the same entry (raises pydantic's ValidationError when it would not load)."""
        return CatalogEntry.model_validate(self.model_dump(mode="json", by_alias=True, exclude_none=True))


class MCPCatalogSpec(_Spec):
    display_name: str | None = Field(default=None, alias="displayName")
    entries: dict[str, EntrySpec] = Field(default_factory=dict)

    @field_validator("entries")
    @classmethod
    def _names(cls, value: dict[str, EntrySpec]) -> dict[str, EntrySpec]:
        bad = [name for name in value if not ENTRY_NAME.match(name)]
        if bad:
            raise ValueError(f"entry names must be lowercase letters, digits, '-' or '_': {', '.join(bad)}")
        return value


class CatalogRef(_Spec):
    name: str = Field(min_length=1)
    entry: str | None = None


class MCPServerSpec(_Spec):
    catalog_ref: CatalogRef | None = Field(default=None, alias="catalogRef")
    inline: EntrySpec | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    secret_name: str = Field(default=DEFAULT_SECRET_NAME, alias="secretName")
    lifecycle: Literal["perCall", "perSession", "longLived"] | None = None
    per_call_kind: Literal["Pod", "Job"] = Field(default="Pod", alias="perCallKind")
    idle_timeout_seconds: int | None = Field(default=None, ge=1, alias="idleTimeoutSeconds")
    deadline_seconds: int = Field(default=600, ge=10, alias="deadlineSeconds")
    resources: ResourcesSpec | None = None
    warm_pool: int = Field(default=0, ge=0, le=20, alias="warmPool")
    max_instances: MaxInstances | None = Field(default=None, alias="maxInstances")
    image_pull_policy: PullPolicy | None = Field(default=None, alias="imagePullPolicy")
    read_only_root_filesystem: bool = Field(default=True, alias="readOnlyRootFilesystem")
    run_as_user: int | None = Field(default=None, ge=1, alias="runAsUser")

    @model_validator(mode="after")
    def _one_source(self) -> MCPServerSpec:
        if (self.catalog_ref is None) == (self.inline is None):
            raise ValueError("set exactly one of catalogRef or inline")
        return self


class MatchExpression(_Spec):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(_Spec):
    match_labels: dict[str, str] | None = Field(default=None, alias="matchLabels")
    match_expressions: list[MatchExpression] | None = Field(default=None, alias="matchExpressions")

    def matches(self, labels: dict[str, str]) -> bool:
        for key, value in (self.match_labels or {}).items():
            if labels.get(key) != value:
                return False
        for expression in self.match_expressions or []:
            present = expression.key in labels
            values = expression.values or []
            if expression.operator == "In" and labels.get(expression.key) not in values:
                return False
            if expression.operator == "NotIn" and present and labels[expression.key] in values:
                return False
            if expression.operator == "Exists" and not present:
                return False
            if expression.operator == "DoesNotExist" and present:
                return False
        return True


class MCPGatewaySpec(_Spec):
    server_selector: LabelSelector | None = Field(default=None, alias="serverSelector")
    namespaces: list[str] | None = None
    transport: Literal["streaming", "sse"] = "streaming"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    replicas: int = Field(default=1, ge=0, le=10)
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(default="ClusterIP", alias="serviceType")
    node_port: int | None = Field(default=None, ge=30000, le=32767, alias="nodePort")
    image: str | None = None
    image_pull_policy: PullPolicy | None = Field(default=None, alias="imagePullPolicy")
    resources: ResourcesSpec | None = None
