"""Leader election over a Lease, against the in-memory API (which checks resourceVersions like the real one)."""

from __future__ import annotations

import asyncio

import pytest
from controller.fakekube import FakeKube
from kubemcp.controller.leadership import Leadership
from kubemcp.kube.client import KubeApiError

pytestmark = pytest.mark.anyio
NS = "kubemcp-system"


def replica(kube: FakeKube, name: str, **timing: float) -> Leadership:
    return Leadership(kube, NS, "kubemcp-operator", name, **timing)


async def test_one_replica_leads_and_the_other_waits() -> None:
    kube = FakeKube()
    first, second = replica(kube, "a"), replica(kube, "b")
    assert await first.try_acquire()
    assert not await second.try_acquire()
    assert await first.try_acquire()  # renewing its own lease
    lease = kube.objects[first.path]["spec"]
    assert lease["holderIdentity"] == "a"
    assert lease["leaseTransitions"] == 0


async def test_a_released_lease_is_taken_over_at_once() -> None:
    kube = FakeKube()
    first, second = replica(kube, "a"), replica(kube, "b")
    await first.acquire()
    await first.release()
    assert await second.try_acquire()
    assert kube.objects[first.path]["spec"]["holderIdentity"] == "b"


async def test_a_lease_not_renewed_in_time_is_taken_over() -> None:
    kube = FakeKube()
    first, second = replica(kube, "a"), replica(kube, "b")
    assert await first.try_acquire()
    kube.objects[first.path]["spec"]["renewTime"] = "2020-01-01T00:00:00.000000Z"  # the holder went silent
    assert await second.try_acquire()
    lease = kube.objects[first.path]["spec"]
    assert (lease["holderIdentity"], lease["leaseTransitions"]) == ("b", 1)
    assert not await first.try_acquire()


async def test_of_two_replicas_racing_for_a_free_lease_only_one_wins() -> None:
    kube = FakeKube()
    first, second = replica(kube, "a"), replica(kube, "b")
    assert await first.try_acquire()
    kube.objects[first.path]["spec"]["renewTime"] = "2020-01-01T00:00:00.000000Z"
    stale = await kube.get(first.path)  # both read the expired lease ...
    assert await second.try_acquire()  # ... b writes first ...
    original_get = kube.get

    async def stale_read(path: str, params: object = None) -> dict[str, object]:
        return stale if path == first.path else await original_get(path)

    kube.get = stale_read  # type: ignore[method-assign]
    assert not await replica(kube, "c").try_acquire()  # ... and c's write, based on the old version, is refused
    kube.get = original_get  # type: ignore[method-assign]
    assert kube.objects[first.path]["spec"]["holderIdentity"] == "b"


class Unreachable(FakeKube):
    async def replace(self, path: str, body: dict[str, object]) -> dict[str, object]:
        raise KubeApiError(503, "ServiceUnavailable", "the API server is away")


async def test_a_leader_that_cannot_renew_stops_before_its_lease_expires() -> None:
    kube = Unreachable()
    leader = replica(kube, "a", duration=0.6, renew=0.05)
    await leader.acquire()  # created, not replaced
    lost = asyncio.Event()
    async with asyncio.timeout(10):
        await leader.keep(lost)
    assert lost.is_set()
    assert not leader.leading
