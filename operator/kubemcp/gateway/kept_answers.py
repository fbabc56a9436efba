"""Kept tools/list answers written straight onto the HTTP response, past the SDK's transport.

`listing_cache` keeps each view's rendered `tools/list` result, but the SDK's streamable-HTTP
transport still wraps it in a `JSONRPCResponse`, dumps it again and encodes it per request: with
1,000 tools, hundreds of KiB and tens of milliseconds every time. `KeptAnswers` sits in front of the
transport (after authentication, the Host/Origin guard, the body limit and the JSON-RPC body check)
and, when the caller's view has a kept answer for the request's protocol version, writes that
answer's encoded bytes with the request's id spliced in: the same bytes and framing the SDK would
send for the request (its JSON body for a 2026-07-28 request; for a 2025-era session, its SSE event
or, in JSON-response mode, its JSON body, with the session header).

It takes only requests the SDK would answer with exactly that result, checked with the SDK's own
functions: a `tools/list` with no parameters but `_meta`, the headers the SDK requires (Accept,
Content-Type, protocol version, no duplicated routing header), a valid 2026-07-28 envelope, or a
live session of the same credential whose `initialize` was accepted and whose tools/list went
through the SDK once (which records the session's negotiated version). Everything else, and every
request before its view's answer is kept, goes to the SDK unchanged, so its answers and errors are
the SDK's own.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_SSE,
    MCP_SESSION_ID_HEADER,
    StreamableHTTPServerTransport,
    check_accept_headers,
)
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.inbound import (
    MCP_PROTOCOL_VERSION_HEADER,
    InboundModernRoute,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp_types import PROTOCOL_VERSION_META_KEY, JSONRPCRequest, JSONRPCResponse, jsonrpc_message_adapter
from mcp_types import methods as spec_methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from pydantic_core import from_json, to_json
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kubemcp.gateway.asgi_replay import PostShortcut
from kubemcp.gateway.listing import Listing
from kubemcp.gateway.principal import acting_as, principal_of

METHOD = "tools/list"
_METHOD_BYTES = b'"tools/list"'
# An id no client sends (a NUL cannot be typed into most): where the request's id goes in a kept answer.
_PLACEHOLDER = "\x00kubemcp-request-id\x00"
MODERN, SESSION = "modern", "session"


class SessionConnections:
    """The connection behind each 2025-era session that has listed tools through the SDK, by session id.

    Recorded by `listing_cache.ListingCache` (a server middleware sees the connection, the transport
    does not); a connection is forgotten with its session.
    """

    def __init__(self) -> None:
        self._by_id: weakref.WeakValueDictionary[str, Connection] = weakref.WeakValueDictionary()

    def note(self, ctx: ServerRequestContext[Any, Any], connection: Connection) -> None:
        headers = getattr(ctx.request, "headers", None)
        session_id = headers.get(MCP_SESSION_ID_HEADER) if headers is not None else None
        if isinstance(session_id, str) and self._by_id.get(session_id) is not connection:
            self._by_id[session_id] = connection

    def get(self, session_id: str) -> Connection | None:
        return self._by_id.get(session_id)


def _plain(decoded: Any) -> bool:
    """A tools/list request with no parameters but `_meta` (what `ListingCache` answers from its kept result)."""
    if not isinstance(decoded, dict) or decoded.get("method") != METHOD:
        return False
    request_id = decoded.get("id")
    if type(request_id) is not int and type(request_id) is not str:
        return False
    params = decoded.get("params")
    return params is None or (isinstance(params, dict) and all(key == "_meta" for key in params))


def _spec_valid(version: str, params: Any) -> bool:
    try:
        spec_methods.validate_client_request(METHOD, version, params)
    except (KeyError, ValidationError, ValueError, TypeError):
        return False
    return True


def _split(encoded: str) -> tuple[str, str]:
    head, placeholder, tail = encoded.partition(json.dumps(_PLACEHOLDER))
    if not placeholder:  # pragma: no cover - the envelope always carries the id
        raise ValueError("kept answer without its id")
    return head, tail


def modern_wire(result: dict[str, Any]) -> tuple[bytes, bytes]:
    """A 2026-07-28 answer's JSON body around its id, encoded as the SDK's modern entry encodes it."""
    body = JSONRPCResponse(jsonrpc="2.0", id=_PLACEHOLDER, result=dict(result)).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    head, tail = _split(json.dumps(body, separators=(",", ":")))
    return head.encode(), tail.encode()


def session_wire(result: dict[str, Any]) -> tuple[str, str]:
    """A 2025-era session's answer around its id, as the SDK's session transport encodes it."""
    message = JSONRPCResponse(jsonrpc="2.0", id=_PLACEHOLDER, result=dict(result))
    encoded = message.model_dump_json(by_alias=True, exclude_unset=True)
    head, tail = encoded.split(to_json(_PLACEHOLDER).decode(), 1)
    return head, tail


def kept_wire(view: Listing, version: str, kind: str) -> tuple[Any, Any] | None:
    """The view's kept answer for `version` as `kind` wants it, encoded once and kept with the view."""
    key = (version, kind)
    found = view.wire.get(key)
    if found is None:
        rendered = view.rendered.get(version)
        if rendered is None:
            return None
        found = modern_wire(rendered) if kind == MODERN else session_wire(rendered)
        view.wire[key] = found
    return found


