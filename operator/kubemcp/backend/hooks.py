"""What a client request brings to the backend call it causes: where the backend's notifications go,
who answers the backend's requests to the client, and which client session asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import mcp_types as types
from mcp.client import Client
from mcp.client.session import LoggingFnT
from mcp.shared.dispatcher import ProgressFnT

T = TypeVar("T")
LogSink = LoggingFnT
ProgressSink = ProgressFnT
Operation = Callable[[Client], Awaitable[T]]
InputAnswer = types.InputResponse | types.ErrorData


class ClientAsk(Protocol):
    """Puts a backend server's request (sampling, elicitation, roots) to the client that made the call."""

    async def __call__(self, request: types.InputRequest) -> InputAnswer: ...


class SessionLink(Protocol):
    """A client session as the backends see it: it outlives one request, so a shared instance's messages
    sent outside any call (logs, resource updates) can still reach the sessions that use it."""

    @property
    def log_level(self) -> types.LoggingLevel | None:
        """The level the client set with `logging/setLevel` (None: never set)."""
        ...

    async def send_log(self, params: types.LoggingMessageNotificationParams) -> None:
        """A log message on the session's own stream, dropped below its level."""
        ...

    async def send_notification(self, notification: types.ServerNotification) -> None:
        """Any other notification on the session's own stream (best effort)."""
        ...


@dataclass(eq=False)
class CallHooks:
    """One client request's sinks, answerer and session.

    `session` is None for a stateless request (2026-07-28 HTTP) and for the gateway's own calls;
    `ask` is None when there is no client to ask (discovery). `capabilities` are what the caller
    declared: a backend started for this call alone is told exactly those, in the caller's protocol era
    (`modern`: 2026-07-28). `log_level` is the level the caller asked for logs at (None: not set).
    `meta` is the request's `_meta` (its trace context).
    """

    on_log: LogSink | None = None
    on_progress: ProgressSink | None = None
    session: SessionLink | None = None
    ask: ClientAsk | None = None
    capabilities: types.ClientCapabilities | None = None
    log_level: types.LoggingLevel | None = None
    modern: bool = False
    meta: Mapping[str, Any] | None = None
