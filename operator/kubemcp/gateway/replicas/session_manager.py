"""The streamable HTTP session manager, for replicas: session IDs that name their owner, and adoption.

On top of the SDK's manager: a new session's ID is minted from its `initialize` request (see
`session_ids`), and a request the router marks for adoption opens the session here, born ready
with the protocol version, capabilities and client identity its ID carries.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, AuthorizationContext, authorization_context
from mcp.server.connection import Connection
from mcp.server.runner import ServerRunner, serve_connection
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.transport_context import TransportContext
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from kubemcp.gateway.replicas.router import ADOPT_KEY
from kubemcp.gateway.replicas.session_ids import SessionClaims, SessionIds, principal_digest

logger = logging.getLogger(__name__)

_minted: contextvars.ContextVar[str | None] = contextvars.ContextVar("kubemcp_minted_session_id", default=None)


class ReplicatedSessionManager(StreamableHTTPSessionManager):
    def __init__(self, *args: Any, ids: SessionIds, on_adopt: Callable[[], None] = lambda: None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ids = ids
        self.on_adopt = on_adopt

    def holds(self, session_id: str) -> bool:
        return session_id in self._server_instances

    async def _handle_stateful_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = Request(scope).headers.get(MCP_SESSION_ID_HEADER)
        claims = scope.get(ADOPT_KEY)
        if session_id is not None and session_id not in self._server_instances and isinstance(claims, SessionClaims):
            await self._adopt(session_id, claims, scope, receive, send)
            return
        if session_id is None and scope.get("method") == "POST":
            body, receive = await _peek_body(receive)
            token = _minted.set(self._mint(body, _requestor(scope)))
            try:
                await super()._handle_stateful_request(scope, receive, send)
            finally:
                _minted.reset(token)
            return
        await super()._handle_stateful_request(scope, receive, send)

    def _mint(self, body: bytes, requestor: AuthorizationContext | None) -> str | None:
        try:
            message = json.loads(body)
        except ValueError:
            return None
        if not isinstance(message, dict) or message.get("method") != "initialize":
            return None
        params = message.get("params")
        try:
            init, negotiated = ServerRunner._negotiate_initialize(params if isinstance(params, dict) else None)
        except ValidationError:
            return None
        claims = SessionClaims(
            owner=self.ids.address,
            protocol_version=negotiated,
            capabilities=init.capabilities.model_dump(mode="json", by_alias=True, exclude_none=True),
            client_info=init.client_info.model_dump(mode="json", by_alias=True, exclude_none=True),
            principal=principal_digest(requestor),
        )
        return self.ids.mint(claims)

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        minted = _minted.get()
        if minted is None:
            return super()._admit_session(requestor)
        if self.max_sessions is not None and len(self._server_instances) >= self.max_sessions:
            return None
        transport = self._transport(minted)
        if requestor is not None:
            self._session_owners[minted] = requestor
        self._server_instances[minted] = transport
        return transport

    def _transport(self, session_id: str) -> StreamableHTTPServerTransport:
        return StreamableHTTPServerTransport(
            mcp_session_id=session_id,
            is_json_response_enabled=self.json_response,
            event_store=self.event_store,
            security_settings=self.security_settings,
            retry_interval=self.retry_interval,
            idle_timeout=self.session_idle_timeout,
        )

    async def _adopt(self, session_id: str, claims: SessionClaims, scope: Scope, receive: Receive, send: Send) -> None:
        requestor = _requestor(scope)
        if principal_digest(requestor) != claims.principal:
            logger.warning("not adopting session %s: another credential opened it", session_id[:24])
            await Response("Session not found", status_code=404)(scope, receive, send)
            return
        async with self._session_creation_lock:
            transport = self._server_instances.get(session_id)
            if transport is None:
                transport = self._transport(session_id)
                self._server_instances[session_id] = transport
                if requestor is not None:
                    self._session_owners[session_id] = requestor
                assert self._task_group is not None
                await self._task_group.start(self._serve_adopted, transport, claims)
                self.on_adopt()
                logger.info("adopted session %s (its replica %s is gone)", session_id[:24], claims.owner)
        await transport.handle_request(scope, receive, send)

    async def _serve_adopted(
        self,
        transport: StreamableHTTPServerTransport,
        claims: SessionClaims,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        session_id = transport.mcp_session_id
        assert session_id is not None
        try:
            async with transport.connect() as (read_stream, write_stream):
                task_status.started()
                dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
                    read_stream, write_stream, inline_methods=frozenset({"initialize"})
                )
                connection = Connection.from_envelope(
                    claims.protocol_version, claims.client_info, claims.capabilities, outbound=dispatcher
                )
                connection.session_id = session_id
                idle_scope = transport.idle_scope or anyio.CancelScope()
                with idle_scope:
                    await serve_connection(
                        self.app, dispatcher, connection=connection, lifespan_state=self._lifespan_state
                    )
        except Exception:
            logger.exception("adopted session %s crashed", session_id[:24])
        finally:
            await self._discard_session(session_id, transport)


def _requestor(scope: Scope) -> AuthorizationContext | None:
    user = scope.get("user")
    return authorization_context(user) if isinstance(user, AuthenticatedUser) else None


async def _peek_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a `receive` that hands it on unchanged."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return body, replay
