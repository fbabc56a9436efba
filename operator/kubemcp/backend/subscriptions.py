"""Resource subscriptions the gateway holds on resident instances: one per (instance, URI), however many
client sessions asked for it, released with the last of them.

A handshake-era server is sent `resources/subscribe` (and `resources/unsubscribe` at the end); a
2026-07-28 server gets a `subscriptions/listen` stream for the URI. Either way its
`notifications/resources/updated` reach the instance's relay, which hands them to the gateway. A
subscription holds a lease on the instance, so a subscribed instance is not stopped as idle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import anyio
import mcp_types as types
from anyio.abc import TaskGroup, TaskStatus
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from kubemcp.backend.hooks import CallHooks
from kubemcp.backend.pool import BackendPool
from kubemcp.backend.resident import Key, Resident
from kubemcp.errors import ServerError
from kubemcp.model.spec import ServerSpec

logger = logging.getLogger(__name__)


class NotSubscribable(Exception):
    """The server cannot be subscribed to (it runs per call, or does not offer subscriptions)."""


@dataclass
class _Held:
    resident: Resident
    count: int = 0
    listen: anyio.CancelScope | None = field(default=None)


class Upstream:
    """Subscriptions on the pool's resident instances, counted per (instance, URI)."""

    def __init__(self, pool: BackendPool, tg: TaskGroup) -> None:
        self.pool = pool
        self.tg = tg
        self._held: dict[tuple[Key, str], _Held] = {}
        self._lock = anyio.Lock()

    async def acquire(self, spec: ServerSpec, hooks: CallHooks, uri: str) -> tuple[Key, str]:
        """Subscribe (once per instance) to `uri` on the instance serving `hooks`' session; a handle to release."""
        if not spec.lifecycle.resident or spec.lifecycle.resident_key(hooks.session) is None:
            raise NotSubscribable(
                f"server {spec.name!r} runs per call: no instance outlives a request to send resource updates "
                "(subscriptions need a long-lived or per-session server)"
            )
        async with self._lock:
            resident = await self.pool.lease(spec, hooks)
            handle = (resident.key, uri)
            held = self._held.get(handle)
            if held is not None and held.resident is resident and not resident.stopping.is_set():
                held.count += 1
                resident.release()  # one lease per subscribed URI is enough
                return handle
            try:
                held = _Held(resident, count=1)
                await self._subscribe(resident, uri, held)
            except BaseException:
                resident.release()
                raise
            self._held[handle] = held
            if hooks.session is not None:
                resident.relay.attach(hooks.session)
            return handle

    async def release(self, handle: tuple[Key, str]) -> None:
        async with self._lock:
            held = self._held.get(handle)
            if held is None:
                return
            held.count -= 1
            if held.count > 0:
                return
            del self._held[handle]
            try:
                await self._unsubscribe(held.resident, handle[1], held)
            finally:
                held.resident.release()

    async def _subscribe(self, resident: Resident, uri: str, held: _Held) -> None:
        client = resident.client
        assert client is not None
        resources = client.server_capabilities.resources
        if resources is None or not resources.subscribe:
            raise NotSubscribable(f"server {resident.spec.name!r} does not offer resource subscriptions")
        if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
            held.listen = await self.tg.start(self._listen, client, uri)
            return
        try:
            await client.session.send_request(
                types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri)), types.EmptyResult
            )
        except MCPError:
            raise
        except Exception as exc:
            raise ServerError(resident.spec.name, f"cannot subscribe to {uri}: {exc}") from exc

    async def _unsubscribe(self, resident: Resident, uri: str, held: _Held) -> None:
        if held.listen is not None:
            held.listen.cancel()
            return
        client = resident.client
        if client is None or resident.stopping.is_set():
            return
        try:
            await client.session.send_request(
                types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri=uri)), types.EmptyResult
            )
        except Exception as exc:  # the subscription ends with the instance anyway
            logger.debug("unsubscribing %s from %s failed: %s", resident.spec.name, uri, exc)

    async def _listen(
        self, client: Client, uri: str, *, task_status: TaskStatus[anyio.CancelScope] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """A listen stream for `uri`; its events reach the instance's relay (the session tees them)."""
        started = False
        with anyio.CancelScope() as scope:
            try:
                async with client.listen(resource_subscriptions=[uri]) as subscription:
                    task_status.started(scope)
                    started = True
                    async for _event in subscription:
                        pass
            except Exception as exc:
                if not started:
                    raise
                logger.info("resource subscription to %s ended: %s", uri, exc)
