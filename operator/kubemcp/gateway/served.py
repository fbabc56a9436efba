"""Which servers the gateway serves: catalogs + registry + config + secrets, resolved to specs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kubemcp.errors import SettingsError
from kubemcp.files.catalog import Catalog, load_catalogs
from kubemcp.files.registry import RegistryFile, load_registry
from kubemcp.files.secrets import read_secrets
from kubemcp.files.userconfig import UserConfig, load_user_config
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.model.names import config_key
from kubemcp.model.spec import ServerSpec, build_spec

logger = logging.getLogger(__name__)


@dataclass
class Served:
    catalog: Catalog
    specs: dict[str, ServerSpec]
    refused: dict[str, list[str]] = field(default_factory=dict)  # enabled servers that cannot be served


def server_config(catalog: Catalog, name: str, config: UserConfig, registry: RegistryFile | None) -> dict[str, Any]:
    """config.yaml's section for the server (under Docker's key, its catalog name or kubemcp's), else the
    `config:` its registry.yaml item carries, else nothing."""
    written = catalog.catalog_names.get(name, name)
    section = config.section(config_key(written), written, name)
    if section is not None:
        return section
    if registry is not None:
        for key in (written, name):
            item = registry.registry.get(key)
            if item is not None and item.config is not None:
                return item.config
    return {}


def load_served(settings: GatewaySettings) -> tuple[Catalog, dict[str, ServerSpec]]:
    served = load_served_set(settings)
    return served.catalog, served.specs


def load_served_set(settings: GatewaySettings) -> Served:
    """Load every file; raise `FileFormatError(s)` naming file, line and field on malformed input.
    Entries kubemcp cannot honour are logged with the reason and left out."""
    catalog = load_catalogs(settings.catalogs)
    registry = load_registry(settings.registry) if settings.registry is not None else None
    if registry is not None:
        enabled = []
        for written in registry.enabled:
            name = catalog.resolve(written)
            if name is not None:
                enabled.append(name)
            else:
                logger.warning("%s: server %r is enabled but is in no catalog; skipping it", settings.registry, written)
    else:
        enabled = [*catalog.entries, *catalog.refused]
    if settings.servers:
        resolved = {written: catalog.resolve(written) for written in settings.servers}
        unknown = [written for written, name in resolved.items() if name is None]
        if unknown:
            raise SettingsError(f"--servers names servers that are in no catalog: {', '.join(unknown)}")
        enabled = [name for name in resolved.values() if name is not None]
    enabled = list(dict.fromkeys(enabled))
    config = load_user_config(settings.config) if settings.config is not None else UserConfig({})
    secrets = read_secrets(settings.secrets) if settings.secrets is not None else {}
    specs: dict[str, ServerSpec] = {}
    refused: dict[str, list[str]] = {}
    for name in enabled:
        if name in catalog.refused:
            refused[name] = catalog.refused[name].problems
            for problem in refused[name]:
                logger.error("server %s is not served: %s", name, problem)
            continue
        specs[name] = build_spec(
            name,
            catalog.entries[name],
            catalog.sources[name],
            server_config(catalog, name, config, registry),
            secrets,
            force_long_lived=settings.long_lived,
            catalog_name=catalog.catalog_names.get(name, name),
        )
    return Served(catalog, specs, refused)
