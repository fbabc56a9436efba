"""What every reconciler shares: the API client, the options, per-object locks and running discoveries."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Coroutine
from typing import Any

from kubemcp.controller import kinds
from kubemcp.controller.index import Applied, ObjectIndex
from kubemcp.controller.options import OperatorOptions
from kubemcp.controller.report import Reporter
from kubemcp.controller.server_discovery import DiscoveryTasks
from kubemcp.controller.write_through import WriteThrough
from kubemcp.crd.models import API_VERSION
from kubemcp.kube.api import KubePodApi
from kubemcp.kube.client import NotFoundError, path_for

Obj = dict[str, Any]


class Controller:
    def __init__(self, kube: KubePodApi, options: OperatorOptions) -> None:
        # What the watches, the periodic passes and our own writes saw: reads without a request.
        self.index = ObjectIndex()
        self.kube: KubePodApi = WriteThrough(kube, self.index, kinds.INDEXED)
        self.applied = Applied()  # the gateways' objects as last applied: not applied again while unchanged
        self.options = options
        self.reporter = Reporter(self.kube)
        self.discovery = DiscoveryTasks()
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._labels: dict[tuple[str, str], dict[str, str]] = {}
        self.background: set[asyncio.Task[None]] = set()
        self.rbac_namespaces: set[str] = set()  # where gateways were given Roles outside their namespace
        self.secured: dict[str, tuple[float, str | None]] = {}  # namespace -> (when, problem) of its last check
        self.pass_seconds: dict[tuple[str, str, str], float] = {}  # how long each gateway's last pass took
        self.waiting: set[tuple[str, str, str]] = set()  # reconciles asked for that have not started yet
        self.ensured: set[tuple[str, ...]] = set()  # create-once objects known to exist (no write per pass)

    def lock(self, plural: str, namespace: str, name: str) -> asyncio.Lock:
        """One reconcile at a time per object, whichever handler, timer or task asks for it."""
        return self._locks.setdefault((plural, namespace, name), asyncio.Lock())

    def labels_changed(self, namespace: str, name: str, labels: dict[str, str]) -> bool:
        """Whether an MCPServer's labels differ from when it was last seen (they decide which gateways serve it)."""
        before = self._labels.get((namespace, name))
        self._labels[(namespace, name)] = dict(labels)
        return before != labels

    def forget(self, plural: str, namespace: str, name: str) -> None:
        if plural == kinds.SERVERS:
            self._labels.pop((namespace, name), None)
        lock = self._locks.get((plural, namespace, name))
        if lock is not None and not lock.locked():
            del self._locks[(plural, namespace, name)]

    async def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        """One of our resources: from the index once its namespace was listed, else from the API server.
        The object is shared with the index: read it, never change it."""
        if self.index.synced(plural, namespace):
            return self.index.get(plural, namespace, name)
        try:
            found = await self.kube.get(kinds.path(plural, namespace, name))
        except NotFoundError:
            return None
        self.index.seen(plural, found)
        return found

    async def list(self, plural: str, namespace: str | None) -> list[Obj]:
        """Every object of a kind in a namespace (None: in the whole cluster): from the index once listed there."""
        if namespace is not None and self.index.synced(plural, namespace):
            return self.index.items(plural, namespace)
        items, _ = await self._list(plural, namespace)
        return items

    async def relist(self, plural: str, namespace: str | None) -> builtins.list[Obj]:
        """Every object of a kind in a namespace (None: in the whole cluster), asked of the API server; what it
        says replaces the index's copy of that scope (the periodic pass: whatever events were missed), and
        from then on the index answers for it."""
        items, version = await self._list(plural, namespace)
        self.index.replace(plural, namespace, items, version)
        return items

    async def _list(self, plural: str, namespace: str | None) -> tuple[builtins.list[Obj], str]:
        where = kinds.path(plural, namespace) if namespace is not None else path_for(API_VERSION, plural)
        listed = await self.kube.list(where)
        items: list[Obj] = listed.get("items", [])
        for item in items:  # list items carry no apiVersion/kind
            item.setdefault("apiVersion", listed.get("apiVersion"))
            item.setdefault("kind", kinds.KIND_OF[plural])
        return items, str((listed.get("metadata") or {}).get("resourceVersion") or "")

    async def catalog_for(self, server: Obj, cache: dict[str, Obj | None] | None = None) -> Obj | None:
        """The MCPCatalog an MCPServer refers to (None for inline entries or a missing catalog)."""
        ref = (server.get("spec") or {}).get("catalogRef") or {}
        name = ref.get("name")
        if not isinstance(name, str) or not name:
            return None
        if cache is not None and name in cache:
            return cache[name]
        found = await self.get(kinds.CATALOGS, kinds.namespace_of(server), name)
        if cache is not None:
            cache[name] = found
        return found

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def close(self) -> None:
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.discovery.close()
