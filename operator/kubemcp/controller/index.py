"""The operator's in-memory copy of the objects it watches, so that a pass reads memory instead of the API.

Fed three ways: kopf's watch events (each object as it changes, removed when deleted), the operator's
own writes (the object a status patch or an apply returned), and the periodic pass's LIST, which
replaces the whole scope and so makes good any event that was missed. Until a scope has been listed
once, `synced` says no and callers ask the API server instead.

Objects are compared by `resourceVersion`, so that an older copy (a late event, a LIST that started
before a write) never replaces a newer one, and a deleted object is not brought back by a LIST
that was taken before it went. The objects handed out are shared: callers must not change them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kubemcp.controller.kinds import labels_of

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def older(candidate: str, than: str) -> bool:
    """Whether `candidate` is an older resourceVersion than `than` (etcd's are integers; anything else
    cannot be ordered and counts as newer, so it is taken)."""
    if candidate.isdigit() and than.isdigit():
        return int(candidate) < int(than)
    return False


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class ObjectIndex:
    """Objects by resource (a plural such as `mcpservers`), namespace and name."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[Key, Obj]] = {}
        self._deleted: dict[str, dict[Key, str]] = {}  # resourceVersion of each deletion seen, until a LIST passes it
        self._scopes: dict[str, set[str | None]] = {}  # listed once: a namespace, or None for the whole cluster

    def synced(self, plural: str, namespace: str) -> bool:
        scopes = self._scopes.get(plural, set())
        return None in scopes or namespace in scopes

    def seen(self, plural: str, obj: Mapping[str, Any]) -> None:
        """An object as the API server returned it (an event, a write's answer): kept unless older."""
        key, version = _key(obj), _version(obj)
        deleted = self._deleted.get(plural, {}).get(key)
        if deleted is not None:
            if not older(deleted, version) and deleted != "" and version != "":
                return  # the object was deleted after this copy was made
            self._deleted[plural].pop(key, None)  # made again since
        current = self._objects.setdefault(plural, {}).get(key)
        if current is not None and older(version, _version(current)):
            return
        self._objects[plural][key] = copy.deepcopy(dict(obj))

    def gone(self, plural: str, obj: Mapping[str, Any]) -> None:
        """A deletion (its watch event, or the API's 404 for it)."""
        key = _key(obj)
        self._objects.get(plural, {}).pop(key, None)
        self._deleted.setdefault(plural, {})[key] = _version(obj)

    def replace(self, plural: str, scope: str | None, items: Iterable[Obj], version: str) -> None:
        """A LIST of `scope` (a namespace, None: the whole cluster) taken at resourceVersion `version`: what
        it did not return is gone, unless it was seen after the LIST was taken."""
        listed = {_key(item): item for item in items}
        known = self._objects.setdefault(plural, {})
        for key in [key for key in known if scope is None or key[0] == scope]:
            if key not in listed and not older(version, _version(known[key])):
                del known[key]
        deleted = self._deleted.setdefault(plural, {})
        for key in [key for key in deleted if scope is None or key[0] == scope]:
            if not older(version, deleted[key]):
                del deleted[key]  # this LIST already knows of the deletion
        for item in listed.values():
            self.seen(plural, item)
        self._scopes.setdefault(plural, set()).add(scope)

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        return self._objects.get(plural, {}).get((namespace, name))

    def known(self, plural: str, namespace: str, name: str) -> Obj | None:
        """The object, once its namespace was listed (None: not there, or the namespace not known yet)."""
        return self.get(plural, namespace, name) if self.synced(plural, namespace) else None

    def labelled(self, plural: str, namespace: str, labels: Mapping[str, str]) -> list[Obj] | None:
        """The objects of a namespace carrying all of `labels`, once it was listed (None: not known yet)."""
        if not self.synced(plural, namespace):
            return None
        return [
            obj
            for obj in self.items(plural, namespace)
            if all(labels_of(obj).get(key) == value for key, value in labels.items())
        ]

    def items(self, plural: str, namespace: str | None) -> list[Obj]:
        """Every object of a resource in a namespace (None: everywhere), by name."""
        known = self._objects.get(plural, {})
        return [known[key] for key in sorted(known) if namespace is None or key[0] == namespace]


class Applied:
    """What the operator applied last, by path: the body's digest and the resourceVersion the API answered. An
    object still at that version is still as applied (nobody changed it since, not even its status), so applying
    the same body again would change nothing: the kinds the API server adds defaults to are not applied on
    every pass."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, str]] = {}

    @staticmethod
    def _digest(body: Obj) -> str:
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def did(self, path: str, body: Obj, answer: Obj) -> None:
        version = _version(answer)
        if version:
            self._last[path] = (self._digest(body), version)

    def still(self, path: str, body: Obj, current: Obj) -> bool:
        """Whether `current` is the object as the last apply of this same `body` left it."""
        last = self._last.get(path)
        return last is not None and last == (self._digest(body), _version(current))
