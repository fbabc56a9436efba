"""tools/call, prompts/get and resources/read to a long-lived or per-call server answered in the HTTP
request's own task, past the SDK's transport.

A 2026-07-28 request through the SDK's streamable-HTTP transport builds a connection, a server
session, a request context and the middleware chain, validates the parameters into models, and in
SSE mode runs the handler in a task group of its own with a memory stream for its notifications.
`FastCalls` sits in front of the transport (after authentication, the Host/Origin guard, the body
limit, the JSON-RPC body check and the client watch) and, for a request the SDK would hand to the
gateway's `call_tool`, `get_prompt` or `read_resource` handler unchanged, calls `Gateway.call_tool`,
`Gateway.get_prompt` or `Gateway.read_resource` itself: routing (name prefixes included),
authorization, the argument secret scan, for a tool the observer (audit record, metrics, recent
calls) and interceptors, admission and the call timeout through `BackendPool.call`, and the result
screen all run as they do for the SDK's handler. The result is shaped by the SDK's own serializer and
written by the SDK's own writer, so the response is byte for byte the SDK's; a client that goes away
cancels the backend request as on the SDK path (`client_gone`), and the request counts as in flight
for a drain.

It takes a request only when the SDK's checks pass (Content-Type, Accept, the JSON-RPC envelope, no
duplicated routing header, the 2026-07-28 classifier, `Mcp-Param-*` headers, the method's parameter
schema, and for a prompt or resource the handler's own parameter model) and when nothing about it
needs the SDK's machinery: its parameters are the method's own and `_meta` only (no `requestState`,
no task), its `_meta` asks for neither progress nor log messages, its client declared none of
sampling, elicitation and roots (the SDK path would run the request as an exchange that can ask the
client), and the server it goes to is long-lived or per call, as the kept listing says (none kept: the
SDK's handler builds it, and so owns any server start that causes). A per-call server's instance (a
warm one taken from its pool, or one started for this call) is then told the same capabilities and
given the same hooks as on the SDK path, which builds them the same way for a 2026-07-28 client that
cannot be asked anything. A per-session server is not taken: its instances belong to client sessions.
Everything else goes to the SDK unchanged, and so does every 2025-era session request: a handshake-era
request belongs to its session (the session's idle timer and replica ownership, cancellation by a posted
`notifications/cancelled` naming its id rather than by a disconnect, log messages at the level the
session set, requests to the client over the session's streams), which only the SDK's session holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.runner import ServerRunner, modern_error_data
from mcp.server.streamable_http import CONTENT_TYPE_JSON, check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.inbound import (
    MCP_PROTOCOL_VERSION_HEADER,
    InboundModernRoute,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp_types import JSONRPCError, JSONRPCRequest, JSONRPCResponse
from mcp_types import methods as spec_methods
from mcp_types.version import LATEST_MODERN_VERSION, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

# The SDK's modern entry's own pieces, so the answer is exactly its answer (it has no public ones).
from mcp.server._streamable_http_modern import (  # isort: skip
    _SSE_HEADERS,
    _SSE_PING_INTERVAL,
    _mcp_param_rejection,
    _sse_event,
    _write,
)

from kubemcp.backend.hooks import CallHooks
from kubemcp.gateway.asgi_replay import PostShortcut
from kubemcp.gateway.client_gone import watched
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.draining import InFlight
from kubemcp.gateway.listing import Listing
from kubemcp.gateway.mcp_handlers import GatewayServer, client_went_away
from kubemcp.gateway.principal import acting_as, principal_of
from kubemcp.model.lifecycle import Lifecycle

_ASKS = ("sampling", "elicitation", "roots")
_TAKEN = frozenset({Lifecycle.LONG_LIVED, Lifecycle.PER_CALL})  # not per session: its instances are its sessions'
Message = JSONRPCResponse | JSONRPCError
Params = Mapping[str, Any]
Answer = Callable[[Gateway, Params, CallHooks], Awaitable[types.Result]]


@dataclass(frozen=True)
class Method:
    """A request method the fast path answers: its parameters, which listing routes it (tools only, or
    the full one), the served server it goes to there, and the gateway's call for it."""

    params: frozenset[str]
    full: bool
    server_of: Callable[[Listing, Params], str | None]
    call: Answer
    typed: bool  # validate the parameters into the handler's model too (the kernel does before the handler)


