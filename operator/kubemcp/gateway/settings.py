"""Gateway settings, validated once at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kubemcp.backend.admission import default_total
from kubemcp.model.fields import DEFAULT_PORT


def kubemcp_home() -> Path:
    return Path(os.environ.get("KUBEMCP_HOME") or Path.home() / ".kubemcp")


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
    runtime: Literal["local", "kubernetes"] = "local"
    kubeconfig: str | None = None
    namespace: str | None = None
    from_configmap: str | None = None
    gateway_name: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    start_timeout: float = Field(default=120.0, gt=0)
    shutdown_grace: float = Field(default=30.0, ge=0)
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=4096, ge=1)
    max_instances: int = Field(default_factory=default_total, ge=1)
    max_instances_per_server: int | None = Field(default=None, ge=1)
    max_queued: int = Field(default=256, ge=0)
    queue_timeout: float = Field(default=30.0, gt=0)
    session_idle_timeout: float = Field(default=600.0, gt=0)
    max_sessions: int = Field(default=4096, ge=1)
    max_sessions_per_client: int = Field(default=1024, ge=1)

    @model_validator(mode="after")
    def _catalogs_exist(self) -> GatewaySettings:
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
        """Fill unset file locations from `$KUBEMCP_HOME` (default `~/.kubemcp`) when those files exist."""
        home = kubemcp_home()
        if not values.get("catalogs") and (home / "catalog.yaml").is_file():
            values["catalogs"] = [home / "catalog.yaml"]
        for key, name in (("registry", "registry.yaml"), ("config", "config.yaml"), ("secrets", "secrets.env")):
            if values.get(key) is None and (home / name).is_file():
                values[key] = home / name
        return cls.model_validate(values)

    @property
    def watched_files(self) -> list[Path]:
        return [p for p in [*self.catalogs, self.registry, self.config, self.secrets] if p is not None]
