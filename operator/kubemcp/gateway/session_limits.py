"""Session limits for streamable HTTP: how many sessions one client may hold open.

The SDK's session manager bounds the sessions of all clients together (`--max-sessions`) and ends a
session idle for `--session-idle-timeout` seconds (no request in flight, no open GET stream). On top
of that, `SessionLimits` gives each client at most `--max-sessions-per-client`: when a client at its
cap opens another session, its least recently used idle session is closed (as its DELETE would), so
a client that never deletes its sessions neither grows the gateway without bound nor locks anyone
out, itself included. A client whose sessions are all busy gets 503 instead.

A client is its remote address, unless an earlier middleware (authentication) names it in
`scope["kubemcp.client_id"]`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubemcp.gateway.http_errors import send_error
from kubemcp.logs import RepeatLimit

logger = logging.getLogger(__name__)
logger.addFilter(RepeatLimit())

CLIENT_ID_KEY = "kubemcp.client_id"
_SESSION_HEADER = MCP_SESSION_ID_HEADER.encode()
_VERSION_HEADER = MCP_PROTOCOL_VERSION_HEADER.lower().encode()


def client_of(scope: Scope) -> str:
    named = scope.get(CLIENT_ID_KEY)
    if isinstance(named, str) and named:
        return named
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


@dataclass
class _Session:
    client: str
    user: Any  # the creating request's scope["user"]: closing it must present the same credential
    last_used: float
    in_flight: int = 0


class SessionLimits:
    def __init__(self, app: ASGIApp, *, per_client: int, idle_timeout: float | None) -> None:
        self.app = app
        self.per_client = per_client
        self.idle_timeout = idle_timeout
        self.sessions: dict[str, _Session] = {}
        self.by_client: dict[str, OrderedDict[str, None]] = {}  # least recently used first
        self.opening: dict[str, int] = {}
        self.evicted = 0

    def open_sessions(self, client: str) -> int:
        return len(self.by_client.get(client, ()))

    def snapshot(self) -> dict[str, int]:
        """Sessions known open (some may have expired since their last request), and how many were closed
        to make room for their client's newer ones."""
        return {"open": len(self.sessions), "clients": len(self.by_client), "evicted": self.evicted}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session_id = _header(scope, _SESSION_HEADER)
        if session_id is not None:
            await self._use(session_id, scope, receive, send)
        elif scope["method"] == "POST" and _header(scope, _VERSION_HEADER) in (None, *HANDSHAKE_PROTOCOL_VERSIONS):
            await self._open(scope, receive, send)  # a 2025-era initialize opens a session
        else:
            await self.app(scope, receive, send)  # 2026-07-28 requests are stateless

    async def _use(self, session_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = self.sessions.get(session_id)
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if tracked is not None:
            tracked.in_flight += 1
            self.by_client[tracked.client].move_to_end(session_id)
        try:
            await self.app(scope, receive, watched)
        finally:
            if tracked is not None:
                tracked.in_flight -= 1
                tracked.last_used = time.monotonic()
                if status == 404 or (scope["method"] == "DELETE" and 200 <= status < 300):
                    self._forget(session_id)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_of(scope)
        self._expire(client)
        if self.open_sessions(client) + self.opening.get(client, 0) >= self.per_client:
            victim = self._least_recently_used_idle(client)
            if victim is None:
                logger.warning("refusing a new session: client %s has %d busy sessions", client, self.per_client)
                await send_error(send, 503, f"too many sessions for this client ({self.per_client}, all in use)")
                return
            await self._close(victim)
        self.opening[client] = self.opening.get(client, 0) + 1
        opening = True

        def opened(session_id: str | None) -> None:
            nonlocal opening
            if not opening:
                return
            opening = False
            left = self.opening[client] - 1
            if left:
                self.opening[client] = left
            else:
                del self.opening[client]
            if session_id is not None:  # counted from the moment the client can know it
                self.sessions[session_id] = _Session(client, scope.get("user"), time.monotonic())
                self.by_client.setdefault(client, OrderedDict())[session_id] = None

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                ok = message["status"] < 400
                opened(_header_of(message.get("headers", []), _SESSION_HEADER) if ok else None)
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            opened(None)

    def _least_recently_used_idle(self, client: str) -> str | None:
        for session_id in self.by_client.get(client, ()):
            if self.sessions[session_id].in_flight == 0:
                return session_id
        return None

    async def _close(self, session_id: str) -> None:
        """End a session through the transport's own DELETE handling."""
        tracked = self.sessions[session_id]
        self._forget(session_id)
        self.evicted += 1
        logger.info("client %s is at its session limit: closing its least recently used session", tracked.client)
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "DELETE",
            "scheme": "http",
            "path": "/",
            "raw_path": b"/",
            "root_path": "",
            "query_string": b"",
            "headers": [(_SESSION_HEADER, session_id.encode())],
            "client": None,
            "server": None,
            "state": {},
        }
        if tracked.user is not None:
            scope["user"] = tracked.user

        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(message: Message) -> None:
            return None

        await self.app(scope, no_body, discard)

    def _forget(self, session_id: str) -> None:
        tracked = self.sessions.pop(session_id, None)
        if tracked is None:
            return
        mine = self.by_client.get(tracked.client)
        if mine is not None:
            mine.pop(session_id, None)
            if not mine:
                del self.by_client[tracked.client]

    def _expire(self, client: str) -> None:
        """Forget the client's sessions that the session manager has ended for being idle."""
        mine = self.by_client.get(client)
        if self.idle_timeout is None or mine is None:
            return
        horizon = time.monotonic() - self.idle_timeout
        for session_id in list(mine):  # least recently used first: stop at the first one still alive
            tracked = self.sessions[session_id]
            if tracked.in_flight or tracked.last_used >= horizon:
                return
            self._forget(session_id)


def _header(scope: Scope, name: bytes) -> str | None:
    return _header_of(scope["headers"], name)


def _header_of(headers: Any, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