def _tool_server(listing: Listing, params: Params) -> str | None:
    name = params.get("name")
    route = listing.tool_routes.get(name) if isinstance(name, str) else None
    return route.server if route is not None else None


def _prompt_server(listing: Listing, params: Params) -> str | None:
    name = params.get("name")
    route = listing.prompt_routes.get(name) if isinstance(name, str) else None
    return route.server if route is not None else None


def _resource_server(listing: Listing, params: Params) -> str | None:
    uri = params.get("uri")
    owner = listing.resource_owner(uri) if isinstance(uri, str) else None
    return owner[0] if owner is not None else None


METHODS: dict[str, Method] = {
    "tools/call": Method(
        params=frozenset({"name", "arguments", "_meta"}),
        full=False,
        server_of=_tool_server,
        call=lambda gateway, params, hooks: gateway.call_tool(params["name"], params.get("arguments"), hooks),
        typed=False,
    ),
    "prompts/get": Method(
        params=frozenset({"name", "arguments", "_meta"}),
        full=True,
        server_of=_prompt_server,
        call=lambda gateway, params, hooks: gateway.get_prompt(params["name"], params.get("arguments"), hooks),
        typed=True,
    ),
    "resources/read": Method(
        params=frozenset({"uri", "_meta"}),
        full=True,
        server_of=_resource_server,
        call=lambda gateway, params, hooks: gateway.read_resource(params["uri"], hooks),
        typed=True,
    ),
}


async def _ignore_progress(progress: float, total: float | None, message: str | None) -> None:
    """A request without a progress token gets no progress (the SDK's `report_progress` drops it too)."""


def _capabilities(raw: Any) -> types.ClientCapabilities | None:
    """The envelope's client capabilities as the SDK's connection records them (None when mis-shaped)."""
    if raw is None:
        return None
    try:
        return types.ClientCapabilities.model_validate(raw)
    except ValidationError:
        return None


