"""A catalog entry: how to run one MCP server. Docker's MCP Toolkit fields plus kubemcp's own forms.

Ways to run an entry:

- `image` (+ `command` as the container's arguments, `volumes`, `user`, `disableNetwork`,
  `allowHosts`, `extraHosts`): run by a container runtime (a local Docker engine, Kubernetes).
- `process.command`: the full command line that runs the server as a local process, used by the
  embedded runtime when present. `{{python}}` expands to the running interpreter and
  `{{catalog_dir}}` to the folder holding the catalog file.
- `remote` (or Docker's older `sseEndpoint`): a server reached over HTTP.
- `type: poci`: no server at all; each tool names a container run once per call (Docker's POCI).

`check()` lists what kubemcp cannot honour in an entry (each with the field it concerns): such an
entry is refused on its own, with that message, while the rest of its file loads. The field types
and bounds in `model.fields` are shared with the custom resources' models, from which the CRD
schemas are generated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kubemcp.model import fields as f
from kubemcp.model import templates
from kubemcp.model.lifecycle import Lifecycle
from kubemcp.model.mounts import Mount
from kubemcp.model.names import ENV_NAME
from kubemcp.validation import Location


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


class ToolContainer(_Open):
    """A POCI tool's container: run once per call, its output is the tool's result."""

    image: str = Field(min_length=1)
    command: list[str] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)
    user: str | None = None


class ToolDef(_Open):
    name: str = Field(min_length=1)
    title: str | None = None
    description: str = ""
    input_schema: dict[str, Any] | None = Field(default=None, alias="inputSchema")
    arguments: list[ToolArgument] | None = None
    parameters: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    container: ToolContainer | None = None

    @field_validator("container", mode="before")
    @classmethod
    def _empty_container(cls, value: Any) -> Any:
        # Docker writes an empty `container: {image: ""}` for tools that are not POCI tools.
        if isinstance(value, dict) and not value.get("image"):
            return None
        return value

    @property
    def defined(self) -> bool:
        """Whether the catalog says more than the tool's name (a schema in some form, or a description)."""
        return bool(self.description) or any(
            value is not None for value in (self.input_schema, self.arguments, self.parameters)
        )

    def schema_for_listing(self) -> dict[str, Any]:
        """The JSON schema a client sees; Docker's `parameters` and older `arguments` list become one."""
        if self.input_schema is not None:
            return self.input_schema
        if self.parameters is not None:
            given: dict[str, Any] = {"type": "object", "properties": {}, **self.parameters}
            if not given.get("required"):
                given.pop("required", None)
            return given
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


# Docker's spellings of the two HTTP transports.
TRANSPORTS = {"sse": "sse", "http": "streamable-http", "streamable": "streamable-http"}
TRANSPORTS |= {"streaming": "streamable-http", "streamable-http": "streamable-http"}


class RemoteForm(_Open):
    """A server reached over HTTP. `transport_type` is normalised to `sse` or `streamable-http`;
    header values may use `$VAR` for the entry's secrets (by their `env` names)."""

    url: str
    transport_type: str = "streamable-http"
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("transport_type", mode="before")
    @classmethod
    def _spelling(cls, value: Any) -> Any:
        if value is None or value == "":
            return "streamable-http"
        return TRANSPORTS.get(value.lower(), value) if isinstance(value, str) else value


class OAuthProvider(_Open):
    provider: str = ""
    secret: str | None = None
    env: str | None = None


class OAuthForm(_Open):
    """Docker's `oauth`: the token a provider issues reaches the server as `env`, stored as `secret`."""

    providers: list[OAuthProvider] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=list)


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


class WarmWindow(_Strict):
    """A daily time window (UTC, `from` included, `to` not; it may run past midnight) with its own minimum."""

    start: f.TimeOfDay = Field(alias="from")
    end: f.TimeOfDay = Field(alias="to")
    min: f.WarmCount

    @model_validator(mode="after")
    def _not_empty(self) -> WarmWindow:
        if self.start == self.end:
            raise ValueError(f"the window from {self.start} to {self.end} is empty")
        return self

    def minutes(self) -> tuple[int, int]:
        """(first minute of the day in the window, first one after it)."""
        return _minute_of_day(self.start), _minute_of_day(self.end)


def _minute_of_day(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class WarmForm(_Strict):
    """Per-call instances started ahead of calls, each still serving one call (any runtime).

    The pool holds `min` ready instances when idle and grows toward `max` when the recent call rate
    needs more; `warm: N` is short for a fixed pool, `{min: N, max: N}`. `schedule` raises the
    minimum during daily windows (UTC) when calls are expected."""

    min: f.WarmCount = 1
    max: f.WarmCount | None = None
    schedule: list[WarmWindow] = Field(default_factory=list, max_length=24)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, int) and not isinstance(data, bool):
            return {"min": data, "max": data}
        return data

    @model_validator(mode="after")
    def _bounds(self) -> WarmForm:
        if self.max is None:
            self.max = max(self.min, f.DEFAULT_WARM_MAX)
        if self.max < self.min:
            raise ValueError(f"'max' ({self.max}) is smaller than 'min' ({self.min})")
        for window in self.schedule:
            if window.min > self.max:
                span = f"{window.start} to {window.end}"
                raise ValueError(f"the window from {span} wants min {window.min}, more than 'max' ({self.max})")
        return self

    @property
    def maximum(self) -> int:
        return self.max if self.max is not None else max(self.min, f.DEFAULT_WARM_MAX)


class Discovered(_Open):
    """Definitions learnt by running the server once (the operator records them); served without a start."""

    digest: str = ""
    capabilities: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    prompts: list[dict[str, Any]] = Field(default_factory=list)
    resources: list[dict[str, Any]] = Field(default_factory=list)
    resource_templates: list[dict[str, Any]] = Field(default_factory=list, alias="resourceTemplates")


