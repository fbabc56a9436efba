"""Which servers the gateway serves: catalogs + registry + config + secrets, resolved to specs."""

from __future__ import annotations

import logging

from kubemcp.errors import SettingsError
from kubemcp.files.catalog import Catalog, load_catalogs
from kubemcp.files.registry import load_registry
from kubemcp.files.secrets import read_secrets
from kubemcp.files.userconfig import UserConfig, load_user_config
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.model.spec import ServerSpec, build_spec

logger = logging.getLogger(__name__)


def load_served(settings: GatewaySettings) -> tuple[Catalog, dict[str, ServerSpec]]:
    """Load every file; raise `FileFormatError(s)` naming file, line and field on bad input."""
    catalog = load_catalogs(settings.catalogs)
    if settings.registry is not None:
        registry = load_registry(settings.registry)
        enabled = []
        for name in registry.enabled:
            if name in catalog.entries:
                enabled.append(name)
            else:
                logger.warning("%s: server %r is enabled but is in no catalog; skipping it", settings.registry, name)
    else:
        enabled = list(catalog.entries)
    if settings.servers:
        unknown = [name for name in settings.servers if name not in catalog.entries]
        if unknown:
            raise SettingsError(f"--servers names servers that are in no catalog: {', '.join(unknown)}")
        enabled = [name for name in settings.servers]
    config = load_user_config(settings.config) if settings.config is not None else UserConfig({})
    secrets = read_secrets(settings.secrets) if settings.secrets is not None else {}
    specs = {
        name: build_spec(
            name,
            catalog.entries[name],
            catalog.sources[name],
            config.for_server(name),
            secrets,
            force_long_lived=settings.long_lived,
        )
        for name in enabled
    }
    return catalog, specs
