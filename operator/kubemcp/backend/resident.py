"""A resident instance: a long-lived (or per-session) instance of one server, shared by calls."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import mcp_types as types
from anyio.abc import TaskStatus
from mcp.client import Client

from kubemcp.backend.hooks import CallHooks
from kubemcp.backend.session import Sessions
from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec

logger = logging.getLogger(__name__)

Key = tuple[str, int]


class Resident:
    """Started by `run` in the pool's task group; stops when idle for its timeout, or when told.

    Calls hold a lease (`lease`/`release`) for as long as they use the instance; it is created
    leased by the call that starts it, so it cannot be found idle before its first call has run,
    however long it takes to start. Deciding to stop and refusing new leases happen in one step.
    """

    def __init__(
        self,
        sessions: Sessions,
        spec: ServerSpec,
        key: Key,
        session: object | None,
        idle_timeout: float,
        on_end: Callable[[Resident], None],
    ) -> None:
        self.sessions = sessions
        self.spec = spec
        self.key = key
        self.session = session  # held so the id in `key` cannot be reused by another session meanwhile
        self.idle_timeout = spec.idle_timeout or idle_timeout
        self.on_end = on_end
        self.client: Client | None = None
        self.link: BackendLink | None = None
        self.stopping = anyio.Event()
        self.active = 1  # the lease of the call that starts it
        self.last_used = time.monotonic()
        self.hooks: set[CallHooks] = set()

    def lease(self) -> bool:
        """Take the instance for one call; False when it is stopping (start another one)."""
        if self.stopping.is_set():
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1
        self.last_used = time.monotonic()

    async def _fan_out_log(self, params: types.LoggingMessageNotificationParams) -> None:
        for hooks in list(self.hooks):
            if hooks.on_log is not None:
                await hooks.on_log(params)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self.sessions.open(self.spec, self._fan_out_log) as (client, link):
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
