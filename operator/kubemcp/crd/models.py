"""Spec models of MCPCatalog, MCPServer and MCPGateway: the one source of their CRD schemas.

`kubemcp.crd.generate` writes `crds/*.yaml` from these models (types, enums, bounds, patterns,
descriptions, defaults and the `x-kubernetes-*` markers given in `json_schema_extra`), and a test
fails when the files drift from them. Field types shared with the catalog file format come from
`kubemcp.model.fields`. The models also catch what a schema cannot (an entry the gateway rejects).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from kubemcp.model import fields as f
from kubemcp.model.entry import CatalogEntry
from kubemcp.model.mounts import Mount
from kubemcp.model.names import SERVER_NAME_PATTERN
from kubemcp.validation import dotted, one_line

GROUP = "kubemcp.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
DEFAULT_SECRET_NAME = "kubemcp-secrets"  # noqa: S105 - the name of a Secret, not a value
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"

PullPolicy = f.PullPolicy
PRESERVE: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _quantity_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Quantity = Annotated[
    str, BeforeValidator(_quantity_text), WithJsonSchema({"x-kubernetes-int-or-string": True}), Field(max_length=64)
]
AnyObject = Annotated[dict[str, Any], WithJsonSchema(PRESERVE)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Quantities(_Spec):
    """CPU and memory, written as quantities (`"500m"`, `1`, `128Mi`)."""

    memory: Quantity | None = None
    cpu: Quantity | None = None


class ResourcesSpec(_Spec):
    limits: Quantities | None = None
    requests: Quantities | None = None


class EnvSpec(_Spec):
    name: f.EnvName
    value: str = Field(default="", max_length=32768)


class SecretSpec(_Spec):
    name: f.SecretName
    env: f.EnvName


class ToolArgumentSpec(_Spec):
    name: str
    type: str | None = None
    desc: str | None = None
    optional: bool | None = None


class ToolSpec(_Spec):
    name: str = Field(min_length=1, max_length=256)
    title: str | None = None
    description: str | None = None
    input_schema: AnyObject | None = Field(default=None, alias="inputSchema")
    annotations: AnyObject | None = None
    arguments: list[ToolArgumentSpec] | None = None


USER_PATTERN = r"^[0-9]+(:[0-9]+)?$|\{\{"
EXTRA_HOST_PATTERN = r"^[A-Za-z0-9.-]+:[0-9A-Fa-f.:]+$"
Mounts = Annotated[
    list[Mount],
    Field(
        max_length=32,
        description="Volumes mounted into the server's container: PersistentVolumeClaims, ConfigMaps, Secrets "
        "and emptyDirs (never host paths).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ),
]


class RemoteSpec(_Spec):
    """A remote server the gateway connects to (no Pod): Docker's `remote` block."""

    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://", description="The server's MCP URL.")
    transport_type: str | None = Field(
        default=None,
        max_length=32,
        description="sse for the legacy HTTP+SSE transport; streamable HTTP otherwise (the default).",
    )
    headers: dict[str, Annotated[str, Field(max_length=8192)]] | None = Field(
        default=None,
        description="Headers sent with every request; $NAME or ${NAME} is the secret mapped to the variable NAME.",
        json_schema_extra={"maxProperties": 64},
    )


