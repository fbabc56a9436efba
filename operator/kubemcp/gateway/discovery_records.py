"""What discovery recorded for the servers an MCPGateway serves, read from each MCPServer's status.

The operator keeps one copy of a server's discovered tools, prompts and resources: the MCPServer's
`status.discovery`. The gateway's ConfigMap names them only (`discovery.yaml`: per served server its
MCPServer, and the digest and time of the discovery to use), so however many servers a gateway serves
and however large their schemas, no single object has to hold them all (a ConfigMap holds 1 MiB).

The gateway reads each named status (`mcpservers/<name>/status`, which its Role allows by name) and
keeps what it read by digest and time: a ConfigMap change reads only the records that changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import anyio
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kubemcp.crd.models import API_VERSION
from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import KubeApiError, path_for

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
FILE = "discovery.yaml"
PARALLEL = 16  # status reads in flight at once


class DiscoveryRef(BaseModel):
    """Where a served server's discovery is recorded, and which one the operator saw (digest and time)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    namespace: str
    name: str
    digest: str
    discovered_at: str = Field(default="", alias="discoveredAt")


class DiscoveryRefs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    servers: dict[str, DiscoveryRef] = Field(default_factory=dict)


def parse_refs(text: str | None) -> dict[str, DiscoveryRef]:
    """The refs of a `discovery.yaml`; none when it is absent or unreadable (servers are then listed live)."""
    if not text:
        return {}
    try:
        return DiscoveryRefs.model_validate(yaml.safe_load(text) or {}).servers
    except (yaml.YAMLError, ValidationError) as exc:
        logger.warning("%s is not readable, serving without recorded discoveries: %s", FILE, exc)
        return {}


@dataclass(frozen=True)
class _Read:
    digest: str
    discovered_at: str
    discovery: Obj


class DiscoveryRecords:
    """The recorded discoveries of the served servers, read through the API and kept by digest and time."""

    def __init__(self, kube: KubeApi) -> None:
        self.kube = kube
        self._read: dict[tuple[str, str], _Read] = {}
        self.reads = 0  # status reads made (a ConfigMap change reads only the records that changed)

    def _kept(self, ref: DiscoveryRef) -> Obj | None:
        kept = self._read.get((ref.namespace, ref.name))
        if kept is not None and (kept.digest, kept.discovered_at) == (ref.digest, ref.discovered_at):
            return kept.discovery
        return None

    async def _fetch(self, ref: DiscoveryRef) -> None:
        path = path_for(API_VERSION, "mcpservers", ref.namespace, ref.name) + "/status"
        try:
            obj = await self.kube.get(path)
        except KubeApiError as exc:
            logger.warning("cannot read the discovery of %s/%s: %s", ref.namespace, ref.name, exc)
            return
        finally:
            self.reads += 1
        discovery = (obj.get("status") or {}).get("discovery") or {}
        if discovery.get("digest") != ref.digest or discovery.get("discoveredAt", "") != ref.discovered_at:
            logger.info("the discovery of %s/%s changed meanwhile: read again later", ref.namespace, ref.name)
            return
        self._read[(ref.namespace, ref.name)] = _Read(ref.digest, ref.discovered_at, discovery)

    async def resolve(self, refs: dict[str, DiscoveryRef]) -> tuple[dict[str, Obj], bool]:
        """Per served server name, its recorded discovery; and whether every ref was found as named."""
        missing = [ref for ref in refs.values() if self._kept(ref) is None]
        if missing:
            limit = anyio.CapacityLimiter(PARALLEL)

            async def one(ref: DiscoveryRef) -> None:
                async with limit:
                    await self._fetch(ref)

            async with anyio.create_task_group() as tg:
                for ref in missing:
                    tg.start_soon(one, ref)
        wanted = {(ref.namespace, ref.name) for ref in refs.values()}
        for key in [key for key in self._read if key not in wanted]:
            del self._read[key]
        found = {server: kept for server, ref in refs.items() if (kept := self._kept(ref)) is not None}
        return found, len(found) == len(refs)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when PyYAML has it: the same, quicker
DISCOVERED_KEYS = ("digest", "capabilities", "tools", "prompts", "resources", "resourceTemplates")


def with_discoveries(catalog_text: str, found: dict[str, Obj]) -> str:
    """`catalog.yaml` with each found discovery as its entry's `discovered` (entries the ConfigMap lists)."""
    if not found:
        return catalog_text
    catalog = yaml.load(catalog_text, Loader=_LOADER) or {}  # noqa: S506 - a safe loader
    registry = catalog.get("registry") or {}
    for server, discovery in found.items():
        entry = registry.get(server)
        if isinstance(entry, dict):
            entry["discovered"] = {key: discovery[key] for key in DISCOVERED_KEYS if discovery.get(key) is not None}
    return json.dumps(catalog, sort_keys=True)  # JSON is YAML, and far quicker to write for large schemas
