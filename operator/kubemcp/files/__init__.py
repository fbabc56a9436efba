"""File formats: catalogs, the registry, per-server config and the secret store."""
