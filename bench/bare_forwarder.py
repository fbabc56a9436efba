"""A bare MCP forwarder: the practical limit of an intermediary in front of one long-lived stdio backend.

`python bench/bare_forwarder.py COMMAND [ARG...]` starts COMMAND as the backend and serves streamable
HTTP (2026-07-28 single POSTs) on a free loopback port with uvicorn, httptools and uvloop: each POSTed
JSON-RPC request is parsed with orjson, its id replaced by one of the forwarder's own, written to the
backend's stdin as one line, and the backend's answer is written back with the request's id restored;
notifications are passed on and acknowledged with 202. It checks nothing else: no authentication, no
authorization, no audit or metrics, no secret scan, no protocol checks, no cancellation when a client
goes away. A gateway cannot do less work per call, so its share of this one's throughput says how much
its features and checks cost. When ready it writes `serving MCP on http://127.0.0.1:PORT/mcp` to
stderr, like `kubemcp gateway run`.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import uvicorn
import uvloop

HOST = "127.0.0.1"
PATH = "/mcp"
Scope = dict[str, Any]


class Backend:
    """One stdio session with the backend; requests of all clients share it, told apart by remapped ids."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 24
        )
        asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = orjson.loads(line)
            waiter = self.pending.pop(message.get("id"), None) if "method" not in message else None
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        for waiter in self.pending.values():
            waiter.set_exception(ConnectionError("the backend closed its output"))

    def write(self, message: dict[str, Any]) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps(message) + b"\n")

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        original, internal = message["id"], next(self.ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[internal] = waiter
        self.write({**message, "id": internal})
        try:
            answer = await waiter
        finally:
            self.pending.pop(internal, None)
        answer["id"] = original
        return answer

    def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()


def forwarding_app(backend: Backend) -> Any:
    async def respond(send: Any, status: int, body: bytes = b"") -> None:
        headers = [(b"content-type", b"application/json")] if body else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST" or scope["path"] != PATH:
            await respond(send, 405)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = orjson.loads(body)
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            await respond(send, 400)
        elif "id" not in request:
            backend.write(request)
            await respond(send, 202)
        else:
            await respond(send, 200, orjson.dumps(await backend.request(request)))

    return app


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as in fastmcp_proxy
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(128)
    return sock


async def serve(command: list[str]) -> None:
    backend = Backend(command)
    await backend.start()
    try:
        sock = listening_socket()
        config = uvicorn.Config(
            forwarding_app(backend), http="httptools", lifespan="off", log_level="warning", access_log=False
        )
        server = _Server(config)
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, setattr, server, "should_exit", True)
        print(f"serving MCP on http://{HOST}:{sock.getsockname()[1]}{PATH}", file=sys.stderr, flush=True)
        await server.serve(sockets=[sock])
    finally:
        backend.stop()
        if backend.process is not None:
            await backend.process.wait()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling, which would re-raise SIGTERM before the backend is stopped."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: bare_forwarder.py COMMAND [ARG...]")
    uvloop.run(serve(sys.argv[1:]))


if __name__ == "__main__":
    main()
