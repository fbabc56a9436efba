"""Docker MCP Toolkit catalog files -> MCPCatalog manifests (`kubemcp catalog import`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kubemcp.crd.models import API_VERSION, EntrySpec, MCPCatalogSpec
from kubemcp.files.catalog import load_catalog_file
from kubemcp.model.entry import CatalogEntry

# Fields that say how to run an entry as a local process, or that the operator writes.
NOT_IMPORTED = {"process", "kubernetes", "discovered"}


@dataclass
class Imported:
    manifest: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)


def resource_name(text: str) -> str:
    """A valid object name (DNS subdomain) made from a catalog's name."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")
    return cleaned[:253].strip("-.") or "catalog"


def entry_spec(entry: CatalogEntry) -> EntrySpec:
    """The MCPCatalog form of a catalog entry: container or remote fields (raises ValidationError)."""
    data = entry.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True, exclude=NOT_IMPORTED)
    if entry.type == "remote":
        data["type"] = "remote"  # the default-valued fields are left out, but a remote entry says what it is
        data.pop("image", None)
    return EntrySpec.model_validate(data)


def import_catalog(path: Path, *, name: str | None = None, namespace: str | None = None) -> Imported:
    """Convert every entry with an image, and every remote one; the others are skipped with the reason."""
    catalog, _ = load_catalog_file(path)
    entries: dict[str, EntrySpec] = {}
    skipped: dict[str, str] = {}
    for server, entry in catalog.registry.items():
        if entry.type != "remote" and not entry.image:
            skipped[server] = "no container image (entries with an image, and remote entries, run on Kubernetes)"
            continue
        try:
            entries[server] = entry_spec(entry)
        except ValidationError as exc:
            skipped[server] = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}" for err in exc.errors()
            )
    spec = MCPCatalogSpec(displayName=catalog.display_name, entries=entries)
    metadata: dict[str, Any] = {"name": resource_name(name or catalog.name)}
    if namespace:
        metadata["namespace"] = namespace
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "MCPCatalog",
        "metadata": metadata,
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    return Imported(manifest=manifest, skipped=skipped)
