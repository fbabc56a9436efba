"""DNS-rebinding protection for the HTTP transports: Host and Origin checks on every request."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> tuple[str, str]:
    """'name:port' or '[v6]:port' -> (name, port)."""
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest.removeprefix(":")
    name, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return (name, port) if name else (value, "")


def _matches(value: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == value:
            return True
        if pattern.endswith(":*") and value.rpartition(":")[0] == pattern[:-2]:
            return True
    return False


class HostOriginGuard:
    """Reject requests whose Host or Origin the gateway was not told to accept.

    - Bound to loopback: Host must be a loopback name, unless `allowed_hosts` says otherwise.
    - Bound elsewhere (in a cluster): any Host, unless `allowed_hosts` lists them.
    - Origin, when a browser sends one, must be a loopback origin or listed in `allowed_origins`.
    """

    def __init__(self, app: ASGIApp, *, bind_host: str, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.loopback_only = is_loopback(bind_host)
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = allowed_origins

    def host_ok(self, host: str | None) -> bool:
        if self.allowed_hosts:
            return host is not None and _matches(host, self.allowed_hosts)
        if not self.loopback_only:
            return True
        return host is not None and is_loopback(_split_host(host)[0])

    def origin_ok(self, origin: str | None) -> bool:
        if origin is None:
            return True
        if _matches(origin, self.allowed_origins):
            return True
        parts = urlsplit(origin)
        return parts.scheme in {"http", "https"} and parts.hostname is not None and is_loopback(parts.hostname)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.host_ok(headers.get("host")):
            await _reject(send, 421, "Host not allowed")
            logger.warning("rejected request with Host %r", headers.get("host"))
            return
        if not self.origin_ok(headers.get("origin")):
            await _reject(send, 403, "Origin not allowed")
            logger.warning("rejected request with Origin %r", headers.get("origin"))
            return
        await self.app(scope, receive, send)


async def _reject(send: Send, status: int, message: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
