"""Connected client sessions, so list_changed notifications reach every one of them.

2025-era sessions get `notifications/*/list_changed` on their session; 2026-07-28 clients get
them on their `subscriptions/listen` streams.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

logger = logging.getLogger(__name__)


class SessionNotifier:
    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.bus = InMemorySubscriptionBus()
        self.listen = ListenHandler(self.bus)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Server middleware: remember each handshake-era session that sends us anything."""
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            # `ctx.session` lives for one request; the connection is what outlives it. The SDK offers
            # no public accessor for it from a request context.
            connection = getattr(ctx.session, "_connection", None)
            if isinstance(connection, Connection):
                self._sessions.add(connection)
        return await call_next(ctx)

    def count(self) -> int:
        """Handshake-era sessions that have sent a request and are still connected (not yet collected)."""
        return len(self._sessions)

    async def lists_changed(self) -> None:
        """Tell every client that tools, prompts and resources may have changed."""
        for event in (ToolsListChanged(), PromptsListChanged(), ResourcesListChanged()):
            await self.bus.publish(event)
        for session in list(self._sessions):
            try:
                await session.send_tool_list_changed()
                await session.send_prompt_list_changed()
                await session.send_resource_list_changed()
            except Exception as exc:  # a session that went away must not stop the others
                logger.debug("dropping session that cannot be notified: %s", exc)
                self._sessions.discard(session)

    def close(self) -> None:
        self.listen.close()
