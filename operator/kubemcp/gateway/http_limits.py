"""Limits for HTTP peers that stall: how long a request's head and body may take, and how many
connections may be open at once (always fewer than the file descriptors the process may use).

- A request head must be complete within `header_timeout` seconds of its first byte (a slow-header
  "slowloris" client), on a new connection as on a kept-alive one; otherwise the connection gets 408.
- A connection that has sent nothing yet is idle, not slow: like a connection idle between requests
  it is kept `idle_timeout` seconds (`--keep-alive-timeout`), then answered 408. Under load a client
  process lagging behind its own sockets connects (the kernel completes the handshake) and writes its
  request many seconds later: counted from the connection, the head deadline answered such clients 408
  although they were about to send a whole request at once. Idle connections are bounded by the
  connection cap (below) rather than by a short deadline.
- After a 408 for a request that never came the connection is closed in stages: the gateway stops
  writing (the client reads the 408, then the end of the stream), reads and drops what the client
  still sends until the client closes, for up to `idle_timeout` (or `LINGER_BYTES`), then closes. A
  request that reaches a closed socket is answered by the kernel with a reset, and a client that is
  still writing (head and body are separate writes) then loses the 408 it has not read yet: its
  transport fails the write and drops what it had received (httpx: ReadError; the mcp SDK client:
  "Connection closed"). Lagging clients write late, so the gateway lingers as long as it would have
  kept the connection idle; at the connection cap lingering connections are closed first.
- A connection idle between requests (keep-alive) is closed silently after `keep_alive_timeout`
  seconds by uvicorn: a client reuses its idle connections until its own pool expiry (httpx: 5 s,
  measured from when *it* read the response), so idle connections must outlive the clients' pool
  expiry, by more than a loaded client lags behind.
- A request body must arrive within `body_timeout` seconds (`BodyReadTimeout`), or 408.
- At `max_connections` open connections, the connection that has waited longest for a request head
  is closed to make room; when none is waiting, the new connection gets 503. Real clients send their
  head at once, so a flood of idle or slow connections never locks them out.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from kubemcp.gateway.http_errors import error_body, send_error
from kubemcp.logs import RepeatLimit

logger = logging.getLogger(__name__)
logger.addFilter(RepeatLimit())

# File descriptors kept for everything that is not a client connection: backend servers' pipes,
# files, the Kubernetes API.
FD_RESERVE_MIN = 64
# After a 408 for a request that never came: how many bytes the client may still send (read and
# dropped) before the connection is closed; the time is the idle timeout.
LINGER_BYTES = 64 * 1024


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_budget(wanted: int) -> tuple[int, int]:
    """(connections open at once, connections accepted in one burst): `wanted` lowered so that
    connections never exhaust the file descriptors. Connections are accepted in bursts of up to the
    listen backlog before any of them can be refused, so the burst is bounded too."""
    soft = raise_fd_limit()
    reserve = max(FD_RESERVE_MIN, soft // 4)
    burst = max(8, min(2048, reserve // 4))
    cap = max(1, min(wanted, soft - reserve))
    if cap < wanted:
        logger.warning(
            "at most %d connections at once (not %d): the process may open %d files and keeps %d for servers",
            cap,
            wanted,
            soft,
            reserve,
        )
    return cap, burst


def _raw_error(status: int, reason: str, message: str) -> bytes:
    body = error_body(-32600 if status < 500 else -32603, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + body


class Limits:
    """The limits of one HTTP server, and the connections waiting for a request head (oldest first)."""

    def __init__(self, *, max_connections: int, header_timeout: float, idle_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout  # a connection that has sent nothing yet; lingering after a 408
        # Waiting for a request: new connections (their head timer armed) and idle keep-alive ones.
        self.waiting: OrderedDict[LimitedH11Protocol, None] = OrderedDict()
        # Answered 408 and no longer writing, dropping what still arrives (oldest first).
        self.lingering: OrderedDict[LimitedH11Protocol, None] = OrderedDict()
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0

    def protocol(self) -> type[LimitedH11Protocol]:
        """The uvicorn protocol class that applies these limits."""
        limits = self

        class Protocol(LimitedH11Protocol):
            pass

        Protocol.limits = limits
        return Protocol


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline, a connection cap and JSON-RPC error bodies."""

    limits: Limits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._timing_head = False  # the timer is the head deadline (not the idle one of a new connection)
        self._cycle_when_armed: object = None
        self._refused = False
        self._linger_timer: asyncio.TimerHandle | None = None
        self._dropped = -1  # bytes read and dropped while lingering; -1: not lingering

    # -- the connection cap --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        limits = self.limits
        if len(self.connections) >= limits.max_connections and not self._evict_oldest_waiting():
            self._refused = True
            self.transport = transport
            limits.refused += 1
            logger.warning("refusing connections: %d are open (the limit)", len(self.connections))
            transport.write(_raw_error(503, "Service Unavailable", "too many connections; try again later"))
            transport.close()
            return
        super().connection_made(transport)
        self._arm_timer(self.limits.idle_timeout, head=False)

    def _evict_oldest_waiting(self) -> bool:
        lingering = self.limits.lingering
        if lingering:  # already answered: closing it loses nothing
            oldest, _ = lingering.popitem(last=False)
            oldest._end_linger()
            return True
        waiting = self.limits.waiting
        while waiting:
            oldest, _ = waiting.popitem(last=False)
            if oldest.transport is not None and not oldest.transport.is_closing():
                self.limits.evicted += 1
                logger.warning("at the connection limit: closing the connection that waited longest for a request")
                oldest._give_up(408, "Request Timeout", "closed to make room: no request arrived")
                return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm_head_timer()
        self._stop_lingering()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._dropped >= 0:  # answered already: what crossed the 408 is dropped
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self._end_linger()
            return
        super().data_received(data)
        if self.cycle is not self._cycle_when_armed:
            self._disarm_head_timer()  # a request head arrived
        elif not self._timing_head and (self.cycle is None or self.cycle.response_complete):
            self._arm_timer(self.limits.header_timeout, head=True)  # a head's first bytes: it has a deadline

    # -- the request-head deadline -------------------------------------------------------------

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle is not None and self.cycle.response_complete:
            # Idle keep-alive: no head deadline (uvicorn closes it after the keep-alive timeout), but
            # it waits for a request, so at the connection cap it may be closed to make room.
            self._cycle_when_armed = self.cycle
            self.limits.waiting[self] = None

    def _arm_timer(self, seconds: float, *, head: bool) -> None:
        self._disarm_head_timer()
        self._cycle_when_armed = self.cycle
        self._timing_head = head
        self._head_timer = self.loop.call_later(seconds, self._timed_out)
        self.limits.waiting[self] = None

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._timing_head = False
        self.limits.waiting.pop(self, None)

    def _timed_out(self) -> None:
        head = self._timing_head
        self._disarm_head_timer()
        if self.cycle is self._cycle_when_armed and not self.transport.is_closing():
            self.limits.timed_out += 1
            if head:
                logger.info(
                    "closing a connection whose request head was not complete in %gs", self.limits.header_timeout
                )
                message = f"no complete request within {self.limits.header_timeout:g}s"
            else:
                logger.info("closing a connection that sent nothing in %gs", self.limits.idle_timeout)
                message = f"no request within {self.limits.idle_timeout:g}s"
            self._give_up(408, "Request Timeout", message, linger=True)

    def _give_up(self, status: int, reason: str, message: str, *, linger: bool = False) -> None:
        self._disarm_head_timer()
        if self.cycle is None or self.cycle.response_complete:
            # Between requests nothing has been answered on the wire yet: answer before closing.
            self.transport.write(_raw_error(status, reason, message))
        if not linger or not self.transport.can_write_eof():
            self.transport.close()
            return
        # Closed now, a request already on its way would be answered with a reset, not the 408.
        self.transport.write_eof()
        self.transport.resume_reading()
        self._dropped = 0
        self._linger_timer = self.loop.call_later(self.limits.idle_timeout, self._end_linger)
        self.limits.lingering[self] = None

    def _stop_lingering(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        self.limits.lingering.pop(self, None)

    def _end_linger(self) -> None:
        self._stop_lingering()
        self.transport.close()

    # -- uvicorn's own refusals in JSON-RPC ----------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_raw_error(400, "Bad Request", msg))
        self.transport.close()


class BodyReadTimeout:
    """ASGI middleware: a request body must arrive within `seconds` of the request head, else 408.

    On the deadline the application is told the client went away (`http.disconnect`), so it stops
    waiting for the body, and the 408 is sent once it has returned."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.seconds
        body_done = timed_out = started = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            with anyio.move_on_after(max(deadline - anyio.current_time(), 0)) as waited:
                message = await receive()
            if waited.cancelled_caught:
                timed_out = body_done = True
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, timed_receive, tracked_send)
        if timed_out and not started:
            logger.info("closing a request whose body did not arrive within %gs", self.seconds)
            await send_error(
                send,
                408,
                f"the request body did not arrive within {self.seconds:g}s",
                headers=[(b"connection", b"close")],
            )
