"""The gateway's side of its clients: each handshake-era session's state (its log level, its resource
subscriptions) and the hooks a request gives the backend call it causes.

A 2025-era session (stdio, streamable HTTP with a session, legacy SSE) is asked for sampling,
elicitation and roots with a request of the gateway's own, related to the client's request so that
streamable HTTP sends it on that request's response stream. A 2026-07-28 request has no session and
cannot be sent requests: it is asked through `gateway.exchanges` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.connection import Connection, allowed_log_levels
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from kubemcp.backend.hooks import CallHooks, ClientAsk, InputAnswer, LogSink
from kubemcp.backend.resident import LEVELS

logger = logging.getLogger(__name__)

Ctx = ServerRequestContext[Any, Any]
STATE_KEY = "kubemcp.session"
ANSWERS = (types.CreateMessageResult, types.CreateMessageResultWithTools, types.ElicitResult, types.ListRootsResult)


class ClientSessionState:
    """One handshake-era client session, as long as its connection lasts (a `SessionLink` for backends)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.level: types.LoggingLevel | None = None
        self.subscriptions: set[tuple[str, str]] = set()  # (server, uri)
        self.closed = False

    @property
    def log_level(self) -> types.LoggingLevel | None:
        return self.level

    def wants(self, level: types.LoggingLevel) -> bool:
        return self.level is None or LEVELS.index(level) >= LEVELS.index(self.level)

    async def send_log(self, params: types.LoggingMessageNotificationParams) -> None:
        if not self.closed and self.wants(params.level):
            await self.send_notification(types.LoggingMessageNotification(params=params))

    async def send_notification(self, notification: types.ServerNotification) -> None:
        if self.closed:
            return
        data = notification.model_dump(by_alias=True, mode="json", exclude_none=True)
        await self.connection.notify(data["method"], data.get("params"))


def is_modern(ctx: Ctx) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def connection_of(ctx: Ctx) -> Connection | None:
    """The client's connection, which outlives the request (the SDK offers no public accessor)."""
    connection = getattr(ctx.session, "_connection", None)
    return connection if isinstance(connection, Connection) else None


def session_state(ctx: Ctx, on_close: Callable[[ClientSessionState], Awaitable[None]]) -> ClientSessionState | None:
    """The session of a handshake-era request, made on first use; None for a stateless 2026-07-28 request."""
    connection = connection_of(ctx)
    if connection is None or is_modern(ctx):
        return None
    state = connection.state.get(STATE_KEY)
    if isinstance(state, ClientSessionState):
        return state
    state = ClientSessionState(connection)
    connection.state[STATE_KEY] = state

    async def closed() -> None:
        state.closed = True
        await on_close(state)

    connection.exit_stack.push_async_callback(closed)
    return state


def request_log_level(ctx: Ctx) -> types.LoggingLevel | None:
    """The level a 2026-07-28 request opted in to log messages at (None: it wants none)."""
    value = (ctx.meta or {}).get(types.LOG_LEVEL_META_KEY)
    return value if value in LEVELS else None


def log_sink(ctx: Ctx, state: ClientSessionState | None) -> LogSink:
    """Log messages of the backend call go on the request's own stream, at the levels the client wants."""
    allowed = allowed_log_levels(ctx.protocol_version, ctx.meta)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        if params.level not in allowed or (state is not None and not state.wants(params.level)):
            return
        await ctx.session.send_notification(
            types.LoggingMessageNotification(params=params), related_request_id=ctx.request_id
        )

    return on_log


def ask_over_session(ctx: Ctx) -> ClientAsk:
    """Ask a handshake-era client with a request of the gateway's own, on the stream of `ctx`'s request."""

    async def ask(request: types.InputRequest) -> InputAnswer:
        result_type: type[BaseModel]
        if isinstance(request, types.CreateMessageRequest):
            tools = request.params.tools is not None or request.params.tool_choice is not None
            result_type = types.CreateMessageResultWithTools if tools else types.CreateMessageResult
        elif isinstance(request, types.ElicitRequest):
            result_type = types.ElicitResult
        else:
            result_type = types.ListRootsResult
        try:
            answer = await ctx.session.send_request(
                request, result_type, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
            )
        except MCPError as exc:
            return exc.error
        except NoBackChannelError:
            return types.ErrorData(
                code=types.METHOD_NOT_FOUND, message=f"the client's transport cannot carry {request.method}"
            )
        except ValidationError:
            return types.ErrorData(
                code=types.INTERNAL_ERROR, message=f"the client's answer to {request.method} is invalid"
            )
        assert isinstance(answer, ANSWERS)
        return answer

    return ask


def session_hooks(ctx: Ctx, state: ClientSessionState | None) -> CallHooks:
    """Hooks of a handshake-era request, or of a 2026-07-28 request whose client cannot be asked anything."""

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        await ctx.session.report_progress(progress, total, message)

    modern = is_modern(ctx)
    on_log: LogSink | None = None
    if not modern or request_log_level(ctx) is not None:
        on_log = log_sink(ctx, state)
    return CallHooks(
        on_log=on_log,
        on_progress=on_progress,
        session=state,
        ask=None if modern else ask_over_session(ctx),
        capabilities=ctx.session.client_capabilities,
        log_level=request_log_level(ctx) if modern else (state.level if state is not None else None),
        modern=modern,
        meta=ctx.meta,
    )
