"""An MCP client session with one server instance: started through a runtime, handshake done, and
failures turned into `ServerError`s that name the server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import TypeVar

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client._transport import TransportStreams
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

import kubemcp
from kubemcp.backend.relay import RELAYED, InstanceRelay
from kubemcp.errors import ServerCrashedError, ServerError, ServerTimeoutError, ServerUnavailableError
from kubemcp.model.link import BackendLink
from kubemcp.model.runtime import Runtime
from kubemcp.model.spec import ServerSpec
from kubemcp.telemetry import calls, tracing

logger = logging.getLogger(__name__)
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
    """Opens client sessions with server instances; remembers each server's protocol eras by digest.

    An instance that serves a 2026-07-28 client alone is spoken to in the newest revision it offers.
    Any other is spoken to in the handshake era, which carries everything a client of either era can
    use through the gateway (server pings, URL elicitations and `logging/setLevel` exist only there;
    what only the 2026 revision has, the gateway translates), unless the server offers only 2026.
    """

    def __init__(self, runtime: Runtime, *, call_timeout: float | None = None) -> None:
        self.runtime = runtime
        self.call_timeout = call_timeout
        self.handshake_only: set[str] = set()  # digests of servers without the 2026 revision
        self.modern_only: set[str] = set()  # digests of servers that refuse the handshake

    def _mode(self, spec: ServerSpec, modern: bool) -> str:
        if modern:
            # A handshake-era server is pinned to "legacy" to skip the discover probe next time; a modern
            # one stays on "auto", whose discover request is its first exchange anyway.
            return "legacy" if spec.digest in self.handshake_only else "auto"
        return "auto" if spec.digest in self.modern_only else "legacy"

    @asynccontextmanager
    async def open(
        self,
        spec: ServerSpec,
        relay: InstanceRelay,
        *,
        declare: types.ClientCapabilities = RELAYED,
        log_level: types.LoggingLevel | None = "debug",
        modern: bool = False,
    ) -> AsyncIterator[tuple[Client, BackendLink]]:
        """Start one instance and complete the MCP handshake with it.

        The instance is told the client capabilities in `declare` (what its client can be asked through
        `relay`); `log_level` is the level its log messages are asked for at (None: none); `modern` says
        it serves a 2026-07-28 client alone.
        """
        mode = self._mode(spec, modern)
        phases = calls.StartPhases(spec.name)  # each step timed and traced
        for attempt in (1, 2):
            async with AsyncExitStack() as stack:
                try:
                    with tracing.span("kubemcp.instance.start", {"kubemcp.server": spec.name}), calls.starting(phases):
                        link = await stack.enter_async_context(self.runtime.connect(spec))
                except BaseException:
                    phases.finished(ok=False)
                    raise
                client = Client(
                    _FixedStreams(link.streams),
                    mode=mode,
                    cache=None,
                    client_info=CLIENT_INFO,
                    logging_callback=relay.on_log,
                    log_level=log_level,
                    message_handler=relay.on_message,
                    sampling_callback=relay.sampling if declare.sampling is not None else None,
                    sampling_capabilities=declare.sampling,
                    elicitation_callback=relay.elicitation if declare.elicitation is not None else None,
                    list_roots_callback=relay.roots if declare.roots is not None else None,
                    read_timeout_seconds=self.call_timeout,
                )
                entered = False
                try:
                    with tracing.span("kubemcp.handshake", {"kubemcp.server": spec.name}):
                        await stack.enter_async_context(client)
                        # On the handshake's span: the span current after it may be a call's that has ended
                        # (a warm instance's start inherits the context of the call that asked for it).
                        phases.mark("initialized")
                    entered = True
                    phases.finished(ok=True)
                    if mode == "auto" and client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
                        self.handshake_only.add(spec.digest)
                    yield client, link
                    return
                except Exception as exc:
                    if entered:
                        raise
                    cause = single_cause(exc) if isinstance(exc, BaseExceptionGroup) else exc
                    if isinstance(cause, MCPError):
                        if mode == "legacy" and attempt == 1 and cause.error.code != types.CONNECTION_CLOSED:
                            mode = "auto"  # the handshake was refused: a server of the 2026 revision only
                            self.modern_only.add(spec.digest)
                            continue
                        detail = await _describe(cause, link)
                    elif isinstance(cause, CLOSED):
                        detail = await link.describe_exit()
                    else:
                        phases.finished(ok=False)
                        if isinstance(cause, ServerError):
                            raise cause from exc
                        raise
                    phases.finished(ok=False)
                    raise ServerUnavailableError(spec.name, f"MCP handshake failed: {detail}") from exc


async def set_log_level(client: Client, level: types.LoggingLevel) -> bool:
    """Ask a handshake-era server that offers logging to send log messages at `level` and above.

    A 2026-07-28 server is asked per request instead (the client's `log_level`); False when not sent.
    """
    if client.protocol_version in MODERN_PROTOCOL_VERSIONS or client.server_capabilities.logging is None:
        return False
    request = types.SetLevelRequest(params=types.SetLevelRequestParams(level=level))
    try:
        await client.session.send_request(request, types.EmptyResult)
    except MCPError as exc:  # the level is applied on the way to the client as well
        logger.info("server refused logging/setLevel %s: %s", level, exc.error.message)
        return False
    return True


async def guarded(spec: ServerSpec, link: BackendLink, pending: Awaitable[T]) -> T:
    """Await a request to an instance; its connection ending midway is a `ServerCrashedError`, no answer
    within the call timeout a `ServerTimeoutError`."""
    calls.note_instance(link.label)
    try:
        with tracing.span("kubemcp.backend.call", {"kubemcp.server": spec.name, "kubemcp.instance": link.label or ""}):
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
    explained = link.explain()
    if explained is not None:
        return explained
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
