"""Where a backend's notifications for one client request go, and which client session asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.client import Client
from mcp.client.session import LoggingFnT
from mcp.shared.dispatcher import ProgressFnT

T = TypeVar("T")
LogSink = LoggingFnT
ProgressSink = ProgressFnT
Operation = Callable[[Client], Awaitable[T]]


@dataclass(eq=False)
class CallHooks:
    """A client request's sinks for the backend's log and progress notifications, its session and the
    request's `_meta` (its trace context)."""

    on_log: LogSink | None = None
    on_progress: ProgressSink | None = None
    session: object | None = None
    meta: Mapping[str, Any] | None = None
