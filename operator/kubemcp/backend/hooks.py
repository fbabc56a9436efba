"""Where a backend's notifications for one client request go, and which client session asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from mcp.client import Client
from mcp.client.session import LoggingFnT
from mcp.shared.dispatcher import ProgressFnT

T = TypeVar("T")
LogSink = LoggingFnT
ProgressSink = ProgressFnT
Operation = Callable[[Client], Awaitable[T]]


@dataclass(eq=False)
class CallHooks:
    """A client request's sinks for the backend's log and progress notifications, and its session."""

    on_log: LogSink | None = None
    on_progress: ProgressSink | None = None
    session: object | None = None
