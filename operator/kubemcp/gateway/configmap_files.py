"""Serve what an MCPGateway's ConfigMap says: its files are kept in a local folder, so the gateway's
own file loading, validation and reload apply unchanged. The ConfigMap is read through the API
(not a volume), so an edit reaches the gateway within a watch interval instead of the kubelet's
volume sync period. `authz.yaml` (optional) is the MCPGateway's authorization policy."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import anyio

from kubemcp.files.authz_policy import ALLOW_ALL_TEXT
from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import KubeApiError, path_for

logger = logging.getLogger(__name__)

FILES = ("catalog.yaml", "registry.yaml", "config.yaml", "authz.yaml")
# What a missing key means: nothing served, nothing configured, no authorization policy.
_ABSENT = {
    "catalog.yaml": "version: 2\nname: empty\nregistry: {}\n",
    "registry.yaml": "registry: {}\n",
    "authz.yaml": ALLOW_ALL_TEXT,
}


class ConfigMapFiles:
    def __init__(self, kube: KubeApi, namespace: str, name: str, folder: Path) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.folder = folder
        self._version: str | None = None

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
    def authz(self) -> Path:
        """The MCPGateway's authorization policy; without an `authz.yaml` key, one allowing everything."""
        return self.folder / "authz.yaml"

    async def sync(self) -> bool:
        """Fetch the ConfigMap and write its files when it changed; True when something was written."""
        configmap = await self.kube.get(path_for("v1", "configmaps", self.namespace, self.name))
        version = configmap["metadata"].get("resourceVersion")
        if version == self._version:
            return False
        data = configmap.get("data") or {}
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            text = data.get(name, _ABSENT.get(name, "{}\n"))
            target = self.folder / name
            tmp = target.with_name(f".{name}.{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
        self._version = version
        logger.info("configmap %s/%s at version %s", self.namespace, self.name, version)
        return True

    async def follow(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            try:
                await self.sync()
            except KubeApiError as exc:
                logger.warning("cannot read configmap %s/%s: %s", self.namespace, self.name, exc)
