"""Removing the Kubernetes runtime's Pods and Jobs, also when the API server is away.

A call's Pod is removed when its call ends. If the API server cannot take the delete then (it is
restarting, the connection was cut, it answers 5xx), the object is remembered and deleted again in the
background until the API server takes it: the failed call is not held up, and no Pod or Job stays behind
once the API server is back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import KubeApiError, UnreachableError

logger = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 10.0
# How long stopping the gateway waits for the API server to take what is still to remove.
FLUSH_SECONDS = 5.0


def _transient(exc: KubeApiError) -> bool:
    """The API server may take the delete later: unreachable, overloaded or failing for now."""
    return isinstance(exc, UnreachableError) or exc.status == 429 or exc.status >= 500


class Removals:
    """Deletes objects by path (grace period 0); those the API server cannot take now are retried."""

    def __init__(self, kube: KubeApi) -> None:
        self.kube = kube
        self.pending: dict[str, str] = {}  # path -> what it is, for the log
        self._wake = anyio.Event()

    async def remove(self, path: str, what: str) -> None:
        """Delete now; if the API server cannot take it, remember it for the background retry.
        Raises only errors that a retry would not mend (e.g. 403)."""
        try:
            await self.kube.delete(path, grace_seconds=0)
        except KubeApiError as exc:
            if not _transient(exc):
                raise
            if path not in self.pending:
                logger.warning("could not remove %s now (%s); retrying until the API server takes it", what, exc)
            self.pending[path] = what
            self._wake.set()
        else:
            self.pending.pop(path, None)

    async def _retry_pending(self) -> None:
        for path, what in list(self.pending.items()):
            try:
                await self.kube.delete(path, grace_seconds=0)
            except KubeApiError as exc:
                if _transient(exc):
                    continue
                logger.warning("gave up removing %s: %s", what, exc)
            else:
                logger.info("removed %s after the API server came back", what)
            self.pending.pop(path, None)

    async def retry_forever(self) -> None:
        """Retry what is pending, backing off while the API server stays away."""
        delay = RETRY_FIRST_SECONDS
        while True:
            if not self.pending:
                self._wake = anyio.Event()
                await self._wake.wait()
                delay = RETRY_FIRST_SECONDS
            await anyio.sleep(delay)
            before = len(self.pending)
            await self._retry_pending()
            delay = RETRY_FIRST_SECONDS if len(self.pending) < before else min(delay * 2, RETRY_MAX_SECONDS)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Removals]:
        """Retries in the background while open; on leaving, one last bounded try."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.retry_forever)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(FLUSH_SECONDS):
            await self._retry_pending()
        for what in self.pending.values():
            logger.warning("left %s behind: the API server did not take its removal", what)