class ConfigBlock(BaseModel):
    """A JSON schema for the server's configuration (`config.yaml`'s section for it), kept whole."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = ""
    description: str = ""
    type: str = "object"
    properties: dict[str, Any] = Field(default_factory=dict)
    required: list[str] = Field(default_factory=list)

    def json_schema(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"name"})


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
    oauth: OAuthForm | None = None
    tools: list[ToolDef] | None = None
    config: list[ConfigBlock] = Field(default_factory=list)
    resources: Resources | None = None
    long_lived: bool = Field(default=False, alias="longLived")
    prefix: str | None = None
    volumes: list[str] = Field(default_factory=list)
    user: str | None = None
    disable_network: bool = Field(default=False, alias="disableNetwork")
    allow_hosts: list[str] = Field(default_factory=list, alias="allowHosts")
    extra_hosts: list[str] = Field(default_factory=list, alias="extraHosts")
    mounts: list[Mount] = Field(default_factory=list)
    warm: WarmForm | None = None
    kubernetes: KubernetesForm | None = None
    discovered: Discovered | None = None

    @model_validator(mode="before")
    @classmethod
    def _docker_shapes(cls, data: Any) -> Any:
        """Docker's older and empty shapes: `sseEndpoint` is a remote over SSE; `remote: {}`, empty
        strings and nulls mean the field is unset; `config` may be a single schema."""
        if not isinstance(data, dict):
            return data
        data = {key: value for key, value in data.items() if value is not None and value != ""}
        remote = data.get("remote")
        if isinstance(remote, dict) and not remote.get("url"):
            data.pop("remote")
        endpoint = data.pop("sseEndpoint", None)
        if endpoint and "remote" not in data:
            data["remote"] = {"url": endpoint, "transport_type": "sse"}
        if (
            "remote" in data
            and "image" not in data
            and "process" not in data
            and data.get("type", "server") == "server"
        ):
            data["type"] = "remote"
        if isinstance(data.get("config"), dict):
            data["config"] = [data["config"]]
        return data

    @model_validator(mode="after")
    def _runnable(self) -> CatalogEntry:
        if self.type == "remote" and self.remote is None:
            raise ValueError("a 'remote' entry needs 'remote.url'")
        if self.type == "poci":
            if not self.tools or any(tool.container is None for tool in self.tools):
                raise ValueError("a 'poci' entry needs 'tools', each with a 'container.image'")
        elif self.type != "remote" and self.image is None and self.process is None:
            raise ValueError("an entry needs 'image' (container runtimes) or 'process.command' (local processes)")
        return self

    @property
    def runs_in_container(self) -> bool:
        return self.type == "server" and self.image is not None

    def template_fields(self) -> list[tuple[Location, str]]:
        """Every text that templates expand, with its field."""
        found: list[tuple[Location, str]] = []
        found += [(("command", i), text) for i, text in enumerate(self.command)]
        found += [(("volumes", i), text) for i, text in enumerate(self.volumes)]
        found += [(("env", i, "value"), var.value) for i, var in enumerate(self.env)]
        if self.user:
            found.append((("user",), self.user))
        if self.process is not None:
            found += [(("process", "command", i), text) for i, text in enumerate(self.process.command)]
        for t, tool in enumerate(self.tools or []):
            if tool.container is not None:
                found += [(("tools", t, "container", "command", i), x) for i, x in enumerate(tool.container.command)]
                found += [(("tools", t, "container", "volumes", i), x) for i, x in enumerate(tool.container.volumes)]
        return found

    def check(self) -> list[tuple[Location, str]]:
        """What kubemcp cannot honour in this entry, wherever it runs: (field, message) each."""
        problems: list[tuple[Location, str]] = []
        for loc, text in self.template_fields():
            problems += [(loc, message) for message in templates.problems(text)]
        if self.remote is not None and self.remote.transport_type not in ("sse", "streamable-http"):
            problems.append(
                (
                    ("remote", "transport_type"),
                    f"unknown transport {self.remote.transport_type!r} (sse, streamable-http, http, streamable "
                    "or streaming)",
                )
            )
        # A remote server's own OAuth flow is run by `kubemcp oauth authorize`; a container gets a token only
        # as a stored secret.
        for i, provider in enumerate(self.oauth.providers if self.oauth and self.type != "remote" else []):
            if not provider.secret or not provider.env or not ENV_NAME.match(provider.env):
                problems.append(
                    (
                        ("oauth", "providers", i),
                        f"provider {provider.provider!r} needs an interactive OAuth flow, which kubemcp runs for remote"
                        " servers only; give it 'secret' and 'env' and store the token with 'kubemcp secret set'",
                    )
                )
        for i, block in enumerate(self.config):
            problem = schema_problem(block.json_schema())
            if problem:
                problems.append((("config", i), f"not a valid JSON schema: {problem}"))
        return problems

    def secret_refs(self) -> list[SecretRef]:
        """The entry's secrets, plus the OAuth providers' tokens (stored as secrets) it does not name already."""
        refs = list(self.secrets)
        names = {(ref.name, ref.env) for ref in refs}
        for provider in self.oauth.providers if self.oauth else []:
            usable = provider.secret and provider.env and ENV_NAME.match(provider.env)
            if usable and (provider.secret, provider.env) not in names:
                refs.append(SecretRef(name=str(provider.secret), env=str(provider.env)))
        return refs


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why a JSON schema is not valid, or None."""
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        return str(exc.message)
    return None


class CatalogSource(BaseModel):
    """Where a merged catalog entry came from, so errors and `catalog show` can name it."""

    path: str
    line: int | None
    directory: str
