"""Stopping without losing calls: a bounded drain on SIGTERM.

On the first SIGTERM/SIGINT the gateway stops accepting connections and refuses new requests (503
with a JSON-RPC error), closes the streams that only carry notifications (`GET /mcp`,
`subscriptions/listen`), lets the calls in flight finish for at most the grace period, then closes
what is still open (legacy SSE streams once no call is left, anything at the deadline); the backend
calls still running are cancelled and their servers stopped before the process exits. A second
signal skips what is left of the grace period.

Behind replicas a drain first hands over: for `--shutdown-handover` seconds the replica keeps
accepting connections (the Service is still sending some while every node learns it is going) and
passes new requests to the other replicas (see `replicas.router`), each answer closing its
connection; only then does it stop accepting and wait for its calls in flight as above.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubemcp.gateway.http_errors import send_error

logger = logging.getLogger(__name__)

# Requests that stay open by design, for notifications; they do not hold up a drain.
STREAMING_METHODS = frozenset({"subscriptions/listen"})
# Over legacy SSE a call's answer travels on the session's stream after the call has returned:
# the streams stay open this much longer once no call is left, for those answers to be written.
SSE_FLUSH_SECONDS = 0.5


class InFlight:
    """Server middleware counting the MCP requests being handled, so a drain knows when none is left."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = anyio.Event()
        self._idle.set()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method in STREAMING_METHODS:
            return await call_next(ctx)
        with self.holding():
            return await call_next(ctx)

    @contextmanager
    def holding(self) -> Iterator[None]:
        """One request being handled (the fast paths in front of the SDK count theirs with this)."""
        self.count += 1
        if self.count == 1:
            self._idle = anyio.Event()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait_idle(self) -> None:
        while self.count:
            await self._idle.wait()


class DrainingApp:
    """ASGI middleware: each HTTP request runs in a cancel scope the drain can close.

    `stream_paths` are the GET endpoints whose responses are long-lived event streams. While draining,
    new requests get 503, unless `hands_over` (replicas): then they go on to the app, which passes them
    to another replica, and every answer closes its connection so none is used again.
    """

    def __init__(self, app: ASGIApp, stream_paths: frozenset[str], hands_over: bool = False) -> None:
        self.app = app
        self.stream_paths = stream_paths
        self.hands_over = hands_over
        self.draining = False
        self._streams: set[anyio.CancelScope] = set()
        self._requests: set[anyio.CancelScope] = set()

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    async def requests_finished(self) -> None:
        """Wait until every request that is not a stream has sent its response (a call that has
        returned still has its answer to write)."""
        while self._requests:  # noqa: ASYNC110 - requests end in other tasks; polled only while draining
            await anyio.sleep(0.05)

    def begin(self) -> None:
        self.draining = True

    def close_streams(self) -> None:
        for scope in list(self._streams):
            scope.cancel()

    def close_all(self) -> None:
        self.close_streams()
        for scope in list(self._requests):
            scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.draining and not self.hands_over:
            await send_error(send, 503, "the gateway is shutting down", headers=[(b"connection", b"close")])
            return
        started = completed = False

        async def tracked(message: Message) -> None:
            nonlocal started, completed
            if message["type"] == "http.response.start":
                started = True
                if self.draining:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                completed = True
            await send(message)

        is_stream = scope["method"] == "GET" and scope["path"] in self.stream_paths
        group = self._streams if is_stream else self._requests
        with anyio.CancelScope() as cancel_scope:
            group.add(cancel_scope)
            try:
                await self.app(scope, receive, tracked)
            finally:
                group.discard(cancel_scope)
        if not cancel_scope.cancelled_caught:
            return
        # Closed by the drain: end the response properly, so the client sees an answer, not a reset.
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            if not started:
                await send_error(send, 503, "the gateway is shutting down", headers=[(b"connection", b"close")])
            elif not completed:
                await send({"type": "http.response.body", "body": b"", "more_body": False})


class Drain:
    """The drain of one gateway: `run` waits for the first stop signal and then drains."""

    def __init__(self, grace: float, inflight: InFlight) -> None:
        self.grace = grace
        self.inflight = inflight
        self.requested = anyio.Event()  # the first signal
        self.hurry = anyio.Event()  # a second signal: skip the rest of the grace period

    async def handed_over(self, seconds: float) -> None:
        """Wait `seconds` (the replicas' handover), or less if a second signal comes."""
        with anyio.move_on_after(seconds):
            await self.hurry.wait()

    def signal(self) -> None:
        if self.requested.is_set():
            self.hurry.set()
        self.requested.set()

    async def calls_finished(self, *then: Callable[[], Awaitable[None]]) -> bool:
        """Wait until no call is in flight and then for each of `then` (e.g. their answers written),
        within the grace period; a second signal ends the wait at once. Whether all finished in time."""
        finished = False
        async with anyio.create_task_group() as tg:

            async def idle() -> None:
                nonlocal finished
                with anyio.move_on_after(self.grace):
                    await self.inflight.wait_idle()
                    for step in then:
                        await step()
                    finished = True
                tg.cancel_scope.cancel()

            async def hurried() -> None:
                await self.hurry.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(idle)
            tg.start_soon(hurried)
        if not finished:
            logger.warning("cancelling %d call(s) still running at the end of the drain", self.inflight.count)
        return finished
