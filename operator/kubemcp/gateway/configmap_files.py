"""Serve what an MCPGateway's ConfigMap says: its files are kept in a local folder, so the gateway's
own file loading, validation and reload apply unchanged. The ConfigMap is read through the API
(not a volume) and watched, so an edit reaches the gateway as the API server reports it instead of
after the kubelet's volume sync period, and a gateway at rest costs the API server one open watch,
not a request per second. `authz.yaml` (optional) is the MCPGateway's authorization policy, `gateway.yaml` its
options (`spec.options`). `discovery.yaml` names the MCPServers whose recorded discoveries the gateway
reads from their status (see `discovery_records`): they go into `catalog.yaml` as each entry's `discovered`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import anyio

from kubemcp.files.authz_policy import ALLOW_ALL_TEXT
from kubemcp.gateway.discovery_records import FILE as DISCOVERY_FILE
from kubemcp.gateway.discovery_records import DiscoveryRecords, parse_refs, with_discoveries
from kubemcp.kube.api import KubePodApi
from kubemcp.kube.client import KubeApiError, path_for

logger = logging.getLogger(__name__)

WATCH_SECONDS = 300  # one watch request at most this long (the API server ends it then; a new one opens)
CHANGES = ("ADDED", "MODIFIED", "DELETED")
FILES = ("catalog.yaml", "registry.yaml", "config.yaml", "authz.yaml", "gateway.yaml")
# What a missing key means: nothing served, nothing configured, no authorization policy.
_ABSENT = {
    "catalog.yaml": "version: 2\nname: empty\nregistry: {}\n",
    "registry.yaml": "registry: {}\n",
    "authz.yaml": ALLOW_ALL_TEXT,
}


class ConfigMapFiles:
    def __init__(self, kube: KubePodApi, namespace: str, name: str, folder: Path) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.folder = folder
        self._version: str | None = None  # the version whose files are written in full
        self._seen: str | None = None  # the version last read (a watch starts from it)
        self.records = DiscoveryRecords(kube)

    @property
    def catalog(self) -> Path:
        return self.folder / "catalog.yaml"

    @property
    def registry(self) -> Path:
        return self.folder / "registry.yaml"

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def options(self) -> Path:
        return self.folder / "gateway.yaml"

    @property
    def authz(self) -> Path:
        """The MCPGateway's authorization policy; without an `authz.yaml` key, one allowing everything."""
        return self.folder / "authz.yaml"

    async def sync(self) -> bool:
        """Fetch the ConfigMap (and the discoveries it names) and write the files that changed; True when
        something was written. A discovery that could not be read yet is read again on the next sync."""
        return await self._take(await self.kube.get(path_for("v1", "configmaps", self.namespace, self.name)))

    async def _take(self, configmap: dict[str, Any]) -> bool:
        """`sync` from the ConfigMap as read (by a GET, or as a watch event carries it)."""
        version = configmap["metadata"].get("resourceVersion")
        self._seen = version
        if version == self._version:
            return False
        data = configmap.get("data") or {}
        found, complete = await self.records.resolve(parse_refs(data.get(DISCOVERY_FILE)))
        self.folder.mkdir(parents=True, exist_ok=True)
        written = False
        for name in FILES:
            text = data.get(name, _ABSENT.get(name, "{}\n"))
            if name == "catalog.yaml":
                text = with_discoveries(text, found)
            target = self.folder / name
            if target.is_file() and target.read_text(encoding="utf-8") == text:
                continue  # unchanged: no reload
            tmp = target.with_name(f".{name}.{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
            written = True
        self._version = version if complete else None
        logger.info(
            "configmap %s/%s at version %s (%d recorded discoveries%s)",
            self.namespace,
            self.name,
            version,
            len(found),
            "" if complete else ", some not read yet",
        )
        return written

    async def follow(self, interval: float) -> None:
        """Keep the files current: a watch of the ConfigMap from the version last read syncs at each change it
        reports. `interval` is the pause before a watch that ended or failed is opened again, and how often a
        sync is retried while a named discovery is not read yet."""
        collection = path_for("v1", "configmaps", self.namespace)
        selector = f"metadata.name={self.name}"
        while True:
            try:
                if self._seen is None or self._version is None:
                    await self.sync()
                with anyio.move_on_after(interval if self._version is None else WATCH_SECONDS + interval):
                    events = self.kube.watch(
                        collection, resource_version=self._seen, field_selector=selector, timeout_seconds=WATCH_SECONDS
                    )
                    async for event in events:
                        kind = event.get("type")
                        if kind == "ERROR":  # e.g. the version is too old to watch from: read it again
                            self._seen = None
                            break
                        if kind == "BOOKMARK":
                            self._seen = (event.get("object") or {}).get("metadata", {}).get("resourceVersion")
                        elif kind in CHANGES:
                            # The event carries the ConfigMap as changed; a deleted one is asked for (not found).
                            await (self.sync() if kind == "DELETED" else self._take(event["object"]))
                            if self._version is None:
                                break  # a named discovery not read yet: read again after `interval`
            except KubeApiError as exc:
                logger.warning("cannot read configmap %s/%s: %s", self.namespace, self.name, exc)
            await anyio.sleep(interval)
