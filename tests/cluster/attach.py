"""``pods/attach`` over a WebSocket with aiohttp (Kubernetes remote-command protocol).

Each WebSocket binary message starts with a channel byte: 0 stdin, 1 stdout,
2 stderr, 3 error (a JSON Status when the stream ends), 4 resize, and with
``v5.channel.k8s.io`` 255 to close a channel (used to close stdin).

    async with attach(server, "ns", "pod", ssl_context=ctx) as a:
        await a.write(b"hello\\n")
        out = await a.read_until(b"hello\\n", timeout=5)

Written for the tests; independent of them so it can move into the product.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


class AttachError(RuntimeError):
    """The attach stream failed or ended with a non-Success status."""


class AttachSession:
    """An open attach stream: write to stdin, read stdout/stderr."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.protocol = ws.protocol or ""
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.status: dict[str, Any] | None = None
        self.closed = False

    async def write(self, data: bytes) -> None:
        await self.ws.send_bytes(bytes([STDIN]) + data)

    async def close_stdin(self) -> None:
        """Signal end of input (v5 protocol only; ignored on v4)."""
        if self.protocol.startswith("v5."):
            await self.ws.send_bytes(bytes([CLOSE, STDIN]))

    async def resize(self, width: int, height: int) -> None:
        await self.ws.send_bytes(bytes([RESIZE]) + json.dumps({"Width": width, "Height": height}).encode())

    async def _receive(self, timeout: float | None) -> bool:
        """Read one message into the buffers; False once the stream has ended."""
        if self.closed:
            return False
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.BINARY:
            data: bytes = msg.data
            if not data:
                return True
            channel, payload = data[0], data[1:]
            if channel == STDOUT:
                self.stdout += payload
            elif channel == STDERR:
                self.stderr += payload
            elif channel == ERROR and payload:
                self.status = json.loads(payload)
            return True
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            self.closed = True
            return False
        if msg.type == aiohttp.WSMsgType.ERROR:
            self.closed = True
            raise AttachError(f"attach stream failed: {self.ws.exception()}")
        return True

    async def read_until(self, expected: bytes, timeout: float = 10.0) -> bytes:
        """Wait until ``expected`` appears on stdout; returns (and consumes) stdout up to its end."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while expected not in self.stdout:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{expected!r} not seen on stdout; got {bytes(self.stdout)!r}")
            if not await self._receive(left):
                raise AttachError(
                    f"stream ended before {expected!r}; stdout={bytes(self.stdout)!r} status={self.status}"
                )
        end = self.stdout.index(expected) + len(expected)
        out = bytes(self.stdout[:end])
        del self.stdout[:end]
        return out

    async def wait_closed(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """Read until the server ends the stream; returns the final Status (if any)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self._receive(max(deadline - loop.time(), 0.001)):
            pass
        return self.status


@asynccontextmanager
async def attach(
    server: str,
    namespace: str,
    pod: str,
    container: str | None = None,
    *,
    ssl_context: ssl.SSLContext,
    token: str | None = None,
    stdin: bool = True,
    stdout: bool = True,
    stderr: bool = True,
    tty: bool = False,
    session: aiohttp.ClientSession | None = None,
) -> AsyncIterator[AttachSession]:
    """Open ``pods/attach`` for ``namespace/pod``. ``server`` is ``https://host:port``."""
    query: dict[str, str] = {
        "stdin": str(stdin).lower(),
        "stdout": str(stdout).lower(),
        "stderr": str(stderr and not tty).lower(),
        "tty": str(tty).lower(),
    }
    if container:
        query["container"] = container
    url = f"{server.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}/attach?{urlencode(query)}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    own = session is None
    sess = session or aiohttp.ClientSession()
    try:
        try:
            ws = await sess.ws_connect(url, protocols=PROTOCOLS, ssl=ssl_context, headers=headers, heartbeat=30)
        except aiohttp.WSServerHandshakeError as e:
            raise AttachError(f"attach to {namespace}/{pod} refused: HTTP {e.status} {e.message}") from e
        try:
            yield AttachSession(ws)
        finally:
            await ws.close()
    finally:
        if own:
            await sess.close()
