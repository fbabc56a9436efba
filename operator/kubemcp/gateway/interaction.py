"""One client request's backend call, with whatever the backend asks the client on the way.

A handshake-era client is asked directly (`client_sessions.ask_over_session`). A 2026-07-28 client
is answered with `InputRequiredResult` rounds while the call waits (`exchanges`); a 2026-07-28
client that declared none of sampling, elicitation and roots cannot be asked anything, so its call
runs directly and a backend's question gets the error the spec prescribes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from kubemcp.backend.hooks import CallHooks
from kubemcp.backend.relay import relayable
from kubemcp.gateway.client_sessions import ClientSessionState, is_modern, session_hooks, session_state
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.exchanges import Exchange, run_round, start

Ctx = ServerRequestContext[Any, Any]
R = TypeVar("R")


def session_of(gateway: Gateway, ctx: Ctx) -> ClientSessionState | None:
    return session_state(ctx, gateway.session_closed)


def hooks_for(gateway: Gateway, ctx: Ctx) -> CallHooks:
    return session_hooks(ctx, session_of(gateway, ctx))


async def interact(
    gateway: Gateway, ctx: Ctx, request_state: str | None, call: Callable[[CallHooks], Awaitable[R]]
) -> R | types.InputRequiredResult:
    hooks = hooks_for(gateway, ctx)
    if not is_modern(ctx):
        return await call(hooks)
    if request_state is None:
        asks = relayable(ctx.session.client_capabilities)
        if asks.sampling is None and asks.elicitation is None and asks.roots is None:
            return await call(hooks)
        if gateway.tg is None:
            raise RuntimeError("the gateway is not running")

        def begin(exchange: Exchange) -> Awaitable[R]:
            on_log = exchange.on_log if hooks.on_log is not None else None
            asking = dataclasses.replace(hooks, on_log=on_log, on_progress=exchange.on_progress, ask=exchange.ask)
            return call(asking)

        exchange = start(gateway.exchanges, gateway.tg, begin)
    else:
        found = gateway.exchanges.get(request_state)
        if found is None:
            raise MCPError(types.INVALID_PARAMS, "Invalid or expired requestState", {"reason": "invalid_request_state"})
        exchange = found
        exchange.answer((ctx.params or {}).get("inputResponses"))
    outcome: R | types.InputRequiredResult = await run_round(
        gateway.exchanges, exchange, hooks.on_log, hooks.on_progress
    )
    return outcome