class KeptAnswers(PostShortcut):
    """ASGI middleware in front of the streamable-HTTP transport (see the module's description)."""

    method_bytes = (_METHOD_BYTES,)

    def __init__(
        self,
        app: ASGIApp,
        *,
        view: Callable[[], Listing | None],
        manager: StreamableHTTPSessionManager,
        connections: SessionConnections,
    ) -> None:
        super().__init__(app)
        self.view = view  # the current principal's view of the kept listing, None while none is kept
        self.manager = manager
        self.connections = connections

    async def answer(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> bool:
        request = Request(scope)
        content_type = request.headers.get("content-type")
        if content_type is None or not content_type.lower().startswith(CONTENT_TYPE_JSON):
            return False
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            return False
        if not _plain(decoded):
            return False
        version_header = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if version_header is not None and version_header not in HANDSHAKE_PROTOCOL_VERSIONS:
            return await self._modern(scope, request, decoded, receive, send)
        return await self._session(scope, request, body, decoded, receive, send)

    def _wire(self, request: Request, version: str, params: Any, kind: str) -> tuple[Any, Any] | None:
        """The kept answer's bytes around its id for the caller's view, if the params pass the schema."""
        if not _spec_valid(version, params):
            return None
        with acting_as(principal_of(request, http=True)):
            view = self.view()
        return kept_wire(view, version, kind) if view is not None else None

    async def _modern(
        self, scope: Scope, request: Request, decoded: dict[str, Any], receive: Receive, send: Send
    ) -> bool:
        """As `handle_modern_request` would answer it (its checks, in its order, up to the handler)."""
        has_json, has_sse = check_accept_headers(request)
        if not has_json or (not self.manager.json_response and not has_sse):
            return False
        try:
            JSONRPCRequest.model_validate(decoded)
        except ValidationError:
            return False
        if find_duplicated_routing_header(request.headers.items()) is not None:
            return False
        verdict = classify_inbound_request(decoded, headers=dict(request.headers))
        if not isinstance(verdict, InboundModernRoute) or verdict.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            return False
        version = verdict.protocol_version
        wire = self._wire(request, version, decoded.get("params"), MODERN)
        if wire is None:
            return False
        head, tail = wire
        encoded = b"".join((head, json.dumps(decoded["id"]).encode(), tail))
        await Response(encoded, media_type=CONTENT_TYPE_JSON)(scope, receive, send)
        return True

    async def _session(
        self, scope: Scope, request: Request, body: bytes, decoded: dict[str, Any], receive: Receive, send: Send
    ) -> bool:
        """As the session manager and the session's transport would answer it."""
        session_id = request.headers.get(MCP_SESSION_ID_HEADER)
        if session_id is None:
            return False
        transport = self.manager._server_instances.get(session_id)  # the SDK has no public lookup
        if transport is None or transport.is_terminated:
            return False
        user = scope.get("user")
        requestor = authorization_context(user) if isinstance(user, AuthenticatedUser) else None
        if requestor != self.manager._session_owners.get(session_id):
            return False  # the SDK answers "Session not found"
        idle = transport.idle_scope
        if idle is not None and idle.cancel_called:
            return False
        has_json, has_sse = check_accept_headers(request)
        if not has_json or (not transport.is_json_response_enabled and not has_sse):
            return False
        if not transport._check_content_type(request):
            return False
        try:  # parsed again as the transport parses it
            message = jsonrpc_message_adapter.validate_python(from_json(body), by_name=False)
        except (ValueError, ValidationError):
            return False
        if not isinstance(message, JSONRPCRequest):
            return False
        connection = self.connections.get(session_id)
        if connection is None or not connection.initialize_accepted:
            return False
        params = message.params
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY in meta:
            return False  # the SDK refuses a 2026-07-28 envelope on a session
        version = connection.protocol_version
        wire = self._wire(request, version, params, SESSION)
        if wire is None:
            return False
        head, tail = wire
        data = f"{head}{to_json(message.id).decode()}{tail}"
        with _held(transport):
            if transport.is_json_response_enabled:
                headers = {"Content-Type": CONTENT_TYPE_JSON, MCP_SESSION_ID_HEADER: session_id}
                await Response(data, headers=headers)(scope, receive, send)
            else:
                await _sse_answer(data, session_id)(scope, receive, send)
        return True


def _sse_answer(data: str, session_id: str) -> EventSourceResponse:
    headers = {
        "Cache-Control": "no-cache, no-transform",
        "Connection": "keep-alive",
        "Content-Type": CONTENT_TYPE_SSE,
        MCP_SESSION_ID_HEADER: session_id,
    }

    async def one_event() -> Any:
        yield {"event": "message", "data": data}

    return EventSourceResponse(content=one_event(), headers=headers)


@contextmanager
def _held(transport: StreamableHTTPServerTransport) -> Iterator[None]:
    """A request in flight on a session holds off its idle timeout, as the transport's `handle_request` does."""
    idle, timeout = transport.idle_scope, transport._idle_timeout
    if idle is None or timeout is None:
        yield
        return
    transport._requests_in_flight += 1
    idle.deadline = math.inf
    try:
        yield
    finally:
        transport._requests_in_flight -= 1
        if not transport._requests_in_flight:
            idle.deadline = anyio.current_time() + timeout
