"""The replicas of one gateway: which are serving, and which one adopts a session whose owner is gone.

The adopter is chosen by rendezvous hashing over the ready replicas, so every replica that asks
picks the same one while they see the same set.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import anyio

from kubemcp.kube.api import KubeApi

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


@dataclass
class Peers:
    """`ready`: replicas that take new work; `serving`: those that still answer (ready or draining);
    `draining`: this replica is stopping and hands its work to the others."""

    address: str
    ready: frozenset[str] = frozenset()
    serving: frozenset[str] = frozenset()
    draining: bool = False
    forwarded: int = 0  # requests this replica passed on to another
    adopted: int = 0  # sessions this replica took over from a replica that was gone

    def report(self) -> dict[str, object]:
        return {
            "address": self.address,
            "ready": sorted(self.ready),
            "forwarded": self.forwarded,
            "adopted": self.adopted,
        }

    def update(self, ready: Iterable[str], serving: Iterable[str]) -> None:
        self.ready, self.serving = frozenset(ready), frozenset(serving) | frozenset(ready)

    def reachable(self, owner: str) -> bool:
        return owner == self.address or owner in self.serving

    def adopter(self, session_id: str) -> str:
        """The ready replica that adopts `session_id` (this one when it knows no other); a draining
        replica never picks itself while it knows another."""
        candidates = set(self.ready)
        if self.draining:
            candidates.discard(self.address)
        else:
            candidates.add(self.address)
        if not candidates:
            return self.address

        def weight(replica: str) -> bytes:
            return hashlib.sha256(f"{replica}|{session_id}".encode()).digest()

        return max(sorted(candidates), key=weight)


class EndpointSlicePeers:
    """Keeps `Peers` current from the EndpointSlices of the gateway's Service."""

    def __init__(self, kube: KubeApi, namespace: str, service: str, port: int, peers: Peers) -> None:
        self.kube = kube
        self.namespace = namespace
        self.service = service
        self.port = port
        self.peers = peers

    async def refresh(self) -> None:
        from kubemcp.kube.client import path_for  # the API client only where replicas run in a cluster

        listed = await self.kube.list(
            path_for("discovery.k8s.io/v1", "endpointslices", self.namespace),
            label_selector=f"kubernetes.io/service-name={self.service}",
        )
        ready, serving = set(), set()
        for slice_ in listed.get("items", []):
            for endpoint in slice_.get("endpoints") or []:
                conditions = endpoint.get("conditions") or {}
                for address in endpoint.get("addresses") or []:
                    where = f"{address}:{self.port}"
                    if conditions.get("ready", True) and not conditions.get("terminating", False):
                        ready.add(where)
                    if conditions.get("serving", conditions.get("ready", True)):
                        serving.add(where)
        self.peers.update(ready, serving)

    async def follow(self) -> None:
        from kubemcp.kube.client import KubeApiError

        while True:
            try:
                await self.refresh()
            except KubeApiError as exc:
                logger.warning("cannot read the endpoints of service %s: %s", self.service, exc)
            await anyio.sleep(REFRESH_SECONDS)