class FastCalls(PostShortcut):
    """ASGI middleware in front of the streamable-HTTP transport (see the module's description).
    `served` counts the requests it answered, `by_method` the same per method."""

    method_bytes = tuple(json.dumps(method).encode() for method in METHODS)

    def __init__(
        self,
        app: ASGIApp,
        *,
        gateway: Gateway,
        server: GatewayServer,
        manager: StreamableHTTPSessionManager,
        inflight: InFlight | None,
    ) -> None:
        super().__init__(app)
        self.gateway = gateway
        self.server = server
        self.manager = manager
        self.inflight = inflight
        self.by_method: Counter[str] = Counter()
        # Shapes results as the SDK's request kernel does (its serializer needs nothing of a connection).
        self._runner = ServerRunner(server, Connection.from_envelope(LATEST_MODERN_VERSION, None, None), None)

    async def answer(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> bool:
        """As `handle_modern_request` would answer it (its checks, in its order, up to the handler)."""
        request = Request(scope)
        headers = request.headers
        version_header = headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if version_header is None or version_header not in MODERN_PROTOCOL_VERSIONS:
            return False
        content_type = headers.get("content-type")
        if content_type is None or not content_type.lower().startswith(CONTENT_TYPE_JSON):
            return False
        has_json, has_sse = check_accept_headers(request)
        if not has_json or (not self.manager.json_response and not has_sse):
            return False
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            return False
        if not isinstance(decoded, dict) or "id" not in decoded:
            return False
        method_name = decoded.get("method")
        if not isinstance(method_name, str) or (method := METHODS.get(method_name)) is None:
            return False
        params = decoded.get("params")
        if not isinstance(params, dict) or not params.keys() <= method.params:
            return False
        meta = params.get("_meta")
        if not isinstance(meta, dict) or "progressToken" in meta or types.LOG_LEVEL_META_KEY in meta:
            return False
        try:
            req = JSONRPCRequest.model_validate(decoded)
        except ValidationError:
            return False
        if find_duplicated_routing_header(headers.items()) is not None:
            return False
        verdict = classify_inbound_request(decoded, headers=dict(headers))
        if not isinstance(verdict, InboundModernRoute) or verdict.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            return False
        capabilities = _capabilities(verdict.client_capabilities)
        if capabilities is not None and any(getattr(capabilities, ask) is not None for ask in _ASKS):
            return False  # the SDK path runs the request as an exchange that can ask the client
        if method_name in self.server.cache_hints:
            return False
        # Before anything that may list the tools (the Mcp-Param check does): a request that finds no kept
        # listing is the SDK's, whose handler builds the listing inside the request (so the request owns any
        # server start that causes, as a tool call's audit record and metrics say).
        if not self._takes(method, params):
            return False
        if await _mcp_param_rejection(self.server, request, req, verdict, None) is not None:
            return False
        version = verdict.protocol_version
        try:
            spec_methods.validate_client_request(method_name, version, params)
            if method.typed:
                entry = self.server.get_request_handler(method_name)
                if entry is None:
                    return False
                entry.params_type.model_validate(params, by_name=False)
        except (KeyError, ValidationError, ValueError, TypeError):
            return False
        hooks = CallHooks(on_progress=_ignore_progress, capabilities=capabilities, modern=True, meta=meta)
        with acting_as(principal_of(request, http=True)):
            answer = self._call(req.id, method_name, version, lambda: method.call(self.gateway, params, hooks), request)
            if self.manager.json_response:
                await _write(await answer, scope, receive, send)
            else:
                await _answer_in_sse_window(answer, scope, receive, send)
        self.by_method[method_name] += 1
        return True

    def _takes(self, method: Method, params: Params) -> bool:
        """Whether the request goes to a long-lived or per-call server, as the kept listing says (False: no
        listing kept yet, or the name is unknown there; the SDK's handler then builds the listing inside the
        request)."""
        listing = self.gateway.kept_listing(full=method.full)
        server = method.server_of(listing, params) if listing is not None else None
        spec = self.gateway.specs.get(server) if server is not None else None
        return spec is not None and spec.lifecycle in _TAKEN

    async def _call(
        self, request_id: Any, method: str, version: str, call: Callable[[], Awaitable[types.Result]], request: Request
    ) -> Message:
        """The call as the SDK's kernel runs the gateway's handler, and its outcome as a JSON-RPC message."""
        with self.inflight.holding() if self.inflight is not None else nullcontext():
            try:
                with watched(request) as guard:
                    result = await call()
                    return JSONRPCResponse(
                        jsonrpc="2.0", id=request_id, result=self._runner._serialize(method, version, result)
                    )
                assert guard.cancelled_caught
                raise client_went_away()
            except Exception as exc:
                return JSONRPCError(jsonrpc="2.0", id=request_id, error=modern_error_data(exc))


async def _answer_in_sse_window(answer: Awaitable[Message], scope: Scope, receive: Receive, send: Send) -> None:
    """As the SDK's SSE mode answers: JSON if the call ends within its window, else an event stream
    committed when the window elapses, kept alive with pings, that ends with the answer's event."""
    committed = False

    async def keep_alive() -> None:
        nonlocal committed
        await anyio.sleep(_SSE_PING_INTERVAL)
        with anyio.CancelScope(shield=True):
            committed = True
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        while True:
            with anyio.CancelScope(shield=True):
                await send({"type": "http.response.body", "body": b": ping\r\n\r\n", "more_body": True})
            await anyio.sleep(_SSE_PING_INTERVAL)

    async with anyio.create_task_group() as tg:
        tg.start_soon(keep_alive)
        message = await answer
        tg.cancel_scope.cancel()
    if committed:
        await send({"type": "http.response.body", "body": _sse_event(message), "more_body": False})
    else:
        await _write(message, scope, receive, send)
