"""An in-memory implementation of the `KubePodApi` seam: enough of the API's behaviour for the
reconcilers' unit tests. mypy checks it against the protocol `KubeClient` implements too."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from kubemcp.kube.api import AttachedStreams, KubePodApi
from kubemcp.kube.client import ConflictError, KubeApiError, NotFoundError

Obj = dict[str, Any]
_COUNTER = itertools.count(1)


def _merge(target: Obj, patch: Obj) -> Obj:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    for term in re.split(r",(?![^(]*\))", selector):
        term = term.strip()
        if " in (" in term:
            key, values = term.split(" in (")
            if labels.get(key.strip()) not in {v.strip() for v in values.rstrip(")").split(",")}:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.writes: list[tuple[str, str]] = []

    # -- test helpers ---------------------------------------------------------------------

    def put(self, path: str, obj: Obj) -> Obj:
        stored = copy.deepcopy(obj)
        stored.setdefault("metadata", {}).setdefault("uid", f"uid-{next(_COUNTER)}")
        stored["metadata"]["resourceVersion"] = str(next(_COUNTER))
        self.objects[path] = stored
        return stored

    def under(self, collection: str) -> list[Obj]:
        return [obj for path, obj in self.objects.items() if path.rsplit("/", 1)[0] == collection]

    def events(self, namespace: str) -> list[Obj]:
        return self.under(f"/api/v1/namespaces/{namespace}/events")

    # -- the KubeClient surface the controller uses --------------------------------------

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        path = path.removesuffix("/status")  # a status subresource answers with the whole object
        if path not in self.objects:
            raise NotFoundError(404, "NotFound", f"{path} not found")
        return copy.deepcopy(self.objects[path])

    async def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None) -> Obj:
        items = [
            copy.deepcopy(obj)
            for obj in self.under(path)
            if _matches(obj.get("metadata", {}).get("labels") or {}, label_selector)
        ]
        return {"apiVersion": "v1", "items": items, "metadata": {"resourceVersion": str(next(_COUNTER))}}

    async def create(self, path: str, body: Obj) -> Obj:
        self.writes.append(("create", path))
        obj = copy.deepcopy(body)
        metadata = obj.setdefault("metadata", {})
        if "name" not in metadata:
            metadata["name"] = f"{metadata['generateName']}{next(_COUNTER):05d}"
        target = f"{path}/{metadata['name']}"
        if target in self.objects:
            raise ConflictError(409, "AlreadyExists", f"{target} exists")
        metadata.setdefault("namespace", path.split("/namespaces/")[1].split("/")[0])
        metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        return self.put(target, obj)

    async def replace(self, path: str, body: Obj) -> Obj:
        """PUT: optimistic concurrency on `metadata.resourceVersion`, as the API server does."""
        self.writes.append(("replace", path))
        current = self.objects.get(path)
        if current is None:
            raise NotFoundError(404, "NotFound", f"{path} not found")
        expected = (body.get("metadata") or {}).get("resourceVersion")
        if expected is not None and expected != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", f"{path} was changed meanwhile")
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = current["metadata"]["uid"]
        return self.put(path, obj)

    async def patch(self, path: str, body: Any, *, kind: str = "merge") -> Obj:
        self.writes.append(("patch", path))
        status = path.endswith("/status")
        target = path.removesuffix("/status")
        if target not in self.objects:
            raise NotFoundError(404, "NotFound", f"{target} not found")
        obj = self.objects[target]
        if status:
            _merge(obj.setdefault("status", {}), body.get("status") or {})
        else:
            _merge(obj, body)
        obj["metadata"]["resourceVersion"] = str(next(_COUNTER))
        return copy.deepcopy(obj)

    async def apply(self, path: str, body: Obj, *, manager: str = "kubemcp", force: bool = True) -> Obj:
        current = self.objects.get(path)
        if current is not None and json.dumps(
            {k: v for k, v in current.items() if k not in {"status", "metadata"}}, sort_keys=True
        ) == json.dumps({k: v for k, v in body.items() if k != "metadata"}, sort_keys=True):
            return copy.deepcopy(current)
        self.writes.append(("apply", path))
        obj = copy.deepcopy(body)
        if current is not None:
            obj["metadata"]["uid"] = current["metadata"]["uid"]
            obj["status"] = current.get("status", {})
        return self.put(path, obj)

    async def delete(
        self, path: str, *, grace_seconds: int | None = None, propagation: str = "Background"
    ) -> Obj | None:
        self.writes.append(("delete", path))
        return self.objects.pop(path, None)

    async def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> AsyncIterator[Obj]:
        """No events: nothing in the fake changes by itself (a watch ends as at its timeout)."""
        events: list[Obj] = []
        for event in events:
            yield event

    def attach(self, namespace: str, pod: str, container: str) -> AbstractAsyncContextManager[AttachedStreams]:
        raise KubeApiError(501, "NotImplemented", "the in-memory API runs no containers to attach to")


_CHECKED: type[KubePodApi] = FakeKube  # mypy: the fake implements the whole seam