class EntrySpec(_Spec):
    """One catalog entry: the fields of a Docker MCP Toolkit entry that run on Kubernetes (an image, run
    as Pods) or are reached there (a remote server, connected to by the gateway)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.type) && self.type == 'remote' ? has(self.remote) : has(self.image)",
                    "message": "a remote entry needs remote.url; any other entry needs an image",
                }
            ]
        },
    )

    description: str | None = Field(default=None, max_length=4096)
    title: str | None = Field(default=None, max_length=256)
    type: Literal["server", "poci", "remote"] | None = None
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="The container image that speaks MCP on stdio (every entry but a remote one).",
    )
    remote: RemoteSpec | None = None
    command: list[Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None,
        max_length=256,
        description="Arguments of the image's entrypoint; {{server.key}} expands from config.",
    )
    env: list[EnvSpec] | None = Field(
        default=None,
        max_length=256,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    secrets: list[SecretSpec] | None = Field(
        default=None,
        max_length=64,
        description="Secret names (keys of the MCPServer's Kubernetes Secret) and the variables that carry them.",
    )
    tools: list[ToolSpec] | None = Field(
        default=None,
        max_length=1024,
        description="Tools the entry declares; discovery records what the server really lists.",
    )
    config: list[AnyObject] | None = Field(
        default=None,
        max_length=16,
        description="JSON schemas the server's configuration must satisfy ({{server.key}} reads it).",
    )
    resources: ResourcesSpec | None = None
    long_lived: bool | None = Field(default=None, alias="longLived")
    prefix: str | None = Field(
        default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Serve every tool as <prefix>__<tool>."
    )
    user: str | None = Field(
        default=None,
        max_length=256,
        pattern=USER_PATTERN,
        description="uid[:gid] the server runs as (Docker's `user`; a template may give it from config).",
    )
    disable_network: bool | None = Field(
        default=None, alias="disableNetwork", description="The server needs no network at all (Docker's field)."
    )
    allow_hosts: list[Annotated[str, Field(max_length=253)]] | None = Field(
        default=None,
        alias="allowHosts",
        max_length=64,
        description="host[:port] the server may reach; all else is refused (Docker's field).",
    )
    extra_hosts: list[Annotated[str, Field(max_length=300, pattern=EXTRA_HOST_PATTERN)]] | None = Field(
        default=None, alias="extraHosts", max_length=32, description="host:address lines for the server's /etc/hosts."
    )
    mounts: Mounts | None = None

    @model_validator(mode="after")
    def _runnable(self) -> EntrySpec:
        if self.type == "remote" and self.remote is None:
            raise ValueError("a remote entry needs remote.url")
        if self.type != "remote" and self.image is None:
            raise ValueError("an entry needs an image (or type: remote with remote.url)")
        return self

    def to_catalog_entry(self) -> CatalogEntry:
        """The gateway's model of the same entry (raises pydantic's ValidationError when it would not load)."""
        return CatalogEntry.model_validate(self.model_dump(mode="json", by_alias=True, exclude_none=True))


class MCPCatalogSpec(_Spec):
    display_name: str | None = Field(default=None, alias="displayName", max_length=256)
    entries: dict[Annotated[str, Field(pattern=SERVER_NAME_PATTERN)], EntrySpec] = Field(
        default_factory=dict,
        description="Catalog entries by server name (lowercase letters, digits, '-' and '_').",
        json_schema_extra={
            "maxProperties": 512,
            "x-kubernetes-validations": [
                {
                    "rule": f"self.all(k, k.matches('{SERVER_NAME_PATTERN}'))",
                    "message": "entry names must be lowercase letters, digits, '-' or '_' (at most 63), "
                    "starting and ending with a letter or digit",
                }
            ],
        },
    )


def parse_entries(spec: Any) -> tuple[dict[str, EntrySpec], dict[str, str]]:
    """An MCPCatalog's entries, each on its own: (the valid ones, a problem line for each other one).

    One bad entry fails only itself: the schema's checks and what the gateway would reject.
    """
    raw = spec.get("entries") if isinstance(spec, dict) else None
    if not isinstance(raw, dict):
        return {}, {} if raw is None else {"entries": "must be a mapping of server names to entries"}
    valid: dict[str, EntrySpec] = {}
    problems: dict[str, str] = {}
    for name, data in sorted(raw.items(), key=lambda item: str(item[0])):
        if not isinstance(name, str) or not re.match(SERVER_NAME_PATTERN, name):
            problems[str(name)] = "not a server name (lowercase letters, digits, '-' or '_', at most 63)"
            continue
        try:
            entry = EntrySpec.model_validate(data)
            refusals = entry.to_catalog_entry().check()
        except ValidationError as exc:
            problems[name] = one_line(exc, root="entry")
            continue
        if refusals:
            problems[name] = "; ".join(f"{dotted(loc)}: {message}" for loc, message in refusals)
            continue
        valid[name] = entry
    return valid, problems


class CatalogRef(_Spec):
    """An entry of an MCPCatalog in the same namespace."""

    name: str = Field(min_length=1, max_length=253, description="The MCPCatalog's name.")
    entry: f.ServerName | None = Field(
        default=None, description="The entry's name in the catalog (default the MCPServer's name)."
    )


class EgressSpec(_Spec):
    """Where a server Pod may connect to. Nothing, unless allowed here or by its entry's `allowHosts`."""

    allow_all: bool = Field(default=False, alias="allowAll", description="Any destination (no egress limit).")
    to: list[Annotated[str, Field(min_length=1, max_length=260)]] = Field(
        default_factory=list,
        max_length=64,
        description="Destinations: an address or CIDR, or a DNS name (resolved by the operator), each with an "
        "optional :port, e.g. 10.0.0.0/8, api.github.com:443, [2001:db8::1]:8443.",
    )


class MCPServerSpec(_Spec):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.catalogRef) != has(self.inline)",
                    "message": "set exactly one of catalogRef or inline",
                }
            ]
        },
    )

    catalog_ref: CatalogRef | None = Field(default=None, alias="catalogRef")
    inline: EntrySpec | None = Field(
        default=None, description="The catalog entry itself (same fields as an MCPCatalog entry)."
    )
    config: AnyObject = Field(
        default_factory=dict, description="Configuration values the entry's command and env read ({{server.key}})."
    )
    secret_name: str = Field(
        default=DEFAULT_SECRET_NAME,
        alias="secretName",
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="The Kubernetes Secret whose keys are the entry's secret names.",
    )
    lifecycle: f.LifecycleName | None = Field(
        default=None,
        description="perCall (a Pod per call), perSession (one per client session) or longLived "
        "(default longLived when the entry says longLived, else perCall).",
    )
    per_call_kind: f.PerCallKind = Field(default="Pod", alias="perCallKind")
    idle_timeout_seconds: f.IdleTimeoutSeconds | None = Field(default=None, alias="idleTimeoutSeconds")
    deadline_seconds: f.DeadlineSeconds = Field(default=f.DEFAULT_DEADLINE_SECONDS, alias="deadlineSeconds")
    resources: ResourcesSpec | None = Field(default=None, description="Overrides the entry's resources.")
    warm_pool: f.WarmPool = Field(default=0, alias="warmPool")
    max_instances: f.MaxInstances | None = Field(default=None, alias="maxInstances")
    image_pull_policy: PullPolicy | None = Field(default=None, alias="imagePullPolicy")
    read_only_root_filesystem: bool = Field(default=True, alias="readOnlyRootFilesystem")
    run_as_user: f.RunAsUser | None = Field(default=None, alias="runAsUser")
    mounts: Mounts | None = Field(
        default=None, description="Volumes added to the entry's (same name: this one wins), e.g. a workspace PVC."
    )
    egress: EgressSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MCPServerSpec:
        if (self.catalog_ref is None) == (self.inline is None):
            raise ValueError("set exactly one of catalogRef or inline")
        return self


class MatchExpression(_Spec):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                    "message": "In and NotIn need values; Exists and DoesNotExist take none",
                }
            ]
        },
    )

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(_Spec):
    """Which MCPServers to serve (all of them when empty)."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_extra={"x-kubernetes-map-type": "atomic"}
    )

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
