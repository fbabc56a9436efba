"""Docker MCP Toolkit catalog files -> MCPCatalog manifests (`kubemcp catalog import`).

Each entry is converted on its own; one that cannot run in the cluster is skipped with the reason
(naming the field), the others are imported:

- entry names become kubemcp names (`GitHub.Official` -> `github-official`, see `model.names`);
- `volumes` become `mounts` (named volume -> PersistentVolumeClaim, anonymous -> emptyDir); host
  paths and templated volumes cannot reach a Pod and skip the entry (see `model.mounts`);
- `oauth` providers with a stored token become `secrets`; `user` must be numeric (uid[:gid]);
- `process`, `remote` and POCI entries do not run as server Pods and are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kubemcp.crd.models import API_VERSION, EntrySpec, MCPCatalogSpec
from kubemcp.files.catalog import load_catalog_file
from kubemcp.model.entry import CatalogEntry
from kubemcp.model.mounts import from_docker_volume
from kubemcp.validation import one_line

# Fields that say how to run an entry somewhere else than in a cluster Pod, or that the operator
# writes, or that the conversion below turns into cluster fields.
NOT_IMPORTED = {"process", "remote", "kubernetes", "discovered", "volumes", "oauth", "secrets"}
_NUMERIC_USER = re.compile(r"^[0-9]+(:[0-9]+)?$")


class Unimportable(ValueError):
    pass


@dataclass
class Imported:
    manifest: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)


def resource_name(text: str) -> str:
    """A valid object name (DNS subdomain) made from a catalog's name."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")
    return cleaned[:253].strip("-.") or "catalog"


def entry_spec(entry: CatalogEntry) -> EntrySpec:
    """The MCPCatalog form of a catalog entry (raises Unimportable, or pydantic's ValidationError)."""
    if entry.type == "poci":
        raise Unimportable("type 'poci': its tools each run a container once, which only the local runtime does")
    if entry.type == "remote" or not entry.image:
        raise Unimportable("no container image (only 'image' entries run on Kubernetes)")
    if entry.user and "{{" not in entry.user and not _NUMERIC_USER.match(entry.user):
        raise Unimportable(f"field 'user': {entry.user!r} is not uid[:gid]; a Pod runs as a numeric user")
    if entry.user and entry.user.split(":")[0] == "0":
        raise Unimportable("field 'user': server Pods never run as root (uid 0)")
    data = entry.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True, exclude=NOT_IMPORTED)
    mounts = list(data.get("mounts", []))
    for index, volume in enumerate(entry.volumes):
        try:
            mounts.append(from_docker_volume(volume, index).model_dump(mode="json", by_alias=True, exclude_none=True))
        except ValueError as exc:
            raise Unimportable(f"field 'volumes[{index}]': {exc}") from None
    if mounts:
        data["mounts"] = mounts
    secrets = [ref.model_dump(mode="json") for ref in entry.secret_refs()]
    if secrets:
        data["secrets"] = [{"name": ref["name"], "env": ref["env"]} for ref in secrets]
    return EntrySpec.model_validate(data)


def import_catalog(path: Path, *, name: str | None = None, namespace: str | None = None) -> Imported:
    """Convert every entry that runs in a Pod; the others are skipped with the reason."""
    catalog, _ = load_catalog_file(path)
    entries: dict[str, EntrySpec] = {}
    skipped: dict[str, str] = {}
    for server, (_written, problems, _line) in catalog.refused.items():
        skipped[server] = "; ".join(problems)
    for server, entry in catalog.entries.items():
        try:
            entries[server] = entry_spec(entry)
        except Unimportable as exc:
            skipped[server] = str(exc)
        except ValidationError as exc:
            skipped[server] = one_line(exc, root="entry")
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
