"""Backend connections: one server instance per call by default, or a shared resident one.

Per-call (the default): every request starts the server, runs the MCP handshake, makes the one
request and stops the server; no instance exists between calls. Long-lived (`longLived` in the
catalog or `--long-lived`): one instance is started on first use and shared by concurrent calls;
it is stopped after `idle_timeout` seconds without calls, and replaced if it dies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import anyio
import mcp_types as types
from anyio.abc import TaskGroup, TaskStatus
from mcp.client import Client
from mcp.client._transport import TransportStreams
from mcp.client.session import LoggingFnT
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

import kubemcp
from kubemcp.errors import ServerCrashedError, ServerError, ServerUnavailableError
from kubemcp.gateway.link import BackendLink
from kubemcp.gateway.runtime import Runtime
from kubemcp.gateway.spec import ServerSpec
from kubemcp.gateway.warm import WarmSet

logger = logging.getLogger(__name__)

T = TypeVar("T")
LogSink = LoggingFnT
ProgressSink = ProgressFnT
Operation = Callable[[Client], Awaitable[T]]

_CLOSED = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)
CLIENT_INFO = types.Implementation(name="kubemcp", version=kubemcp.__version__)


@dataclass(eq=False)
class CallHooks:
    """Where a backend's notifications for one client request go, and which client session asked."""

    on_log: LogSink | None = None
    on_progress: ProgressSink | None = None
    session: object | None = None


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


class _Resident:
    """A long-lived (or per-session) instance of one server, shared by calls."""

    def __init__(self, pool: BackendPool, spec: ServerSpec, key: tuple[str, int], session: object | None) -> None:
        self.pool = pool
        self.spec = spec
        self.key = key
        self.session = session  # held so the id in `key` cannot be reused by another session meanwhile
        self.idle_timeout = spec.idle_timeout or pool.idle_timeout
        self.client: Client | None = None
        self.link: BackendLink | None = None
        self.stopping = anyio.Event()
        self.active = 0
        self.last_used = time.monotonic()
        self.hooks: set[CallHooks] = set()

    async def _fan_out_log(self, params: types.LoggingMessageNotificationParams) -> None:
        for hooks in list(self.hooks):
            if hooks.on_log is not None:
                await hooks.on_log(params)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self.pool.open(self.spec, self._fan_out_log) as (client, link):
                self.client, self.link = client, link
                task_status.started()
                while not self.stopping.is_set():
                    idle_for = time.monotonic() - self.last_used
                    remaining = self.idle_timeout - idle_for
                    if self.active == 0 and remaining <= 0:
                        logger.info("stopping idle long-lived server %s", self.spec.name)
                        break
                    with anyio.move_on_after(max(remaining, 0.05)):
                        await self.stopping.wait()
        finally:
            self.pool.forget(self)


