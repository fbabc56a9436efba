"""The stdio transport: the SDK's, with every line that is not a valid JSON-RPC message answered
(-32700 for a line that is not JSON, -32600 for one that is not a valid message) instead of dropped,
and a drain that ends the session as the end of stdin would, once the calls in flight are done (so
their answers are written before the gateway exits)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import IO, Any, Protocol

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError

from kubemcp.gateway.draining import Drain
from kubemcp.gateway.message_check import jsonrpc_problem


class _Sink(Protocol):
    async def send(self, item: SessionMessage, /) -> None: ...


class CheckedLines(anyio.AsyncFile[str]):
    """stdin's lines for the SDK's stdio transport; answers the bad ones itself on `answer_on`'s stream.

    Lines are read by a daemon thread: a thread blocked reading a stdin that never ends must not keep
    the process from exiting (anyio's worker threads are joined at exit)."""

    def __init__(self, fp: IO[str]) -> None:
        super().__init__(fp)
        self._sink: _Sink | None = None
        self._ready = anyio.Event()
        self._ended = False
        self._waiting: anyio.CancelScope | None = None

    def answer_on(self, sink: _Sink) -> None:
        self._sink = sink
        self._ready.set()

    def end(self) -> None:
        """Stop reading: to the session, stdin has ended."""
        self._ended = True
        if self._waiting is not None:
            self._waiting.cancel()

    def _read(self, send: MemoryObjectSendStream[str], token: anyio.lowlevel.EventLoopToken) -> None:
        # Exceptions: the loop has gone away or the stream was closed; there is nothing to deliver to.
        with contextlib.suppress(Exception):
            while line := self.wrapped.readline():
                anyio.from_thread.run(send.send, line, token=token)
        with contextlib.suppress(Exception):
            anyio.from_thread.run_sync(send.close, token=token)

    async def __aiter__(self) -> AsyncIterator[str]:
        send, receive = anyio.create_memory_object_stream[str](16)
        reader = threading.Thread(
            target=self._read, args=(send, anyio.lowlevel.current_token()), name="kubemcp stdin", daemon=True
        )
        reader.start()
        with receive:
            while not self._ended:
                line = ""
                with anyio.CancelScope() as self._waiting:
                    try:
                        line = await receive.receive()
                    except anyio.EndOfStream:
                        return
                self._waiting = None
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


_stdin: IO[str] | None = None


def _stdin_text() -> IO[str]:
    """fd 0 as UTF-8 text, opened once and never closed: the reading thread may still be blocked in it at exit."""
    global _stdin
    if _stdin is None:
        _stdin = open(0, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    return _stdin


async def serve_stdio(server: Server[Any], drain: Drain) -> None:
    """Serve until stdin ends, or until a stop signal and the drain of the calls in flight."""
    lines = CheckedLines(_stdin_text())
    async with stdio_server(stdin=lines) as (read_stream, write_stream), anyio.create_task_group() as tg:
        lines.answer_on(write_stream)

        async def end_when_drained() -> None:
            await drain.requested.wait()
            await drain.calls_finished()
            lines.end()  # calls still running after the grace are cancelled as the session ends

        tg.start_soon(end_when_drained)
        await server.run(read_stream, write_stream, server.create_initialization_options())
        tg.cancel_scope.cancel()
