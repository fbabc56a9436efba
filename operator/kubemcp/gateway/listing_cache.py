"""tools/list answered from its rendered wire form, kept for as long as the listing it renders.

Rendering a listing for the wire (the SDK validates a handler's result against the protocol
version's schema and dumps it twice) costs far more than building it: with 1,000 tools, tens of
milliseconds per request. The served listing and each caller's view of it are kept until the
served set or a server's offerings change (`Gateway.served_listing`, `authz`), so their rendering
can be kept with them: the first `tools/list` of a view and protocol version goes through the whole
pipeline, later ones return its result. A new listing (files edited, a server discovered) is a new
object with nothing rendered yet, so a stale answer cannot be served.

Only requests that the full pipeline would answer alike are served from it: no parameters but
`_meta` (a cursor, or anything else, takes the usual path with its validation) and, for
handshake-era sessions, an accepted `initialize`. Such a session's connection is recorded for
`kept_answers`, which then writes later answers over HTTP without going through the SDK at all.
"""

from __future__ import annotations

from typing import Any

from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from kubemcp.gateway.core import Gateway
from kubemcp.gateway.kept_answers import SessionConnections

METHOD = "tools/list"


class ListingCache:
    """Server middleware, inside the principal's binding (the view depends on the caller)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.connections = SessionConnections()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != METHOD or not self._plain(ctx):
            return await call_next(ctx)
        connection = getattr(ctx.session, "_connection", None)
        if isinstance(connection, Connection) and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self.connections.note(ctx, connection)
        view = await self.gateway.listing(full=False)
        version = ctx.protocol_version
        rendered = view.rendered.get(version)
        if rendered is not None:
            return rendered
        result = await call_next(ctx)
        if isinstance(result, dict):
            view.rendered[version] = result
        return result

    @staticmethod
    def _plain(ctx: ServerRequestContext[Any, Any]) -> bool:
        if ctx.params and any(key != "_meta" for key in ctx.params):
            return False
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return True
        connection = getattr(ctx.session, "_connection", None)  # no public accessor from a request context
        return isinstance(connection, Connection) and connection.initialize_accepted