class BackendPool:
    """Opens backend sessions through a runtime; remembers each server's protocol era."""

    def __init__(self, runtime: Runtime, *, idle_timeout: float = 300.0, call_timeout: float | None = None) -> None:
        self.runtime = runtime
        self.idle_timeout = idle_timeout
        self.call_timeout = call_timeout
        self._modes: dict[str, str] = {}
        self._residents: dict[tuple[str, int], _Resident] = {}
        self._locks: dict[tuple[str, int], anyio.Lock] = {}
        self._warm: dict[str, WarmSet] = {}
        self._tg: TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[BackendPool]:
        """The pool's lifetime: long-lived instances live inside it and stop with it."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                yield self
            finally:
                self._tg = None
                for resident in list(self._residents.values()):
                    resident.stopping.set()
                for warm in self._warm.values():
                    warm.close()

    def warm_up(self, specs: list[ServerSpec]) -> None:
        """Keep `warmPool` ready per-call instances for these specs (and none for servers not listed)."""
        wanted = {spec.name: spec for spec in specs if spec.warm_pool > 0 and spec.lifecycle == "perCall"}
        for name in list(self._warm):
            current = self._warm[name]
            if name not in wanted or wanted[name].digest != current.spec.digest:
                current.close()
                del self._warm[name]
        if self._tg is None:
            return
        for name, spec in wanted.items():
            if name not in self._warm:
                max_idle = max(10.0, spec.deadline_seconds / 2)
                self._warm[name] = WarmSet(self, spec, spec.warm_pool, self._tg, max_idle)
                self._warm[name].refill()

    @asynccontextmanager
    async def open(self, spec: ServerSpec, on_log: LogSink | None = None) -> AsyncIterator[tuple[Client, BackendLink]]:
        """Start one instance and complete the MCP handshake with it."""
        async with self.runtime.connect(spec) as link:
            mode = self._modes.get(spec.digest, "auto")
            client = Client(
                _FixedStreams(link.streams),
                mode=mode,
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
                cause = _single_cause(exc) if isinstance(exc, BaseExceptionGroup) else exc
                if isinstance(cause, ServerError):
                    raise cause from exc
                if isinstance(cause, MCPError):
                    detail = await _describe(cause, link)
                elif isinstance(cause, _CLOSED):
                    detail = await link.describe_exit()
                else:
                    raise
                raise ServerUnavailableError(spec.name, f"MCP handshake failed: {detail}") from exc

    def forget(self, resident: _Resident) -> None:
        if self._residents.get(resident.key) is resident:
            del self._residents[resident.key]
            self._locks.pop(resident.key, None)

    async def _resident(self, spec: ServerSpec, session: object | None) -> _Resident:
        # perSession instances are keyed by the client session object (2025-era sessions and stdio);
        # a request without a session (stateless 2026-07-28 HTTP) gets its own instance.
        key = (spec.name, id(session) if spec.lifecycle == "perSession" else 0)
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            resident = self._residents.get(key)
            if resident is not None and resident.spec.digest != spec.digest:
                resident.stopping.set()  # its configuration changed: replace it
                resident = None
            if resident is None or resident.stopping.is_set():
                if self._tg is None:
                    raise RuntimeError("BackendPool.running() is not active")
                resident = _Resident(self, spec, key, session)
                self._residents[key] = resident
                try:
                    await self._tg.start(resident.run)
                except BaseException:
                    self.forget(resident)
                    raise
            return resident

    def warm_ready(self) -> dict[str, int]:
        """Per server, how many warm instances are started and initialized, waiting for a call."""
        return {name: len(warm.ready) for name, warm in sorted(self._warm.items())}

    def resident_names(self) -> list[str]:
        return sorted({name for name, _ in self._residents})

    async def call(self, spec: ServerSpec, operation: Operation[T], hooks: CallHooks | None = None) -> T:
        """Run `operation` against an instance of `spec`; failures are `ServerError`s naming it."""
        try:
            try:
                return await self._call(spec, operation, hooks or CallHooks())
            except BaseExceptionGroup as group:
                cause = _single_cause(group)
                if cause is None or not isinstance(cause, Exception):
                    raise
                raise cause from group
        except (ServerError, MCPError):
            raise
        except Exception as exc:  # anything else a backend provokes still fails only this call, naming it
            logger.debug("unexpected backend failure of %s", spec.name, exc_info=True)
            text = f"{type(exc).__name__}: {exc}"
            for value in spec.secret_env.values():
                if value:
                    text = text.replace(value, "***")
            raise ServerError(spec.name, text) from exc

    async def _per_call(self, spec: ServerSpec, operation: Operation[T], hooks: CallHooks) -> T:
        """One instance for one request. The answer is returned as soon as it arrives; stopping the
        instance (stdin closed, process or Pod ended) finishes in the pool's task group meanwhile."""
        if self._tg is None:
            async with self.open(spec, hooks.on_log) as (client, link):
                return await _guarded(spec, link, operation(client))
        warm = self._warm.get(spec.name)
        prepared = warm.take() if warm is not None and warm.spec.digest == spec.digest else None
        if prepared is not None:
            prepared.hooks = hooks
            try:
                return await _guarded(spec, prepared.link, operation(prepared.client))
            finally:
                prepared.done.set()
        answered = anyio.Event()
        outcome: list[T] = []
        failure: list[BaseException] = []
        scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                try:
                    async with self.open(spec, hooks.on_log) as (client, link):
                        outcome.append(await _guarded(spec, link, operation(client)))
                        answered.set()
                except Exception as exc:  # handed to the caller, never to the pool's task group
                    failure.append(exc)
                finally:
                    answered.set()

        self._tg.start_soon(run)
        try:
            await answered.wait()
        except BaseException:
            scope.cancel()
            raise
        if outcome:
            return outcome[0]
        if failure:
            raise failure[0]
        raise ServerCrashedError(spec.name, "the request was abandoned")

    async def _call(self, spec: ServerSpec, operation: Operation[T], hooks: CallHooks) -> T:
        if spec.lifecycle == "perCall" or (spec.lifecycle == "perSession" and hooks.session is None):
            return await self._per_call(spec, operation, hooks)
        resident = await self._resident(spec, hooks.session)
        assert resident.client is not None
        assert resident.link is not None
        resident.active += 1
        resident.hooks.add(hooks)
        try:
            return await _guarded(spec, resident.link, operation(resident.client))
        except ServerCrashedError:
            resident.stopping.set()
            raise
        finally:
            resident.hooks.discard(hooks)
            resident.active -= 1
            resident.last_used = time.monotonic()


async def _guarded(spec: ServerSpec, link: BackendLink, pending: Awaitable[T]) -> T:
    try:
        return await pending
    except MCPError as exc:
        if exc.error.code == types.CONNECTION_CLOSED:
            raise ServerCrashedError(
                spec.name, f"connection lost during the request: {await link.describe_exit()}"
            ) from exc
        raise
    except _CLOSED as exc:
        raise ServerCrashedError(
            spec.name, f"connection lost during the request: {await link.describe_exit()}"
        ) from exc


async def _describe(exc: MCPError, link: BackendLink) -> str:
    if exc.error.code == types.CONNECTION_CLOSED:
        return await link.describe_exit()
    return exc.error.message


def _single_cause(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
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


def error_data(error: ServerError) -> dict[str, Any]:
    return {"server": error.server}
