"""`status.conditions` in the Kubernetes convention (metav1.Condition), as plain dicts.

A condition's `lastTransitionTime` moves only when its status changes, so writing the same
conditions again is a no-op for the API server (no new resourceVersion, no watch event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]
MAX_MESSAGE = 4000


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Condition:
    type: str
    status: Status
    reason: str
    message: str = ""

    @classmethod
    def true(cls, type_: str, reason: str, message: str = "") -> Condition:
        return cls(type_, "True", reason, message)

    @classmethod
    def false(cls, type_: str, reason: str, message: str = "") -> Condition:
        return cls(type_, "False", reason, message)

    @classmethod
    def unknown(cls, type_: str, reason: str, message: str = "") -> Condition:
        return cls(type_, "Unknown", reason, message)


def merge_conditions(
    current: list[dict[str, Any]] | None, updates: list[Condition], generation: int | None, now: str | None = None
) -> list[dict[str, Any]]:
    """`current` with `updates` applied: unchanged statuses keep their transition time; others stay as they are."""
    stamp = now or now_rfc3339()
    by_type = {str(item.get("type")): dict(item) for item in current or [] if item.get("type")}
    for update in updates:
        old = by_type.get(update.type)
        changed = old is None or old.get("status") != update.status
        entry: dict[str, Any] = {
            "type": update.type,
            "status": update.status,
            "reason": update.reason,
            "message": update.message[:MAX_MESSAGE],
            "lastTransitionTime": stamp if changed or old is None else old.get("lastTransitionTime", stamp),
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        by_type[update.type] = entry
    return [by_type[key] for key in sorted(by_type)]


def find(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    for item in conditions or []:
        if item.get("type") == type_:
            return item
    return None


def transitions(
    before: list[dict[str, Any]] | None, after: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Conditions whose status or reason changed, with their previous value (for Events)."""
    changed = []
    for item in after:
        old = find(before, str(item["type"]))
        if old is None or old.get("status") != item.get("status") or old.get("reason") != item.get("reason"):
            changed.append((item, old))
    return changed
