"""The catalog file format, compatible with Docker's MCP Toolkit (`version: 2`), plus a local-process form.

An entry says how to run one MCP server. Two ways to run it sit side by side:

- `image` (+ `command` as the container's arguments): run by a container runtime (Kubernetes).
- `process.command`: the full command line that runs the server as a local process, used by the
  embedded runtime that needs no cluster. `{{python}}` expands to the running interpreter and
  `{{catalog_dir}}` to the folder holding the catalog file.

An entry may carry both; each runtime uses the form it can run and reports a clear error otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kubemcp.errors import FileFormatError, FileFormatErrors
from kubemcp.files._located import LocatedDocument, parse_yaml, validate

SERVER_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    """How the Kubernetes runtime runs the entry (kubemcp's extension; the operator writes it)."""

    namespace: str | None = None
    secret_name: str | None = Field(default=None, alias="secretName")
    lifecycle: Literal["perCall", "perSession", "longLived"] = "perCall"
    per_call_kind: Literal["Pod", "Job"] = Field(default="Pod", alias="perCallKind")
    warm_pool: int = Field(default=0, ge=0, le=100, alias="warmPool")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(default=None, alias="imagePullPolicy")
    deadline_seconds: int = Field(default=600, ge=10, alias="deadlineSeconds")
    idle_timeout_seconds: int | None = Field(default=None, ge=1, alias="idleTimeoutSeconds")
    read_only_root: bool = Field(default=True, alias="readOnlyRootFilesystem")
    run_as_user: int | None = Field(default=None, ge=1, alias="runAsUser")
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


class CatalogFile(_Open):
    version: Literal[2] = 2
    name: str = "catalog"
    display_name: str | None = Field(default=None, alias="displayName")
    registry: dict[str, CatalogEntry] = Field(default_factory=dict)

    @field_validator("registry")
    @classmethod
    def _names(cls, value: dict[str, CatalogEntry]) -> dict[str, CatalogEntry]:
        for name in value:
            if not SERVER_NAME.match(name):
                raise ValueError(
                    f"server name {name!r} must be lowercase letters, digits, '-' or '_' (at most 63), "
                    "starting and ending with a letter or digit"
                )
        return value


class CatalogSource(BaseModel):
    """Where a merged catalog entry came from, so errors and `catalog show` can name it."""

    path: str
    line: int | None
    directory: str


class Catalog(BaseModel):
    """Several catalog files merged: later files win, entry by entry."""

    entries: dict[str, CatalogEntry] = Field(default_factory=dict)
    sources: dict[str, CatalogSource] = Field(default_factory=dict)
    names: list[str] = Field(default_factory=list)


def load_catalog_file(path: Path) -> tuple[CatalogFile, LocatedDocument]:
    document = parse_yaml(path)
    return validate(document, CatalogFile, empty={}), document


def load_catalogs(paths: list[Path]) -> Catalog:
    """Load and merge catalog files in order; all problems of all files are reported together."""
    merged = Catalog()
    problems: list[FileFormatError] = []
    for path in paths:
        try:
            parsed, document = load_catalog_file(path)
        except FileFormatError as exc:
            problems.append(exc)
            continue
        except FileFormatErrors as exc:
            problems.extend(exc.errors)
            continue
        merged.names.append(parsed.name)
        directory = str(path.resolve().parent)
        for name, entry in parsed.registry.items():
            merged.entries[name] = entry
            merged.sources[name] = CatalogSource(
                path=str(path), line=document.line_of(("registry", name)), directory=directory
            )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise FileFormatErrors(problems)
    return merged
