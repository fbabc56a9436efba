"""The backend pool: runs each request against an instance of its server, as the lifecycle says.

Per-call (the default): every request starts the server, runs the MCP handshake, makes the one
request and stops the server; no instance exists between calls (warm instances, when asked for,
are started ahead of demand but still serve one call each). How many per-call instances run at
once is bounded per server and in total (`admission`); further requests wait in a bounded queue.
Resident (`longLived`, `perSession`): one instance is started on first use and shared by concurrent
calls; it is stopped after `idle_timeout` seconds without calls, and replaced if it dies.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
from anyio.abc import TaskGroup
from mcp.shared.exceptions import MCPError

from kubemcp.backend.admission import Admission, default_total
from kubemcp.backend.hooks import CallHooks, Operation
from kubemcp.backend.relay import RELAYED, InstanceRelay, ResourceUpdated, relayable
from kubemcp.backend.resident import Key, Resident
from kubemcp.backend.session import Sessions, guarded, set_log_level, single_cause
from kubemcp.backend.warm import WarmSet
from kubemcp.backend.warm_demand import DEFAULT_WINDOW_SECONDS, WarmDemand
from kubemcp.errors import ServerCrashedError, ServerError
from kubemcp.masking import mask
from kubemcp.model.lifecycle import Lifecycle
from kubemcp.model.runtime import Runtime
from kubemcp.model.spec import ServerSpec

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BackendPool:
    """Runs requests against server instances that a runtime starts."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        idle_timeout: float = 300.0,
        call_timeout: float | None = None,
        admission: Admission | None = None,
        warm_window: float = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.warm_window = warm_window  # seconds of recent calls that size warm pools
        self.sessions = Sessions(runtime, call_timeout=call_timeout)
        self.admission = admission or Admission(total=default_total())
        self.idle_timeout = idle_timeout
        self._residents: dict[Key, Resident] = {}
        self._locks: dict[Key, anyio.Lock] = {}
        self._warm: dict[str, WarmSet] = {}
        self._tg: TaskGroup | None = None
        self.on_resource_updated: Callable[[str, str], Awaitable[None]] | None = None

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
        """Keep ready per-call instances for these specs as their `warm` bounds and demand say (and
        none for servers not listed)."""
        wanted = {spec.name: spec for spec in specs if spec.warm is not None}
        for name in list(self._warm):
            current = self._warm[name]
            if (
                name not in wanted
                or wanted[name].digest != current.spec.digest
                or wanted[name].warm != current.spec.warm
            ):
                current.close()
                del self._warm[name]
        if self._tg is None:
            return
        for name, spec in wanted.items():
            if name not in self._warm and spec.warm is not None:
                max_idle = max(10.0, spec.deadline_seconds / 2)
                demand = WarmDemand(
                    spec.warm.minimum, spec.warm.maximum, window=self.warm_window, schedule=spec.warm.schedule
                )
                self._warm[name] = WarmSet(self.sessions, spec, demand, self._tg, max_idle)
                self._warm[name].refill()
                self._tg.start_soon(self._warm[name].keep_sized)

    def forget(self, resident: Resident) -> None:
        if self._residents.get(resident.key) is resident:
            del self._residents[resident.key]
            self._locks.pop(resident.key, None)

    async def lease(self, spec: ServerSpec, hooks: CallHooks) -> Resident:
        """The resident instance that serves `hooks`' session, leased (the caller releases it)."""
        instance = spec.lifecycle.resident_key(hooks.session)
        if instance is None:
            raise ValueError(f"server {spec.name!r} runs per call: no instance outlives a request")
        return await self._resident(spec, hooks, instance)

    async def _resident(self, spec: ServerSpec, hooks: CallHooks, instance: int) -> Resident:
        """A started instance for this key, leased for one call (the caller releases it)."""
        key = (spec.name, instance)
        running = self._residents.get(key)
        if running is not None and running.spec.digest == spec.digest and running.started and running.lease():
            # The common case, without the lock: taking it yields to the event loop, so a burst of calls
            # on one instance would otherwise go through one by one, an event-loop turn each.
            return running
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            resident = self._residents.get(key)
            if resident is not None and resident.spec.digest != spec.digest:
                resident.stopping.set()  # its configuration changed: replace it
                resident = None
            if resident is None or not resident.lease():
                if self._tg is None:
                    raise RuntimeError("BackendPool.running() is not active")
                # A per-session instance is told its session's capabilities; a shared one, all the gateway relays.
                per_session = spec.lifecycle is Lifecycle.PER_SESSION and hooks.ask is not None
                declare = relayable(hooks.capabilities) if per_session else RELAYED
                resident = Resident(self.sessions, spec, key, hooks.session, declare, self.idle_timeout, self.forget)
                resident.relay.on_resource_updated = self._updated_sink(spec.name)
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

    def warm_sizes(self) -> dict[str, int]:
        """Per server, how many warm instances its pool wants now (between its `warm` bounds, by demand)."""
        return {name: warm.size for name, warm in sorted(self._warm.items())}

    def residents_of(self, session: object) -> list[Resident]:
        """The per-session instances serving one client session."""
        return [resident for (_, key), resident in self._residents.items() if key == id(session)]

    def resident_names(self) -> list[str]:
        return sorted({name for name, _ in self._residents})

    def resident_counts(self) -> dict[str, int]:
        """Per server, how many resident instances run (several for per-session servers)."""
        counts: dict[str, int] = {}
        for name, _ in self._residents:
            counts[name] = counts.get(name, 0) + 1
        return counts

    async def call(self, spec: ServerSpec, operation: Operation[T], hooks: CallHooks | None = None) -> T:
        """Run `operation` against an instance of `spec`; failures are `ServerError`s naming it."""
        try:
            try:
                return await self._call(spec, operation, hooks or CallHooks())
            except BaseExceptionGroup as group:
                cause = single_cause(group)
                if cause is None or not isinstance(cause, Exception):
                    raise
                raise cause from group
        except (ServerError, MCPError):
            raise
        except Exception as exc:  # anything else a backend provokes still fails only this call, naming it
            logger.debug("unexpected backend failure of %s", spec.name, exc_info=True)
            raise ServerError(spec.name, mask(f"{type(exc).__name__}: {exc}", spec.secret_env.values())) from exc

    async def _per_call(self, spec: ServerSpec, operation: Operation[T], hooks: CallHooks) -> T:
        """One instance for one request. The answer is returned as soon as it arrives; stopping the
        instance (stdin closed, process or Pod ended) finishes in the pool's task group meanwhile."""
        warm = self._warm.get(spec.name)
        prepared = await warm.take() if warm is not None and warm.spec.digest == spec.digest else None
        if warm is not None and prepared is not None:
            try:
                if hooks.log_level is not None:
                    await set_log_level(prepared.client, hooks.log_level)
                with prepared.relay.serving(hooks):
                    return await guarded(spec, prepared.link, operation(prepared.client))
            finally:
                warm.release(prepared)
        await self.admission.acquire(spec.name, spec.max_instances)  # held until the instance has stopped
        if self._tg is None:
            try:
                return await self._one_instance(spec, operation, hooks)
            finally:
                self.admission.release(spec.name)
        answered = anyio.Event()
        outcome: list[T] = []
        failure: list[BaseException] = []
        scope = anyio.CancelScope()

        def answer(result: T) -> None:
            outcome.append(result)
            answered.set()

        async def run() -> None:
            try:
                with scope:
                    try:
                        await self._one_instance(spec, operation, hooks, on_answer=answer)
                    except Exception as exc:  # handed to the caller, never to the pool's task group
                        failure.append(exc)
                    finally:
                        answered.set()
            finally:
                self.admission.release(spec.name)

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

    async def _one_instance(
        self,
        spec: ServerSpec,
        operation: Operation[T],
        hooks: CallHooks,
        *,
        on_answer: Callable[[T], None] | None = None,
    ) -> T:
        """Start an instance for this call alone (told the caller's own capabilities), make the call, stop it."""
        relay = InstanceRelay(spec.name, shared=False)
        declare = relayable(hooks.capabilities) if hooks.ask is not None else RELAYED
        log_level = (hooks.log_level or "debug") if hooks.on_log is not None else None
        opened = self.sessions.open(spec, relay, declare=declare, log_level=log_level, modern=hooks.modern)
        async with opened as (client, link):
            if hooks.log_level is not None:
                await set_log_level(client, hooks.log_level)
            with relay.serving(hooks):
                result = await guarded(spec, link, operation(client))
            if on_answer is not None:
                on_answer(result)  # the caller has its answer while the instance stops
            return result

    def _updated_sink(self, server: str) -> ResourceUpdated:
        async def updated(uri: str) -> None:
            if self.on_resource_updated is not None:
                await self.on_resource_updated(server, uri)

        return updated

    async def _call(self, spec: ServerSpec, operation: Operation[T], hooks: CallHooks) -> T:
        instance = spec.lifecycle.resident_key(hooks.session)
        if instance is None:
            return await self._per_call(spec, operation, hooks)
        resident = await self._resident(spec, hooks, instance)
        try:
            assert resident.client is not None
            assert resident.link is not None
            with resident.relay.serving(hooks):
                await resident.apply_log_levels()
                return await guarded(spec, resident.link, operation(resident.client))
        except ServerCrashedError:
            resident.stopping.set()
            raise
        finally:
            resident.release()
