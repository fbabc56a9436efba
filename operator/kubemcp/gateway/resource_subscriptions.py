"""Which client sessions subscribed to which resources, and routing `notifications/resources/updated`
to those sessions only.

A 2025-era session subscribes with `resources/subscribe`; a 2026-07-28 client lists the URIs in its
`subscriptions/listen` stream. Either way the gateway holds one subscription per URI on the
resident instance serving it (`backend.subscriptions`); an update from that instance goes to the
sessions subscribed to that server's URI and, through the subscription bus, to the listen streams
that asked for the URI.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import ListenHandler, ResourceUpdated, SubscriptionBus

from kubemcp.backend.hooks import CallHooks
from kubemcp.backend.resident import Key
from kubemcp.backend.subscriptions import Upstream
from kubemcp.gateway.client_sessions import ClientSessionState
from kubemcp.model.spec import ServerSpec

logger = logging.getLogger(__name__)

Handle = tuple[Key, str]


class ResourceSubscriptions:
    def __init__(self, bus: SubscriptionBus) -> None:
        self.bus = bus
        self.upstream: Upstream | None = None  # set while the gateway runs
        self._sessions: dict[tuple[str, str], set[ClientSessionState]] = {}
        self._handles: dict[tuple[int, str], tuple[str, Handle]] = {}  # (session id, uri) -> (server, handle)

    def _require_upstream(self) -> Upstream:
        if self.upstream is None:
            raise RuntimeError("the gateway is not running")
        return self.upstream

    async def subscribe(self, state: ClientSessionState, spec: ServerSpec, uri: str, hooks: CallHooks) -> None:
        """Subscribe a 2025-era session; subscribing again to the same URI is a no-op, as the spec allows."""
        if (id(state), uri) in self._handles:
            return
        handle = await self._require_upstream().acquire(spec, hooks, uri)
        self._handles[(id(state), uri)] = (spec.name, handle)
        self._sessions.setdefault((spec.name, uri), set()).add(state)
        state.subscriptions.add((spec.name, uri))

    async def unsubscribe(self, state: ClientSessionState, uri: str) -> None:
        held = self._handles.pop((id(state), uri), None)
        if held is None:
            return
        server, handle = held
        state.subscriptions.discard((server, uri))
        subscribed = self._sessions.get((server, uri), set())
        subscribed.discard(state)
        if not subscribed:
            self._sessions.pop((server, uri), None)
        with anyio.CancelScope(shield=True):
            await self._require_upstream().release(handle)

    async def session_closed(self, state: ClientSessionState) -> None:
        for _server, uri in list(state.subscriptions):
            await self.unsubscribe(state, uri)

    async def updated(self, server: str, uri: str) -> None:
        notification = types.ResourceUpdatedNotification(params=types.ResourceUpdatedNotificationParams(uri=uri))
        for state in list(self._sessions.get((server, uri), ())):
            await state.send_notification(notification)
        await self.bus.publish(ResourceUpdated(uri=uri))


class GatewayListen:
    """`subscriptions/listen` for 2026-07-28 clients: the SDK's handler, plus the upstream subscriptions
    its resource URIs need while the stream is open. URIs that cannot be subscribed to are left out
    of the acknowledged filter."""

    def __init__(self, inner: ListenHandler, subscriptions: ResourceSubscriptions, owner: Any) -> None:
        self.inner = inner
        self.subscriptions = subscriptions
        self.owner = owner  # async (uri) -> ServerSpec

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        requested = params.notifications.resource_subscriptions or []
        held: list[Handle] = []
        honored: list[str] = []
        upstream = self.subscriptions._require_upstream()
        try:
            for uri in requested:
                try:
                    spec = await self.owner(uri)
                    held.append(await upstream.acquire(spec, CallHooks(), uri))
                    honored.append(uri)
                except Exception as exc:  # left out of the acknowledged filter
                    logger.info("not subscribing a listen stream to %s: %s", uri, exc)
            notifications = params.notifications.model_copy(update={"resource_subscriptions": honored or None})
            return await self.inner(ctx, params.model_copy(update={"notifications": notifications}))
        finally:
            with anyio.CancelScope(shield=True):
                for handle in held:
                    await upstream.release(handle)
