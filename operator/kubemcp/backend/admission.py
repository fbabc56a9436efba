"""Admission control: how many per-call instances may run at once, per server and in total.

A per-call request holds a slot from before its instance starts until the instance has stopped.
When no slot is free the request waits in one bounded first-come-first-served queue; a request
whose server has room is never held up by one whose server has none. A request that finds the
queue full, or waits longer than the queue timeout, fails with `ServerSaturatedError`, which says so.
`snapshot()` gives the numbers `/health` shows; every change of a server's queue is also set on the
`kubemcp_backend_queue_depth` gauge.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import anyio

from kubemcp.errors import ServerSaturatedError
from kubemcp.telemetry.metrics import record_queue_depth


def default_total() -> int:
    """Four per-call instances per CPU, at least 8: starting a server is mostly CPU work."""
    return max(8, 4 * (os.cpu_count() or 1))


@dataclass(eq=False)
class _Waiter:
    server: str
    limit: int
    granted: anyio.Event = field(default_factory=anyio.Event)


class Admission:
    def __init__(self, *, total: int, per_server: int | None = None, queue: int = 256, wait: float = 30.0) -> None:
        self.total = total
        self.per_server = per_server
        self.queue_limit = queue
        self.wait = wait
        self.running_total = 0
        self.running: dict[str, int] = {}
        self.waiters: deque[_Waiter] = deque()
        self.rejected = 0

    def limit_of(self, declared: int | None) -> int:
        """A server's own limit (its catalog entry's `kubernetes.maxInstances`), else the gateway's."""
        return declared or self.per_server or self.total

    def _fits(self, server: str, limit: int) -> bool:
        return self.running_total < self.total and self.running.get(server, 0) < limit

    def _take(self, server: str) -> None:
        self.running_total += 1
        self.running[server] = self.running.get(server, 0) + 1

    def _queued(self, *servers: str) -> None:
        """Set the queue depth gauge of these servers (their queues changed)."""
        for server in set(servers):
            record_queue_depth(server, sum(1 for waiter in self.waiters if waiter.server == server))

    def _dispatch(self) -> None:
        """Grant slots to waiters in arrival order, skipping those whose server is at its limit."""
        granted: list[str] = []
        for waiter in list(self.waiters):
            if self.running_total >= self.total:
                break
            if self._fits(waiter.server, waiter.limit):
                self.waiters.remove(waiter)
                self._take(waiter.server)
                waiter.granted.set()
                granted.append(waiter.server)
        self._queued(*granted)

    async def acquire(self, server: str, declared: int | None = None) -> None:
        """A slot for one instance of `server`; release it with `release(server)` once it has stopped."""
        limit = self.limit_of(declared)
        queued_for_server = any(waiter.server == server for waiter in self.waiters)
        if not queued_for_server and self._fits(server, limit):
            self._take(server)
            return
        if len(self.waiters) >= self.queue_limit:
            self.rejected += 1
            raise ServerSaturatedError(
                server,
                f"{self._load(server, limit)}, and {len(self.waiters)} calls already wait (the most allowed); "
                "try again later",
            )
        waiter = _Waiter(server, limit)
        self.waiters.append(waiter)
        self._queued(server)
        try:
            with anyio.move_on_after(self.wait):
                await waiter.granted.wait()
        except BaseException:  # cancelled while waiting
            if waiter.granted.is_set():
                self.release(server)  # granted at that very moment: give the slot back
            else:
                self.waiters.remove(waiter)
                self._queued(server)
            raise
        if not waiter.granted.is_set():
            self.waiters.remove(waiter)
            self._queued(server)
            self.rejected += 1
            raise ServerSaturatedError(
                server, f"{self._load(server, limit)}; waited {self.wait:g}s for a free one; try again later"
            )

    def release(self, server: str) -> None:
        self.running_total -= 1
        left = self.running.get(server, 1) - 1
        if left:
            self.running[server] = left
        else:
            self.running.pop(server, None)
        self._dispatch()

    def _load(self, server: str, limit: int) -> str:
        mine = self.running.get(server, 0)
        if mine >= limit:
            return f"it is saturated: {mine} instances run, its limit"
        return f"the gateway is saturated: {self.running_total} per-call instances run, its limit"

    def snapshot(self) -> dict[str, Any]:
        """Queue depth and slots in use, in total and per server (for /health and metrics)."""
        queued: dict[str, int] = {}
        for waiter in self.waiters:
            queued[waiter.server] = queued.get(waiter.server, 0) + 1
        servers = sorted(set(self.running) | set(queued))
        return {
            "running": self.running_total,
            "limit": self.total,
            "queued": len(self.waiters),
            "queue_limit": self.queue_limit,
            "rejected": self.rejected,
            "servers": {
                name: {"running": self.running.get(name, 0), "queued": queued.get(name, 0)} for name in servers
            },
        }
