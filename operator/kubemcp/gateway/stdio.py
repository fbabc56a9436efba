"""The stdio transport: the SDK's, with every line that is not a valid JSON-RPC message answered
(-32700 for a line that is not JSON, -32600 for one that is not a valid message) instead of dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO, Any, Protocol

import anyio
import anyio.to_thread
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError

from kubemcp.gateway.message_check import jsonrpc_problem


class _Sink(Protocol):
    async def send(self, item: SessionMessage, /) -> None: ...


class CheckedLines(anyio.AsyncFile[str]):
    """stdin's lines for the SDK's stdio transport; answers the bad ones itself on `answer_on`'s stream.
    Reading is abandoned on cancellation, so stopping never waits for a line that may never come."""

    def __init__(self, fp: IO[str]) -> None:
        super().__init__(fp)
        self._sink: _Sink | None = None
        self._ready = anyio.Event()

    def answer_on(self, sink: _Sink) -> None:
        self._sink = sink
        self._ready.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            line: str = await anyio.to_thread.run_sync(self.wrapped.readline, abandon_on_cancel=True)
            if not line:
                return
            if not line.strip():
                continue
            problem = jsonrpc_problem(line)
            if problem is None:
                yield line
                continue
            code, message, request_id = problem
            await self._ready.wait()
            assert self._sink is not None
            error = JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))
            await self._sink.send(SessionMessage(error))


async def serve_stdio(server: Server[Any]) -> None:
    with open(0, encoding="utf-8", errors="replace", closefd=False) as stdin:  # noqa: ASYNC230 - fd 0, never blocks here
        lines = CheckedLines(stdin)
        async with stdio_server(stdin=lines) as (read_stream, write_stream):
            lines.answer_on(write_stream)
            await server.run(read_stream, write_stream, server.create_initialization_options())
