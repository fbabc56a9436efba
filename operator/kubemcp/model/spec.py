"""What to run for one enabled server: its catalog entry resolved against config and secrets."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from kubemcp.errors import ServerUnavailableError
from kubemcp.model.entry import CatalogEntry, CatalogSource, KubernetesForm
from kubemcp.model.fields import DEFAULT_DEADLINE_SECONDS
from kubemcp.model.lifecycle import Lifecycle

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


@dataclass(frozen=True)
class ServerSpec:
    """One enabled server, ready for a runtime. `secret_env` holds values: never log or show it."""

    name: str
    entry: CatalogEntry
    source: CatalogSource
    config: dict[str, Any] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict, repr=False)
    missing_secrets: tuple[str, ...] = ()
    lifecycle: Lifecycle = Lifecycle.PER_CALL

    @property
    def form(self) -> KubernetesForm:
        """The entry's `kubernetes:` form, or its defaults."""
        return self.entry.kubernetes or KubernetesForm()

    @property
    def warm_pool(self) -> int:
        return self.form.warm_pool if self.lifecycle.poolable else 0

    @property
    def max_instances(self) -> int | None:
        """The most per-call instances of this server that may run at once (None: the gateway's limit)."""
        return self.form.max_instances

    @property
    def deadline_seconds(self) -> int:
        form = self.entry.kubernetes
        return form.deadline_seconds if form is not None else DEFAULT_DEADLINE_SECONDS

    @property
    def idle_timeout(self) -> float | None:
        seconds = self.form.idle_timeout_seconds
        return float(seconds) if seconds else None

    @cached_property
    def digest(self) -> str:
        """Changes when what the server would list could change: image, command, env, config, secret names."""
        material = {
            "entry": self.entry.model_dump(
                mode="json", by_alias=True, exclude={"description", "title", "discovered", "kubernetes"}
            ),
            "config": self.config,
            "secrets": sorted(self.secret_env),
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def expand(self, text: str) -> str:
        """Expand `{{server.key}}` from config, plus `{{python}}` and `{{catalog_dir}}`."""

        def value(match: re.Match[str]) -> str:
            key = match.group(1)
            if key == "python":
                return sys.executable
            if key == "catalog_dir":
                return self.source.directory
            head, _, rest = key.partition(".")
            scope: Any = self.config if head == self.name else None
            if scope is None or not rest:
                raise ServerUnavailableError(self.name, f"unknown placeholder {{{{{key}}}}}")
            for part in rest.split("."):
                if not isinstance(scope, dict) or part not in scope:
                    raise ServerUnavailableError(
                        self.name, f"config value {key!r} is not set (add it under '{self.name}:' in config.yaml)"
                    )
                scope = scope[part]
            return str(scope)

        return _TEMPLATE.sub(value, text)

    def environment(self) -> dict[str, str]:
        """The environment the server gets: its entry's env, then the secrets it names."""
        if self.missing_secrets:
            names = ", ".join(self.missing_secrets)
            raise ServerUnavailableError(
                self.name, f"secret(s) not set: {names} (set with 'kubemcp secret set NAME=…')"
            )
        env = {var.name: self.expand(var.value) for var in self.entry.env}
        env.update(self.secret_env)
        return env

    def check_config(self) -> None:
        """Required config values from the entry's config schema must be present."""
        for block in self.entry.config:
            for key in block.required:
                if key not in self.config:
                    raise ServerUnavailableError(
                        self.name, f"config value {key!r} is required (add it under '{self.name}:' in config.yaml)"
                    )


def build_spec(
    name: str,
    entry: CatalogEntry,
    source: CatalogSource,
    config: dict[str, Any],
    secrets: dict[str, str],
    *,
    force_long_lived: bool = False,
) -> ServerSpec:
    secret_env: dict[str, str] = {}
    missing: list[str] = []
    for ref in entry.secrets:
        if ref.name in secrets:
            secret_env[ref.env] = secrets[ref.name]
        else:
            missing.append(ref.name)
    if force_long_lived or entry.long_lived:
        lifecycle = Lifecycle.LONG_LIVED
    else:
        lifecycle = entry.kubernetes.lifecycle if entry.kubernetes is not None else Lifecycle.PER_CALL
    return ServerSpec(
        name=name,
        entry=entry,
        source=source,
        config=config,
        secret_env=secret_env,
        missing_secrets=tuple(missing),
        lifecycle=lifecycle,
    )
