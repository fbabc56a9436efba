"""A client that goes away cancels its call: the backend request is cancelled and a per-call server stopped.

Over streamable HTTP a call runs in the session, not in the HTTP request that asked for it, so the
SDK lets it run to its end after the client has hung up. `ClientWatch` notices the disconnect of a
POST whose response has not been completed and cancels what `watched` guards for that request.
(Over legacy SSE and stdio the session itself ends with the client, which cancels its calls.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "kubemcp.client"


class ClientPresence:
    """One HTTP request's client: whether it went away, and the cancel scopes to close when it does."""

    def __init__(self) -> None:
        self.gone = False
        self._scopes: set[anyio.CancelScope] = set()

    def went_away(self) -> None:
        self.gone = True
        for scope in list(self._scopes):
            scope.cancel()

    @contextmanager
    def guard(self) -> Iterator[anyio.CancelScope]:
        scope = anyio.CancelScope()
        if self.gone:
            scope.cancel()
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)


def presence_of(request: Any) -> ClientPresence | None:
    """The presence the watch put in a request's ASGI scope (`ctx.request` is the Starlette request)."""
    scope = getattr(request, "scope", None)
    found = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    return found if isinstance(found, ClientPresence) else None


@contextmanager
def watched(request: Any) -> Iterator[anyio.CancelScope]:
    """Run the body in a cancel scope that closes when the client of `request` goes away."""
    presence = presence_of(request)
    if presence is None:
        with anyio.CancelScope() as scope:
            yield scope
        return
    with presence.guard() as scope:
        yield scope


class ClientWatch:
    """ASGI middleware for POSTs: once the body is read, watch for the client's disconnect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        presence = ClientPresence()
        scope[SCOPE_KEY] = presence
        body_read = anyio.Event()
        answered = False

        async def receiving() -> Message:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read.set()
            return message

        async def sending(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        async def watch() -> None:
            await body_read.wait()
            while (await receive())["type"] != "http.disconnect":
                pass
            if not answered:
                presence.went_away()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            try:
                await self.app(scope, receiving, sending)
            finally:
                tg.cancel_scope.cancel()
