"""Admission control: per-call instances are bounded per server and in total; further calls wait in a
bounded queue, in order, and fail with a saturation error when it is full or too slow."""

from __future__ import annotations

import anyio
import pytest
from kubemcp.backend.admission import Admission
from kubemcp.backend.pool import BackendPool
from kubemcp.errors import ServerSaturatedError
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.spec import ServerSpec, build_spec
from kubemcp.telemetry.metrics import REGISTRY
from memory_runtime import MemoryRuntime, counter_server

pytestmark = pytest.mark.anyio


async def test_slots_are_granted_in_order_and_per_server_limits_do_not_block_others() -> None:
    admission = Admission(total=3, per_server=2, queue=10, wait=30)
    await admission.acquire("a")
    await admission.acquire("a")
    order: list[str] = []

    async def wait_for(server: str, tag: str) -> None:
        await admission.acquire(server)
        order.append(tag)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for, "a", "a3")  # "a" is at its own limit: waits
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(wait_for, "b", "b1")  # "b" has room and the total has one slot: not held up by "a3"
        await anyio.wait_all_tasks_blocked()
        assert order == ["b1"]
        assert admission.snapshot()["queued"] == 1
        tg.start_soon(wait_for, "b", "b2")  # the total is full now: waits behind a3
        await anyio.wait_all_tasks_blocked()
        admission.release("a")  # a3 is first in line and "a" has room again
        await anyio.wait_all_tasks_blocked()
        assert order == ["b1", "a3"]
        admission.release("b")
    assert order == ["b1", "a3", "b2"]
    assert admission.snapshot()["running"] == 3


async def test_a_full_queue_fails_at_once_saying_the_server_is_saturated() -> None:
    admission = Admission(total=1, queue=1, wait=30)
    await admission.acquire("a")
    async with anyio.create_task_group() as tg:
        tg.start_soon(admission.acquire, "a")
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(ServerSaturatedError, match=r"saturated.*already wait") as refused:
            await admission.acquire("a")
        assert refused.value.server == "a"
        admission.release("a")
    assert admission.snapshot()["rejected"] == 1


async def test_a_call_that_waits_too_long_fails_and_leaves_the_queue() -> None:
    admission = Admission(total=1, queue=5, wait=0.05)
    await admission.acquire("a")
    with pytest.raises(ServerSaturatedError, match=r"waited 0\.05s"):
        await admission.acquire("a")
    assert admission.snapshot()["queued"] == 0


async def test_a_cancelled_waiter_gives_back_nothing_it_did_not_get() -> None:
    admission = Admission(total=1, queue=5, wait=30)
    await admission.acquire("a")
    with anyio.move_on_after(0.05):
        await admission.acquire("a")
    assert admission.snapshot() == {
        "running": 1,
        "limit": 1,
        "queued": 0,
        "queue_limit": 5,
        "rejected": 0,
        "servers": {"a": {"running": 1, "queued": 0}},
    }
    admission.release("a")
    await admission.acquire("a")  # the slot is free again


def queue_gauge(server: str) -> float | None:
    return REGISTRY.get_sample_value("kubemcp_backend_queue_depth", {"server": server})


async def test_the_queue_depth_gauge_follows_each_servers_queue() -> None:
    admission = Admission(total=1, queue=10, wait=30)
    await admission.acquire("queued-a")
    assert queue_gauge("queued-a") is None  # nothing ever waited for it
    async with anyio.create_task_group() as tg:
        tg.start_soon(admission.acquire, "queued-a")
        tg.start_soon(admission.acquire, "queued-b")
        await anyio.wait_all_tasks_blocked()
        assert (queue_gauge("queued-a"), queue_gauge("queued-b")) == (1, 1)
        with anyio.move_on_after(0.05):  # a third waits, then gives up
            await admission.acquire("queued-a")
        assert queue_gauge("queued-a") == 1
        admission.release("queued-a")  # the first waiter gets the slot
        await anyio.wait_all_tasks_blocked()
        assert (queue_gauge("queued-a"), queue_gauge("queued-b")) == (0, 1)
        admission.release("queued-a")
    assert (queue_gauge("queued-a"), queue_gauge("queued-b")) == (0, 0)
    admission.wait = 1.0

    async def waits_too_long() -> None:
        with pytest.raises(ServerSaturatedError, match="waited 1s"):
            await admission.acquire("queued-c")

    async with anyio.create_task_group() as tg:
        tg.start_soon(waits_too_long)
        await anyio.wait_all_tasks_blocked()
        assert queue_gauge("queued-c") == 1
    assert queue_gauge("queued-c") == 0  # it waited too long and left


SOURCE = CatalogSource(path="c.yaml", line=1, directory=".")


def _spec(max_instances: int | None = None) -> ServerSpec:
    form = {"maxInstances": max_instances} if max_instances else {}
    return build_spec("s", CatalogEntry.model_validate({"image": "x/y", "kubernetes": form}), SOURCE, {}, {})


async def test_the_pool_runs_no_more_per_call_instances_than_the_entry_allows() -> None:
    runtime = MemoryRuntime(counter_server)
    pool = BackendPool(runtime, admission=Admission(total=10, queue=100, wait=30))
    spec = _spec(max_instances=2)
    most = 0

    async def call() -> None:
        await pool.call(spec, lambda client: client.call_tool("greet", {"name": "x"}))

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, runtime.running)
            await anyio.sleep(0)

    async with pool.running(), anyio.create_task_group() as outer:
        outer.start_soon(watch)
        async with anyio.create_task_group() as calls:
            for _ in range(12):
                calls.start_soon(call)
        outer.cancel_scope.cancel()
    assert runtime.started == 12
    assert most <= 2
    assert pool.admission.snapshot()["running"] == 0
