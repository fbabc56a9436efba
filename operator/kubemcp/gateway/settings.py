"""Gateway settings, validated once at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kubemcp.backend.admission import default_total
from kubemcp.model.fields import DEFAULT_PORT
from kubemcp.model.gateway_options import InterceptorOption


def kubemcp_home() -> Path:
    return Path(os.environ.get("KUBEMCP_HOME") or Path.home() / ".kubemcp")


def default_catalogs() -> list[Path]:
    """`$KUBEMCP_HOME/catalog.yaml`, then every `$KUBEMCP_HOME/catalogs/*.yaml` (`kubemcp catalog add`), sorted."""
    home = kubemcp_home()
    found = [home / "catalog.yaml"] if (home / "catalog.yaml").is_file() else []
    folder = home / "catalogs"
    if folder.is_dir():
        found += sorted(path for path in folder.glob("*.yaml") if path.is_file())
    return found


def default_tokens_file() -> Path:
    """The bearer tokens of a local HTTP gateway (`kubemcp token`), created when first needed."""
    return kubemcp_home() / "tokens.env"


def _https_or_loopback(url: str) -> bool:
    """Where keys may come from: https, http on loopback, or a local file (a mounted key set)."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "file" and parts.path.startswith("/")):
        return True
    host = (parts.hostname or "").lower()
    return parts.scheme == "http" and (host == "localhost" or host.startswith("127.") or host == "::1")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubemcp"


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["stdio", "sse", "streaming"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    catalogs: list[Path] = Field(default_factory=list)
    registry: Path | None = None
    config: Path | None = None
    secrets: Path | None = None
    servers: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    long_lived: bool = False
    idle_timeout: float = Field(default=300.0, gt=0)
    call_timeout: float | None = Field(default=None, gt=0)
    prefix_tools: bool = False
    dry_run: bool = False
    log_calls: bool = False
    debug: bool = False
    watch: bool = True
    watch_interval: float = Field(default=1.0, gt=0)
    cache_dir: Path | None = Field(default_factory=default_cache_dir)
    allowed_hosts: list[str] = Field(default_factory=list)
    allowed_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"  # uvloop: the `fast` extra
    http_parser: Literal["auto", "h11", "httptools"] = "h11"  # httptools: the `fast` extra; auto: it if installed
    fast_path: bool = True  # kept tools/list answers; tools/call, prompts/get, resources/read not per session
    runtime: Literal["local", "kubernetes"] = "local"
    engine: str | None = None  # the container engine's address (default DOCKER_HOST, then well-known sockets)
    container_network: str | None = None  # the engine network server containers join (default: the engine's)
    kubeconfig: str | None = None
    namespace: str | None = None
    from_configmap: str | None = None
    gateway_name: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    start_timeout: float = Field(default=120.0, gt=0)
    shutdown_grace: float = Field(default=30.0, ge=0)
    shutdown_handover: float = Field(default=5.0, ge=0)
    header_timeout: float = Field(default=10.0, gt=0)
    keep_alive_timeout: float = Field(default=60.0, gt=0)  # well above clients' pool expiry (httpx: 5 s)
    body_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=4096, ge=1)
    max_instances: int = Field(default_factory=default_total, ge=1)
    max_instances_per_server: int | None = Field(default=None, ge=1)
    max_queued: int = Field(default=256, ge=0)
    queue_timeout: float = Field(default=30.0, gt=0)
    session_idle_timeout: float = Field(default=600.0, gt=0)
    max_sessions: int = Field(default=4096, ge=1)
    max_sessions_per_client: int = Field(default=1024, ge=1)
    replica_key_file: Path | None = None
    advertise: str | None = None
    peers: list[str] = Field(default_factory=list)
    peers_service: str | None = None
    # what the gateway tells and who steers it (docs: README "Observability")
    options_file: Path | None = None  # gateway.yaml: options applied at start and on every change
    audit: bool = True
    audit_file: Path | None = None
    interceptors: list[InterceptorOption] = Field(default_factory=list)
    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # -- security (HTTP authentication, authorization, secret scanning) --
    allow_unauthenticated: bool = False
    tokens_file: Path | None = None
    tokens_dir: Path | None = None
    oauth_issuer: str | None = None
    oauth_jwks_url: str | None = None
    oauth_audience: str | None = None
    oauth_scopes: list[str] = Field(default_factory=list)
    oauth_groups_claim: str = "groups"
    oauth_jwks_min_refresh: float = Field(default=10.0, ge=0)
    authz: Path | None = None
    secret_scan: Literal["block", "redact", "off"] = "block"  # noqa: S105 - a mode, not a password

    @model_validator(mode="after")
    def _catalogs_exist(self) -> GatewaySettings:
        if self.oauth_issuer is not None and (self.oauth_jwks_url is None or self.oauth_audience is None):
            raise ValueError("--oauth-issuer needs --oauth-jwks-url and --oauth-audience (the gateway's URL)")
        if self.oauth_issuer is None and (self.oauth_jwks_url or self.oauth_audience or self.oauth_scopes):
            raise ValueError("the --oauth-* options need --oauth-issuer")
        if self.oauth_jwks_url is not None and not _https_or_loopback(self.oauth_jwks_url):
            raise ValueError("--oauth-jwks-url must be an https URL (http only on loopback), or file:///path")
        if self.oauth_audience is not None and urlsplit(self.oauth_audience).scheme not in {"http", "https"}:
            raise ValueError("--oauth-audience must be the gateway's http(s) URL, e.g. https://mcp.example.com/mcp")
        if self.from_configmap is not None:
            if self.runtime != "kubernetes":
                raise ValueError("--from-configmap needs --runtime kubernetes")
            return self
        if not self.catalogs:
            raise ValueError(
                f"no catalog: pass --catalog FILE (repeatable) or put one at {kubemcp_home() / 'catalog.yaml'}"
            )
        return self

    @classmethod
    def with_defaults(cls, **values: object) -> GatewaySettings:
        """Fill unset file locations from `$KUBEMCP_HOME` (default `~/.kubemcp`) when those files exist
        (the secret store always: it may be created while the gateway runs)."""
        home = kubemcp_home()
        if not values.get("catalogs"):
            values["catalogs"] = default_catalogs()
        for key, name in (("registry", "registry.yaml"), ("config", "config.yaml"), ("authz", "authz.yaml")):
            if values.get(key) is None and (home / name).is_file():
                values[key] = home / name
        if values.get("secrets") is None and values.get("from_configmap") is None:
            # Watched even before it exists: a secret set while the gateway runs is read (and masked).
            values["secrets"] = home / "secrets.env"
        return cls.model_validate(values)

    @property
    def http(self) -> bool:
        return self.transport != "stdio"

    @property
    def watched_files(self) -> list[Path]:
        return [
            p for p in [*self.catalogs, self.registry, self.config, self.secrets, self.options_file] if p is not None
        ]
