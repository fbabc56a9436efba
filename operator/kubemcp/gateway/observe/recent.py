"""The last calls, for the status page: a bounded ring in memory."""

from __future__ import annotations

from collections import deque
from typing import Any

RECENT_CALLS = 100


class RecentCalls:
    def __init__(self, size: int = RECENT_CALLS) -> None:
        self._calls: deque[dict[str, Any]] = deque(maxlen=size)

    def add(self, entry: dict[str, Any]) -> None:
        self._calls.append(entry)

    def newest_first(self) -> list[dict[str, Any]]:
        return list(reversed(self._calls))
