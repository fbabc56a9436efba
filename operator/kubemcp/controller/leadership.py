"""Leader election with a `coordination.k8s.io/v1` Lease: one operator replica reconciles, the others wait.

The holder renews the Lease every `renew` seconds; a replica takes it over once it has not been
renewed for `duration` seconds (the holder is gone), or at once when the holder released it on
its way out. Writes carry the Lease's resourceVersion, so two replicas can never both win a race.
A holder that cannot renew in time stops reconciling before anyone else may start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from kubemcp.kube.api import KubeApi
from kubemcp.kube.client import ConflictError, KubeApiError, NotFoundError, path_for

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
API = "coordination.k8s.io/v1"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Leadership:
    def __init__(
        self,
        kube: KubeApi,
        namespace: str,
        name: str,
        identity: str,
        *,
        duration: float = 8.0,
        renew: float = 2.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew = renew
        self.leading = False
        self._last_renewal = 0.0

    @property
    def path(self) -> str:
        return path_for(API, "leases", self.namespace, self.name)

    def _spec(self, lease: Obj | None) -> Obj:
        current = (lease or {}).get("spec") or {}
        transitions = int(current.get("leaseTransitions") or 0)
        taking_over = current.get("holderIdentity") != self.identity
        now = _now()
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.duration),
            "acquireTime": now if taking_over else current.get("acquireTime", now),
            "renewTime": now,
            "leaseTransitions": transitions + (1 if taking_over and lease is not None else 0),
        }

    def _free(self, lease: Obj) -> bool:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        if not holder or holder == self.identity:
            return True
        renewed = _parse(spec.get("renewTime")) or 0.0
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        return time.time() > renewed + duration

    async def try_acquire(self) -> bool:
        """One attempt to take or keep the Lease; True when this replica holds it now."""
        try:
            lease: Obj | None = await self.kube.get(self.path)
        except NotFoundError:
            lease = None
        try:
            if lease is None:
                body = {
                    "apiVersion": API,
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec(None),
                }
                await self.kube.create(path_for(API, "leases", self.namespace), body)
            elif self._free(lease):
                body = {**lease, "spec": self._spec(lease)}
                await self.kube.replace(self.path, body)
            else:
                return False
        except ConflictError:
            return False  # another replica wrote first
        self._last_renewal = time.monotonic()
        return True

    async def acquire(self) -> None:
        """Wait until this replica holds the Lease."""
        logged = False
        while not await self._attempt():
            if not logged:
                logger.info("waiting for the operator lease %s/%s (another replica leads)", self.namespace, self.name)
                logged = True
            await asyncio.sleep(self.renew)
        self.leading = True
        logger.info("leading: holding the operator lease %s/%s as %s", self.namespace, self.name, self.identity)

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire()
        except KubeApiError as exc:
            logger.warning("cannot take the operator lease: %s", exc)
            return False

    async def keep(self, lost: asyncio.Event) -> None:
        """Renew until it fails for longer than is safe; then set `lost` (stop leading at once)."""
        margin = self.duration - 2 * self.renew
        while True:
            await asyncio.sleep(self.renew)
            if await self._attempt():
                continue
            if time.monotonic() - self._last_renewal >= margin:
                logger.error("lost the operator lease %s/%s: stopping", self.namespace, self.name)
                self.leading = False
                lost.set()
                return

    async def release(self) -> None:
        """Hand the Lease back on the way out, so another replica takes over without waiting for it to expire."""
        if not self.leading:
            return
        self.leading = False
        try:
            lease = await self.kube.get(self.path)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") == self.identity:
                await self.kube.replace(self.path, {**lease, "spec": {**spec, "holderIdentity": None}})
                logger.info("released the operator lease %s/%s", self.namespace, self.name)
        except KubeApiError as exc:
            logger.warning("cannot release the operator lease: %s", exc)
