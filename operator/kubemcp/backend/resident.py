"""A resident instance: a long-lived (or per-session) instance of one server, shared by calls."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import get_args

import anyio
import mcp_types as types
from anyio.abc import TaskStatus
from mcp.client import Client

from kubemcp.backend.hooks import SessionLink
from kubemcp.backend.relay import InstanceRelay
from kubemcp.backend.session import Sessions, set_log_level
from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec

logger = logging.getLogger(__name__)

Key = tuple[str, int]
LEVELS: tuple[types.LoggingLevel, ...] = get_args(types.LoggingLevel)  # least severe first


class Resident:
    """Started by `run` in the pool's task group; stops when idle for its timeout, or when told.

    Calls hold a lease (`lease`/`release`) for as long as they use the instance; it is created
    leased by the call that starts it, so it cannot be found idle before its first call has run,
    however long it takes to start. Deciding to stop and refusing new leases happen in one step.
    Resource subscriptions hold a lease too, so a subscribed instance is not stopped as idle.
    """

    def __init__(
        self,
        sessions: Sessions,
        spec: ServerSpec,
        key: Key,
        session: SessionLink | None,
        declare: types.ClientCapabilities,
        idle_timeout: float,
        on_end: Callable[[Resident], None],
    ) -> None:
        self.sessions = sessions
        self.spec = spec
        self.key = key
        self.session = session  # held so the id in `key` cannot be reused by another session meanwhile
        self.declare = declare
        self.idle_timeout = spec.idle_timeout or idle_timeout
        self.on_end = on_end
        self.client: Client | None = None
        self.link: BackendLink | None = None
        self.relay = InstanceRelay(spec.name, shared=True)
        self.stopping = anyio.Event()
        self.active = 1  # the lease of the call that starts it
        self.last_used = time.monotonic()
        self._log_level: types.LoggingLevel | None = None

    @property
    def started(self) -> bool:
        """Its handshake is done: calls can use it (until it stops)."""
        return self.client is not None and self.link is not None

    def lease(self) -> bool:
        """Take the instance for one call; False when it is stopping (start another one)."""
        if self.stopping.is_set():
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1
        self.last_used = time.monotonic()

    async def apply_log_levels(self) -> None:
        """Ask a handshake-era server for the most verbose level any of its sessions set (each session's
        own level is applied again on the way to it)."""
        levels = [session.log_level for session in self.relay.attached if session.log_level is not None]
        wanted = min(levels, key=LEVELS.index) if levels else None
        if wanted is None or wanted == self._log_level or self.client is None:
            return
        self._log_level = wanted
        await set_log_level(self.client, wanted)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self.sessions.open(self.spec, self.relay, declare=self.declare) as (client, link):
                self.client, self.link = client, link
                self.last_used = time.monotonic()
                task_status.started()
                while not self.stopping.is_set():
                    remaining = self.idle_timeout - (time.monotonic() - self.last_used)
                    if self.active == 0 and remaining <= 0:
                        self.stopping.set()  # no lease is granted from here on
                        logger.info("stopping idle long-lived server %s", self.spec.name)
                        break
                    with anyio.move_on_after(max(remaining, 0.05)):
                        await self.stopping.wait()
        finally:
            self.on_end(self)
