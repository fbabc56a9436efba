"""A catalog entry: how to run one MCP server. Docker's MCP Toolkit fields plus kubemcp's own forms.

Two ways to run an entry sit side by side:

- `image` (+ `command` as the container's arguments): run by a container runtime (Kubernetes).
- `process.command`: the full command line that runs the server as a local process, used by the
  embedded runtime that needs no cluster. `{{python}}` expands to the running interpreter and
  `{{catalog_dir}}` to the folder holding the catalog file.

An entry may carry both; each runtime uses the form it can run and reports a clear error otherwise.
The field types and bounds in `model.fields` are shared with the custom resources' models, from
which the CRD schemas are generated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kubemcp.model import fields as f
from kubemcp.model.lifecycle import Lifecycle
from kubemcp.model.names import ENV_NAME


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    # Docker's catalogs carry presentation fields (readme, icon, upstream...) that kubemcp does not use.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SecretRef(_Open):
    name: str = Field(min_length=1)
    env: str

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid environment variable name")
        return value


class EnvVar(_Open):
    name: str
    value: str = ""

    @field_validator("name")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid environment variable name")
        return value

    @field_validator("value", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return (
            str(value).lower() if isinstance(value, bool) else str(value) if isinstance(value, int | float) else value
        )


class ToolArgument(_Open):
    name: str
    type: str = "string"
    desc: str = ""
    optional: bool = False


class ToolDef(_Open):
    name: str = Field(min_length=1)
    title: str | None = None
    description: str = ""
    input_schema: dict[str, Any] | None = Field(default=None, alias="inputSchema")
    arguments: list[ToolArgument] | None = None
    annotations: dict[str, Any] | None = None

    def schema_for_listing(self) -> dict[str, Any]:
        """The JSON schema a client sees; Docker's older `arguments` list is turned into one."""
        if self.input_schema is not None:
            return self.input_schema
        properties = {a.name: {"type": a.type, "description": a.desc} for a in self.arguments or []}
        required = [a.name for a in self.arguments or [] if not a.optional]
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema


class ResourceLimits(_Strict):
    memory: str | None = None
    cpu: str | None = None


class Resources(_Open):
    limits: ResourceLimits | None = None
    requests: ResourceLimits | None = None


class ProcessForm(_Strict):
    command: list[str] = Field(min_length=1)
    cwd: str | None = None


class RemoteForm(_Open):
    url: str
    transport_type: Literal["sse", "streamable-http", "http"] = "streamable-http"
    headers: dict[str, str] = Field(default_factory=dict)


class KubernetesForm(_Strict):
    """How the Kubernetes runtime runs the entry (kubemcp's extension; the operator writes it). The
    lifecycle, idle timeout and `maxInstances` apply to local processes as well."""

    namespace: str | None = None
    secret_name: str | None = Field(default=None, alias="secretName")
    lifecycle: Lifecycle = Lifecycle.PER_CALL
    per_call_kind: f.PerCallKind = Field(default="Pod", alias="perCallKind")
    warm_pool: f.WarmPool = Field(default=0, alias="warmPool")
    max_instances: f.MaxInstances | None = Field(default=None, alias="maxInstances")
    image_pull_policy: f.PullPolicy | None = Field(default=None, alias="imagePullPolicy")
    deadline_seconds: f.DeadlineSeconds = Field(default=f.DEFAULT_DEADLINE_SECONDS, alias="deadlineSeconds")
    idle_timeout_seconds: f.IdleTimeoutSeconds | None = Field(default=None, alias="idleTimeoutSeconds")
    read_only_root: bool = Field(default=True, alias="readOnlyRootFilesystem")
    run_as_user: f.RunAsUser | None = Field(default=None, alias="runAsUser")
    labels: dict[str, str] = Field(default_factory=dict)


class Discovered(_Open):
    """Definitions learnt by running the server once (the operator records them); served without a start."""

    digest: str = ""
    tools: list[dict[str, Any]] = Field(default_factory=list)
    prompts: list[dict[str, Any]] = Field(default_factory=list)
    resources: list[dict[str, Any]] = Field(default_factory=list)
    resource_templates: list[dict[str, Any]] = Field(default_factory=list, alias="resourceTemplates")


class ConfigBlock(_Open):
    name: str = ""
    description: str = ""
    type: str = "object"
    properties: dict[str, Any] = Field(default_factory=dict)
    required: list[str] = Field(default_factory=list)


class CatalogEntry(_Open):
    description: str = ""
    title: str | None = None
    type: Literal["server", "remote", "poci"] = "server"
    image: str | None = None
    command: list[str] = Field(default_factory=list)
    process: ProcessForm | None = None
    remote: RemoteForm | None = None
    env: list[EnvVar] = Field(default_factory=list)
    secrets: list[SecretRef] = Field(default_factory=list)
    tools: list[ToolDef] | None = None
    config: list[ConfigBlock] = Field(default_factory=list)
    resources: Resources | None = None
    long_lived: bool = Field(default=False, alias="longLived")
    kubernetes: KubernetesForm | None = None
    discovered: Discovered | None = None

    @field_validator("config", mode="before")
    @classmethod
    def _config_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _runnable(self) -> CatalogEntry:
        if self.type == "remote" and self.remote is None:
            raise ValueError("a 'remote' entry needs 'remote.url'")
        if self.type != "remote" and self.image is None and self.process is None:
            raise ValueError("an entry needs 'image' (container runtimes) or 'process.command' (local processes)")
        return self


class CatalogSource(BaseModel):
    """Where a merged catalog entry came from, so errors and `catalog show` can name it."""

    path: str
    line: int | None
    directory: str
