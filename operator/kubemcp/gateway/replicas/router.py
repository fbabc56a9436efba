"""Routing a request of a session to the replica that owns it.

Streamable HTTP (`/mcp` with an `Mcp-Session-Id`) and legacy SSE posts (`/message/<owner>/...`)
reaching a replica that does not hold the session are forwarded to the owner, streamed both ways
(responses, SSE streams) and with the client's headers, so the owner authenticates the caller as
if it had been reached directly. When the owner is gone, the adopting replica serves the session
from its ID. A forwarded request carries a signed header, so no client can make a replica adopt a
session it was not handed.

A draining replica (stopping, `Peers.draining`) hands its work over while the Service still sends it
some: requests of its own sessions go to the replica that adopts them (except the answers and
notifications that belong to its calls still in flight), and new sessions and stateless requests
go to a ready replica. Only a draining replica forwards a forwarded request again, so a request
takes at most `MAX_HOPS` hops.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable

import anyio
import httpx2
from starlette.types import ASGIApp, Receive, Scope, Send

from kubemcp.gateway.asgi_replay import replaying, whole_body
from kubemcp.gateway.replicas.peers import Peers
from kubemcp.gateway.replicas.session_ids import SessionClaims, SessionIds
from kubemcp.signing import Signer

logger = logging.getLogger(__name__)

FORWARDED = "x-kubemcp-forwarded"
ADOPT_KEY = "kubemcp.adopt"
SESSION_HEADER = b"mcp-session-id"
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
    b"te",
    b"trailer",
    b"host",
    b"content-length",
    FORWARDED.encode(),
}
FORWARD_FRESH_SECONDS = 60
MAX_HOPS = 2  # client -> any replica -> the draining owner -> the adopter
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ReplicaRouter:
    """ASGI middleware in front of the MCP routes; `holds(session_id)` says whether this replica has it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        ids: SessionIds,
        peers: Peers,
        holds: Callable[[str], bool],
        sse_prefix: str | None = None,
        mcp_paths: frozenset[str] = frozenset(),
        client: httpx2.AsyncClient | None = None,
    ) -> None:
        self.app = app
        self.ids = ids
        self.peers = peers
        self.holds = holds
        self.sse_prefix = sse_prefix
        self.mcp_paths = mcp_paths  # where a draining replica sends new sessions to another one
        self.client = client or httpx2.AsyncClient(timeout=httpx2.Timeout(10.0, read=None, write=30.0))

    @property
    def signer(self) -> Signer:
        return self.ids.signer

    def _hops(self, scope: Scope) -> int:
        """How many times this request was forwarded to get here (0: straight from a client)."""
        value = _header(scope, FORWARDED.encode())
        if value is None:
            return 0
        claims = self.signer.verify(value)
        fresh = claims is not None and abs(time.time() - float(claims.get("t", 0))) < FORWARD_FRESH_SECONDS
        if not (fresh and claims is not None and claims.get("to") == self.peers.address):
            return 0
        hops = claims.get("h", 1)
        return hops if isinstance(hops, int) and hops > 0 else 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hops = self._hops(scope)
        body: bytes | None = None
        if self.peers.draining and scope["method"] in BODY_METHODS:
            # Whether a request of this replica's session is handed over depends on what it carries.
            body, disconnected = await _read_body(receive)
            if disconnected:
                return
            receive = replaying(whole_body(body), receive)
        target = self._route(scope, hops, body)
        if target is None:
            await self.app(scope, receive, send)
            return
        if body is None:
            body = b""
            if scope["method"] in BODY_METHODS:
                body, disconnected = await _read_body(receive)
                if disconnected:
                    return
                receive = replaying(whole_body(body), receive)
        for _ in range(3):
            if await self._proxy(target, scope, receive, send, body, hops + 1):
                return
            # It did not answer: it is gone. The next choice (in the end, this replica) serves the session.
            self.peers.update(self.peers.ready - {target}, self.peers.serving - {target})
            next_target = self._route(scope, hops, body)
            if next_target is None:
                break
            target = next_target
        await self.app(scope, receive, send)

    def _route(self, scope: Scope, hops: int, body: bytes | None) -> str | None:
        """Where to forward this request, or None to serve it here (adopting its session if need be)."""
        path: str = scope.get("path", "")
        if self.sse_prefix is not None and path.startswith(self.sse_prefix):
            owner = self._sse_owner(path)
            if owner is None or owner == self.peers.address or hops:
                return None
            return owner
        handing_over = self.peers.draining and hops < MAX_HOPS
        session_id = _header(scope, SESSION_HEADER)
        if session_id is None:
            if handing_over and path in self.mcp_paths:
                return self._elsewhere(secrets.token_hex(8))  # a new session or a stateless request
            return None
        if self.holds(session_id):
            if handing_over and _hands_over(scope["method"], body):
                return self._elsewhere(session_id)
            return None
        claims = self.ids.read(session_id)
        if claims is None:
            return None  # not ours: the session manager answers 404
        if hops:
            if handing_over and (adopter := self._elsewhere(session_id)) is not None:
                return adopter
            scope[ADOPT_KEY] = claims
            return None
        if claims.owner != self.peers.address and self.peers.reachable(claims.owner):
            return claims.owner
        adopter = self.peers.adopter(session_id)
        if adopter == self.peers.address:
            scope[ADOPT_KEY] = claims
            return None
        return adopter

    def _elsewhere(self, key: str) -> str | None:
        """The ready replica that takes `key` over from this one, or None when there is no other."""
        adopter = self.peers.adopter(key)
        return None if adopter == self.peers.address else adopter

    def _sse_owner(self, path: str) -> str | None:
        assert self.sse_prefix is not None
        token = path[len(self.sse_prefix) :].split("/", 1)[0]
        claims = self.signer.verify(token)
        owner = claims.get("o") if claims is not None else None
        return owner if isinstance(owner, str) else None

    async def _proxy(self, target: str, scope: Scope, receive: Receive, send: Send, body: bytes, hops: int) -> bool:
        """Forward the request to `target`; False when `target` could not be reached (nothing was sent)."""
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        headers.append((FORWARDED.encode(), self.signer.sign({"to": target, "t": time.time(), "h": hops}).encode()))
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"http://{target}{scope.get('raw_path', b'').decode('latin-1') or scope['path']}"
        if query and "?" not in url:
            url += f"?{query}"
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            logger.warning("replica %s does not answer (%s): serving its session elsewhere", target, exc)
            return False
        self.peers.forwarded += 1
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP],
                }
            )
            async with anyio.create_task_group() as tg:

                async def until_client_leaves() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(until_client_leaves)
                try:
                    async for chunk in response.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except httpx2.HTTPError as exc:
                    logger.info("replica %s ended a forwarded stream: %s", target, exc)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _hands_over(method: str, body: bytes | None) -> bool:
    """Whether a draining owner passes this request of its session to the adopter: everything but the
    answers and notifications that may belong to its own calls still in flight (a POST that is no request)."""
    if method != "POST":
        return True
    try:
        message = json.loads(body or b"")
    except ValueError:
        return False
    return isinstance(message, dict) and "method" in message and "id" in message


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


__all__ = ["ADOPT_KEY", "ReplicaRouter", "SessionClaims"]
