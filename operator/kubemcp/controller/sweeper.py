"""Removing server Pods nobody will clean up: finished per-call and discovery Pods, and Pods past their deadline.

A gateway deletes its per-call Pod when the call ends; one that dies mid-call leaves it behind.
`activeDeadlineSeconds` makes the kubelet fail an overdue Pod, and a finished Pod is removed here
once `FINISHED_GRACE` has passed (so a gateway still reading why it ended is not disturbed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import KubeApiError, path_for
from kubemcp.kube.pods import CONTAINER, LABEL_ROLE

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
FINISHED_GRACE = 30.0
DEADLINE_GRACE = 60.0
DEFAULT_DEADLINE = 600.0


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def finished_at(pod: Obj) -> datetime | None:
    """When the server container ended (None while it has not)."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        if container.get("name") == CONTAINER:
            terminated = (container.get("state") or {}).get("terminated")
            if terminated is not None:
                return parse_time(terminated.get("finishedAt")) or parse_time(status.get("startTime"))
    if status.get("phase") in {"Succeeded", "Failed"}:
        times = [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
        known = [t for t in times if t is not None]
        return max(known) if known else parse_time(pod["metadata"].get("creationTimestamp"))
    return None


@dataclass(frozen=True)
class Removal:
    name: str
    why: str


def sweep_plan(pods: list[Obj], now: datetime | None = None) -> list[Removal]:
    """Which of `pods` to delete, and why."""
    moment = now or datetime.now(UTC)
    removals = []
    for pod in pods:
        metadata = pod.get("metadata") or {}
        if metadata.get("deletionTimestamp"):
            continue
        name = str(metadata.get("name"))
        ended = finished_at(pod)
        if ended is not None:
            if (moment - ended).total_seconds() >= FINISHED_GRACE:
                removals.append(Removal(name, f"finished ({(pod.get('status') or {}).get('phase') or 'ended'})"))
            continue
        if (metadata.get("labels") or {}).get(LABEL_ROLE) == "resident":
            continue  # a long-lived or per-session Pod has no deadline: it goes when it has finished
        started = parse_time((pod.get("status") or {}).get("startTime")) or parse_time(
            metadata.get("creationTimestamp")
        )
        deadline = float((pod.get("spec") or {}).get("activeDeadlineSeconds") or DEFAULT_DEADLINE)
        if started is not None and (moment - started).total_seconds() > deadline + DEADLINE_GRACE:
            removals.append(Removal(name, f"past its deadline of {deadline:.0f}s"))
    return removals


async def sweep(kube: KubeApi, namespace: str, selector: str, pods: list[Obj] | None = None) -> list[Removal]:
    """Delete the Pods `sweep_plan` picks among those matching `selector` in `namespace` (or among `pods`, the
    ones matching it that the caller listed already)."""
    if pods is None:
        pods = (await kube.list(path_for("v1", "pods", namespace), label_selector=selector)).get("items", [])
    removals = sweep_plan(pods)
    for removal in removals:
        try:
            await kube.delete(path_for("v1", "pods", namespace, removal.name), grace_seconds=0)
            logger.info("removed pod %s/%s: %s", namespace, removal.name, removal.why)
        except KubeApiError as exc:
            logger.warning("cannot remove pod %s/%s: %s", namespace, removal.name, exc)
    return removals
