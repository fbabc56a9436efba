"""An MCP client session with one server instance: started through a runtime, handshake done, and
failures turned into `ServerError`s that name the server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TypeVar

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client._transport import TransportStreams
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

import kubemcp
from kubemcp.backend.hooks import LogSink
from kubemcp.errors import ServerCrashedError, ServerError, ServerTimeoutError, ServerUnavailableError
from kubemcp.model.link import BackendLink
from kubemcp.model.runtime import Runtime
from kubemcp.model.spec import ServerSpec

T = TypeVar("T")
CLOSED = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)
CLIENT_INFO = types.Implementation(name="kubemcp", version=kubemcp.__version__)


class _FixedStreams:
    """An SDK transport over streams that are already open (the runtime owns their lifetime)."""

    def __init__(self, streams: TransportStreams) -> None:
        self._streams = streams

    async def __aenter__(self) -> TransportStreams:
        return self._streams

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class Sessions:
    """Opens client sessions with server instances; remembers each server's protocol era by digest."""

    def __init__(self, runtime: Runtime, *, call_timeout: float | None = None) -> None:
        self.runtime = runtime
        self.call_timeout = call_timeout
        self._modes: dict[str, str] = {}

    @asynccontextmanager
    async def open(self, spec: ServerSpec, on_log: LogSink | None = None) -> AsyncIterator[tuple[Client, BackendLink]]:
        """Start one instance and complete the MCP handshake with it."""
        async with self.runtime.connect(spec) as link:
            client = Client(
                _FixedStreams(link.streams),
                mode=self._modes.get(spec.digest, "auto"),
                cache=None,
                client_info=CLIENT_INFO,
                logging_callback=on_log,
                log_level="debug" if on_log is not None else None,
                read_timeout_seconds=self.call_timeout,
            )
            entered = False
            try:
                async with client:
                    entered = True
                    # A handshake-era server is pinned to "legacy" to skip the discover probe next time;
                    # a modern one stays on "auto", whose discover request is its first exchange anyway
                    # and carries the capabilities a pinned version would lack.
                    legacy = client.protocol_version not in MODERN_PROTOCOL_VERSIONS
                    self._modes[spec.digest] = "legacy" if legacy else "auto"
                    yield client, link
            except Exception as exc:
                if entered:
                    raise
                cause = single_cause(exc) if isinstance(exc, BaseExceptionGroup) else exc
                if isinstance(cause, ServerError):
                    raise cause from exc
                if isinstance(cause, MCPError):
                    detail = await _describe(cause, link)
                elif isinstance(cause, CLOSED):
                    detail = await link.describe_exit()
                else:
                    raise
                raise ServerUnavailableError(spec.name, f"MCP handshake failed: {detail}") from exc


async def guarded(spec: ServerSpec, link: BackendLink, pending: Awaitable[T]) -> T:
    """Await a request to an instance; its connection ending midway is a `ServerCrashedError`, no answer
    within the call timeout a `ServerTimeoutError`."""
    try:
        return await pending
    except MCPError as exc:
        if exc.error.code == types.CONNECTION_CLOSED:
            raise ServerCrashedError(
                spec.name, f"connection lost during the request: {await link.describe_exit()}"
            ) from exc
        if exc.error.code == types.REQUEST_TIMEOUT:
            raise ServerTimeoutError(spec.name, f"no answer in time: {exc.error.message}") from exc
        raise
    except CLOSED as exc:
        raise ServerCrashedError(
            spec.name, f"connection lost during the request: {await link.describe_exit()}"
        ) from exc


async def _describe(exc: MCPError, link: BackendLink) -> str:
    if exc.error.code == types.CONNECTION_CLOSED:
        return await link.describe_exit()
    return exc.error.message


def single_cause(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one meaningful error inside nested task-group wrappers, if there is exactly one kind."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for preferred in (ServerError, MCPError):
        for leaf in leaves:
            if isinstance(leaf, preferred):
                return leaf
    return leaves[0] if len(leaves) == 1 else None
