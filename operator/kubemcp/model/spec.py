"""What to run for one enabled server: its catalog entry resolved against config and secrets."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from kubemcp.errors import ServerUnavailableError
from kubemcp.model import templates
from kubemcp.model.entry import CatalogEntry, CatalogSource, KubernetesForm
from kubemcp.model.fields import DEFAULT_DEADLINE_SECONDS
from kubemcp.model.lifecycle import Lifecycle
from kubemcp.model.names import config_key


@dataclass(frozen=True)
class WarmBounds:
    """A warm pool's size limits: `minimum` kept when idle, up to `maximum` under load."""

    minimum: int
    maximum: int
    schedule: tuple[tuple[int, int, int], ...] = ()  # (from minute, to minute, minimum), UTC daily windows


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
    catalog_name: str = ""  # the entry's name as its catalog writes it (Docker's spelling), if it differs

    @property
    def form(self) -> KubernetesForm:
        """The entry's `kubernetes:` form, or its defaults."""
        return self.entry.kubernetes or KubernetesForm()

    @property
    def warm(self) -> WarmBounds | None:
        """How many warm instances to keep (between min and max, by demand), or None: the entry's
        `warm:`, else the `kubernetes:` form's fixed `warmPool`; only for per-call lifecycles."""
        if not self.lifecycle.poolable:
            return None
        if self.entry.warm is not None:
            windows = tuple((*window.minutes(), window.min) for window in self.entry.warm.schedule)
            bounds = WarmBounds(self.entry.warm.min, self.entry.warm.maximum, windows)
        else:
            bounds = WarmBounds(self.form.warm_pool, self.form.warm_pool)
        return bounds if bounds.maximum > 0 else None

    @property
    def warm_pool(self) -> int:
        """The fixed pool of `kubernetes: {warmPool: N}` (the operator keeps that many Pods)."""
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
                mode="json", by_alias=True, exclude={"description", "title", "discovered", "kubernetes", "warm"}
            ),
            "config": self.config,
            "secrets": sorted(self.secret_env),
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def scope(self) -> dict[str, Any]:
        """What `{{...}}` templates read: this server's configuration under Docker's key and kubemcp's
        name, plus kubemcp's `{{python}}` and `{{catalog_dir}}`."""
        scope: dict[str, Any] = {"python": sys.executable, "catalog_dir": self.source.directory}
        scope[self.name] = self.config
        scope[config_key(self.catalog_name or self.name)] = self.config
        return scope

    def expand(self, text: str) -> str:
        """One text with its templates expanded (unset values are empty, as in Docker)."""
        return templates.text(templates.evaluate(text, self.scope))

    def expand_list(self, texts: list[str]) -> list[str]:
        """Several texts (a command, volumes): a list-valued template gives several items."""
        return templates.evaluate_list(texts, self.scope)

    def container_command(self, lookup: Callable[[str], str] | None = None) -> list[str]:
        """The container's arguments: templates, then `$VAR` from the server's own variables."""
        env = self.environment() if lookup is None else None
        find = lookup or (lambda name: (env or {}).get(name, ""))
        return [templates.expand_variables(part, find) for part in self.expand_list(self.entry.command)]

    def container_user(self) -> str | None:
        return self.expand(self.entry.user) or None if self.entry.user else None

    def container_volumes(self) -> list[str]:
        """Docker `volumes` with templates expanded; empty ones are left out."""
        return [volume for volume in self.expand_list(self.entry.volumes) if volume.strip()]

    def env_values(self, defined: dict[str, str]) -> list[tuple[str, str]]:
        """The entry's `env` in order, as Docker sets it: a templated value expands from config, any
        other from `$VAR`s already defined (`defined` is updated); empty values are left out."""
        result = []
        for var in self.entry.env:
            if templates.has_template(var.value):
                value = self.expand(var.value)
            else:
                value = templates.expand_from(var.value, defined)
            if value != "":
                defined[var.name] = value
                result.append((var.name, value))
        return result

    def environment(self) -> dict[str, str]:
        """The environment the server gets: the secrets it names, then its entry's env."""
        if self.missing_secrets:
            names = ", ".join(self.missing_secrets)
            raise ServerUnavailableError(
                self.name, f"secret(s) not set: {names} (set with 'kubemcp secret set NAME=…')"
            )
        env = dict(self.secret_env)
        self.env_values(env)
        return env

    def check_config(self) -> None:
        """The server's configuration must satisfy every JSON schema in its entry's `config`."""
        from jsonschema.validators import validator_for

        key = config_key(self.catalog_name or self.name)
        problems: list[str] = []
        for block in self.entry.config:
            schema = block.json_schema()
            validator = validator_for(schema)(schema)
            for error in sorted(validator.iter_errors(self.config), key=lambda e: list(e.absolute_path)):
                where = ".".join(str(part) for part in error.absolute_path)
                problems.append(f"{where}: {error.message}" if where else error.message)
        if problems:
            raise ServerUnavailableError(
                self.name, f"config does not match its schema: {'; '.join(problems)} (see '{key}:' in config.yaml)"
            )


def build_spec(
    name: str,
    entry: CatalogEntry,
    source: CatalogSource,
    config: dict[str, Any],
    secrets: dict[str, str],
    *,
    force_long_lived: bool = False,
    catalog_name: str = "",
) -> ServerSpec:
    secret_env: dict[str, str] = {}
    missing: list[str] = []
    for ref in entry.secret_refs():
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
        catalog_name="" if catalog_name == name else catalog_name,
    )
