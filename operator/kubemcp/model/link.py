"""A backend link: newline-delimited JSON-RPC over a pair of byte streams.

Runtimes (local processes, Kubernetes attach) differ only in how they obtain the byte streams;
this module turns any such pair into the message streams the mcp SDK's client session reads.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import mcp_types as types
from anyio.abc import ByteReceiveStream, ByteSendStream
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

logger = logging.getLogger(__name__)

MAX_LINE = 64 * 1024 * 1024


@dataclass
class BackendLink:
    """An open connection to one backend server, as the SDK's client session wants it."""

    streams: TransportStreams
    describe_exit: Callable[[], Awaitable[str]] = field(default=lambda: _closed())
    pid: int | None = None
    instance: str | None = None  # what serves it, for the audit trail: "pod NAME", "container ID"
    explain: Callable[[], str | None] = field(default=lambda: None)
    """Why the connection failed, when the link knows better than the error (an HTTP status, say)."""

    @property
    def label(self) -> str | None:
        return self.instance or (f"pid {self.pid}" if self.pid is not None else None)


async def _closed() -> str:
    return "connection closed"


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        return exc


@asynccontextmanager
async def jsonrpc_streams(receive: ByteReceiveStream, send: ByteSendStream) -> AsyncIterator[TransportStreams]:
    """Pump newline-delimited JSON-RPC between byte streams and SDK message streams."""
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](16)

    async def reader() -> None:
        buffer = b""
        async with read_writer:
            try:
                async for chunk in receive:
                    buffer += chunk
                    if len(buffer) > MAX_LINE:
                        await read_writer.send(ValueError("backend sent a line over the size limit"))
                        return
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            await read_writer.send(_parse(line))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                return

    async def writer() -> None:
        async with write_reader:
            try:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await send.send(data.encode() + b"\n")
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                await read_writer.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(writer)
        try:
            yield read_stream, write_stream
        finally:
            tg.cancel_scope.cancel()
            await write_stream.aclose()
            await read_stream.aclose()
