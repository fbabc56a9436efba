"""Writing what the operator found: the status subresource, and an Event when a condition changes.

Status is written only when it differs from what the object already says, so a level-based
reconcile that finds nothing new causes no write and no watch event.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from kubemcp.controller import kinds
from kubemcp.crd.conditions import now_rfc3339, transitions
from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import KubeApiError, NotFoundError, path_for

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
# Conditions that are bad news when True; for every other type, False is.
NEGATIVE = {"Degraded"}


def differs(wanted: Any, current: Any) -> bool:
    """True when writing `wanted` as a merge patch onto `current` would change something."""
    if isinstance(wanted, dict):
        if not isinstance(current, dict):
            return True
        return any(
            (key in current) if value is None else differs(value, current.get(key)) for key, value in wanted.items()
        )
    return bool(wanted != current)


def is_bad(condition: Obj | None) -> bool:
    if condition is None:
        return False
    return bool(condition.get("status") == ("True" if condition.get("type") in NEGATIVE else "False"))


def worth_an_event(before: list[Obj] | None, after: list[Obj] | None) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events a status change deserves: a problem appearing or changing
    (Warning), a problem going away, and becoming Ready (Normal); one Event per distinct problem."""
    found: list[tuple[str, str, str]] = []
    for condition, old in transitions(before, after or []):
        if condition.get("status") == "Unknown":
            continue
        if is_bad(condition):
            item = ("Warning", str(condition["reason"]), str(condition["message"]))
        elif is_bad(old) or condition.get("type") == "Ready":
            item = ("Normal", str(condition["reason"]), str(condition["message"]) or str(condition["type"]))
        else:
            continue
        if not any(other[1:] == item[1:] for other in found):
            found.append(item)
    return found


class Reporter:
    def __init__(self, kube: KubeApi) -> None:
        self.kube = kube
        self.instance = os.environ.get("POD_NAME") or socket.gethostname()

    async def status(self, plural: str, obj: Obj, status: Obj) -> bool:
        """Merge `status` into the object's status; post an Event for each condition that changed."""
        current: Obj = obj.get("status") or {}
        if not differs(status, current):
            return False
        name, namespace = kinds.name_of(obj), kinds.namespace_of(obj)
        try:
            await self.kube.patch(kinds.path(plural, namespace, name, status=True), {"status": status})
        except NotFoundError:
            return False
        for type_, reason, message in worth_an_event(current.get("conditions"), status.get("conditions")):
            await self.event(obj, type_, reason, message)
        return True

    async def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about `obj`; failing to post one is logged, never fatal."""
        meta = kinds.meta(obj)
        now = now_rfc3339()
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": meta.get("namespace")},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1000],
            "type": type_,
            "source": {"component": kinds.COMPONENT},
            "reportingComponent": f"{kinds.COMPONENT}",
            "reportingInstance": self.instance[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.create(path_for("v1", "events", str(meta.get("namespace"))), body)
        except KubeApiError as exc:
            logger.warning("cannot post event %s for %s/%s: %s", reason, meta.get("namespace"), meta.get("name"), exc)
