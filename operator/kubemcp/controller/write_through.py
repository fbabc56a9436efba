"""The operator's API client, telling its index of each object a write returned and of each deletion: the next
read of the index sees the operator's own changes before their watch events arrive (a Pod it just started is
not started again, a status it just wrote is not written again)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from kubemcp.controller.index import ObjectIndex
from kubemcp.kube.api import AttachedStreams, KubePodApi

Obj = dict[str, Any]


def located(path: str) -> tuple[str, str, str | None] | None:
    """`.../namespaces/<ns>/<plural>[/<name>[/<subresource>]]` -> (plural, namespace, name); None elsewhere."""
    parts = path.strip("/").split("/")
    if "namespaces" not in parts:
        return None
    at = parts.index("namespaces")
    if len(parts) < at + 3:
        return None
    return parts[at + 2], parts[at + 1], parts[at + 3] if len(parts) > at + 3 else None


class WriteThrough:
    """`kube` (every call passed on), keeping `index` current for the resources in `tracked`."""

    def __init__(self, kube: KubePodApi, index: ObjectIndex, tracked: frozenset[str]) -> None:
        self.kube = kube
        self.index = index
        self.tracked = tracked

    def _written(self, path: str, obj: Obj | None) -> Obj | None:
        where = located(path)
        if where is not None and where[0] in self.tracked and obj and (obj.get("metadata") or {}).get("name"):
            self.index.seen(where[0], obj)
        return obj

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        return await self.kube.get(path, params)

    async def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None) -> Obj:
        return await self.kube.list(path, label_selector=label_selector, field_selector=field_selector)

    async def create(self, path: str, body: Obj) -> Obj:
        created = await self.kube.create(path, body)
        self._written(path, created)
        return created

    async def replace(self, path: str, body: Obj) -> Obj:
        replaced = await self.kube.replace(path, body)
        self._written(path, replaced)
        return replaced

    async def patch(self, path: str, body: Any, *, kind: str = "merge") -> Obj:
        patched = await self.kube.patch(path, body, kind=kind)
        self._written(path, patched)
        return patched

    async def apply(self, path: str, body: Obj, *, manager: str = "kubemcp", force: bool = True) -> Obj:
        applied = await self.kube.apply(path, body, manager=manager, force=force)
        self._written(path, applied)
        return applied

    async def delete(
        self, path: str, *, grace_seconds: int | None = None, propagation: str = "Background"
    ) -> Obj | None:
        answer = await self.kube.delete(path, grace_seconds=grace_seconds, propagation=propagation)
        where = located(path)
        if where is not None and where[0] in self.tracked and where[2] is not None:
            plural, namespace, name = where
            version = ((answer or {}).get("metadata") or {}).get("resourceVersion") or ""
            still = answer is not None and (answer.get("metadata") or {}).get("deletionTimestamp")
            if still and answer is not None and answer.get("kind") not in (None, "Status"):
                self.index.seen(plural, answer)  # going, not gone: its finalizers or grace period run first
            else:
                self.index.gone(
                    plural, {"metadata": {"namespace": namespace, "name": name, "resourceVersion": version}}
                )
        return answer

    def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> AsyncIterator[Obj]:
        return self.kube.watch(
            path,
            resource_version=resource_version,
            field_selector=field_selector,
            label_selector=label_selector,
            timeout_seconds=timeout_seconds,
        )

    def attach(self, namespace: str, pod: str, container: str) -> AbstractAsyncContextManager[AttachedStreams]:
        return self.kube.attach(namespace, pod, container)
