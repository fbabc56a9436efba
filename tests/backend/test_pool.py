"""The backend pool's lifecycles, against in-process servers (the runtime boundary is faked)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import jsonschema.validators
import mcp_types as types
import pytest
from kubemcp.backend.hooks import CallHooks
from kubemcp.backend.pool import BackendPool
from kubemcp.backend.session import Sessions
from kubemcp.backend.warm import Prepared, WarmSet
from kubemcp.backend.warm_demand import WarmDemand
from kubemcp.errors import ServerTimeoutError, ServerUnavailableError
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.link import BackendLink
from kubemcp.model.spec import ServerSpec, build_spec
from kubemcp.telemetry import calls
from mcp.client import Client
from mcp.server.mcpserver import MCPServer
from memory_runtime import MemoryRuntime, RecordingSession, counter_server

pytestmark = pytest.mark.anyio
SOURCE = CatalogSource(path="c.yaml", line=1, directory=".")


def _spec(
    name: str = "s",
    *,
    long_lived: bool = False,
    config: dict[str, object] | None = None,
    lifecycle: str = "perCall",
    warm_pool: int = 0,
) -> ServerSpec:
    entry = CatalogEntry.model_validate(
        {"image": "x/y", "longLived": long_lived, "kubernetes": {"lifecycle": lifecycle, "warmPool": warm_pool}}
    )
    return build_spec(name, entry, SOURCE, config or {}, {})


async def _until_ready(pool: BackendPool, count: int) -> None:
    """Wait (5 s at most) until server `s` has `count` warm instances ready."""
    with anyio.fail_after(5):
        while pool.warm_ready() != {"s": count}:
            await anyio.sleep(0.01)


async def _settled(runtime: MemoryRuntime, running: int) -> None:
    with anyio.fail_after(5):
        while runtime.running != running:
            await anyio.sleep(0.01)


async def _instance(pool: BackendPool, spec: ServerSpec) -> int:
    result = await pool.call(spec, lambda c: c.call_tool("instance_number", {}))
    assert isinstance(result.structured_content, dict)
    value = result.structured_content["result"]
    assert isinstance(value, int)
    return value


async def test_per_call_starts_and_stops_an_instance_per_call() -> None:
    runtime = MemoryRuntime(counter_server)
    pool = BackendPool(runtime)
    async with pool.running():
        assert [await _instance(pool, _spec()) for _ in range(3)] == [1, 2, 3]
        await _settled(runtime, 0)  # each instance stops right after its answer


async def test_long_lived_is_shared_by_concurrent_calls() -> None:
    runtime = MemoryRuntime(counter_server)
    pool = BackendPool(runtime, idle_timeout=60)
    spec = _spec(long_lived=True)
    seen: list[int] = []
    async with pool.running():
        async with anyio.create_task_group() as tg:
            for _ in range(10):

                async def call() -> None:
                    seen.append(await _instance(pool, spec))

                tg.start_soon(call)
        assert seen == [1] * 10
        assert pool.resident_names() == ["s"]
    assert runtime.running == 0  # the pool's end stops resident instances


async def test_long_lived_stops_when_idle_and_restarts_on_demand() -> None:
    runtime = MemoryRuntime(counter_server)
    pool = BackendPool(runtime, idle_timeout=0.05)
    spec = _spec(long_lived=True)
    async with pool.running():
        assert await _instance(pool, spec) == 1
        with anyio.fail_after(5):
            while runtime.running:
                await anyio.sleep(0.01)
        assert pool.resident_names() == []
        assert await _instance(pool, spec) == 2


async def test_changed_config_replaces_a_resident_instance() -> None:
    runtime = MemoryRuntime(counter_server)
    pool = BackendPool(runtime, idle_timeout=60)
    async with pool.running():
        assert await _instance(pool, _spec(long_lived=True, config={"v": 1})) == 1
        assert await _instance(pool, _spec(long_lived=True, config={"v": 1})) == 1
        assert await _instance(pool, _spec(long_lived=True, config={"v": 2})) == 2


async def test_protocol_era_is_remembered_per_server() -> None:
    pool = BackendPool(MemoryRuntime(counter_server))
    spec = _spec()

    async def version_of(client: Client) -> str:
        return client.protocol_version

    async with pool.running():
        # A client of the 2026 revision gets the newest the server offers; the gateway's own calls (and
        # clients of the handshake era) the handshake era, which carries what only that era has.
        assert await pool.call(spec, version_of, CallHooks(modern=True)) == "2026-07-28"
        assert await pool.call(spec, version_of) == "2025-11-25"
        assert spec.digest not in pool.sessions.handshake_only | pool.sessions.modern_only
        tools = await pool.call(spec, lambda c: c.list_tools(), CallHooks(modern=True))  # capabilities still seen
    assert {tool.name for tool in tools.tools} == {"instance_number", "greet"}


async def test_runtime_failures_surface_as_server_errors() -> None:
    def broken(spec: ServerSpec, instance: int) -> MCPServer:
        raise ServerUnavailableError(spec.name, "image not found")

    pool = BackendPool(MemoryRuntime(broken))
    async with pool.running():
        with pytest.raises(ServerUnavailableError, match="server 's': image not found"):
            await pool.call(_spec(), lambda c: c.list_tools())


async def test_tool_errors_are_results_not_failures() -> None:
    pool = BackendPool(MemoryRuntime(counter_server))
    async with pool.running():
        result = await pool.call(_spec(), lambda c: c.call_tool("greet", {}))
    assert result.is_error
    assert isinstance(result.content[0], types.TextContent)


async def test_per_session_instances_follow_the_client_session() -> None:
    runtime = MemoryRuntime(counter_server)
    pool = BackendPool(runtime, idle_timeout=60)
    spec = _spec(lifecycle="perSession")
    first, second = RecordingSession(), RecordingSession()

    async def instance(session: RecordingSession | None) -> int:
        result = await pool.call(spec, lambda c: c.call_tool("instance_number", {}), CallHooks(session=session))
        assert isinstance(result.structured_content, dict)
        return int(result.structured_content["result"])

    async with pool.running():
        assert [await instance(first), await instance(second), await instance(first)] == [1, 2, 1]
        assert await instance(None) == 3  # no session (stateless request): an instance for the call alone
        await _settled(runtime, 2)


async def test_warm_instances_are_ready_before_calls_and_serve_one_call_each() -> None:
    runtime = MemoryRuntime(counter_server)
    pool = BackendPool(runtime)
    spec = _spec(lifecycle="perCall", warm_pool=2)
    async with pool.running():
        pool.warm_up([spec])
        await _settled(runtime, 2)  # prepared ahead of any call
        assert runtime.started == 2
        await _until_ready(pool, 2)
        first = await _instance(pool, spec)
        second = await _instance(pool, spec)
        assert {first, second} == {1, 2}  # the prepared ones answered, one call each
        with anyio.fail_after(5):
            while runtime.started != 4:  # replaced once their calls were answered
                await anyio.sleep(0.01)
        await _settled(runtime, 2)  # the used ones stopped, replacements are ready
        pool.warm_up([])  # the server is no longer served: its warm instances stop
        await _settled(runtime, 0)


async def test_a_warm_call_does_no_instance_work_but_its_own_request() -> None:
    """Stopping the used instance and starting its replacement (on Kubernetes: API requests, a Pod, an
    attach) wait until the call is answered, so they do not compete with the call on its way."""
    runtime = MemoryRuntime(counter_server)
    pool = BackendPool(runtime)
    spec = _spec(lifecycle="perCall", warm_pool=1)
    during: list[tuple[int, int]] = []

    async def observed(client: Client) -> types.CallToolResult:
        result = await client.call_tool("instance_number", {})
        for _ in range(20):  # give anything the take scheduled every chance to run within the call
            await anyio.lowlevel.checkpoint()
        during.append((runtime.started, runtime.running))
        return result

    async with pool.running():
        pool.warm_up([spec])
        await _until_ready(pool, 1)
        assert runtime.started == 1
        result = await pool.call(spec, observed)
        assert result.structured_content == {"result": 1}  # the warm instance answered
        assert during == [(1, 1)]  # no replacement started, the used instance not stopped, within the call
        with anyio.fail_after(5):
            while pool.warm_ready() != {"s": 1} or runtime.started != 2:
                await anyio.sleep(0.01)
        await _settled(runtime, 1)  # after the answer: the used one stopped, its replacement ready


async def _one_warm_call(runtime: MemoryRuntime, when: list[str]) -> int:
    """Prepare one warm instance of a per-call server, set `when` to "call", make its call: which instance
    answered (the pool stops before the used instance's replacement is prepared)."""
    pool = BackendPool(runtime)
    spec = _spec(lifecycle="perCall", warm_pool=1)
    async with pool.running():
        pool.warm_up([spec])
        await _until_ready(pool, 1)
        when[0] = "call"
        return await _instance(pool, spec)


async def test_a_warm_call_makes_only_its_own_request_to_its_instance() -> None:
    """The client session lists a fresh instance's tools before it checks a result against the tool's
    output schema: a warm instance is primed with that listing while it is prepared, so its call makes
    one request, as a call to a long-lived instance does."""
    listed: list[tuple[int, str]] = []  # (instance, when): "prepared" or "call"
    when = ["prepared"]

    class Listing(MCPServer):
        async def list_tools(self) -> list[types.Tool]:
            listed.append((self.instance, when[0]))
            return await super().list_tools()

        def __init__(self, name: str, instance: int) -> None:
            super().__init__(name)
            self.instance = instance

    def factory(spec: ServerSpec, instance: int) -> MCPServer:
        server = Listing(spec.name, instance)

        @server.tool()
        def instance_number() -> int:
            """Which instance answered."""
            return instance

        return server

    assert await _one_warm_call(MemoryRuntime(factory), when) == 1  # the warm instance answered
    assert [at for instance, at in listed if instance == 1] == ["prepared"]


async def test_a_warm_instance_s_output_validators_are_compiled_before_its_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client session compiles a tool's output-schema validator at the first result it checks (once per
    session): a warm instance's session compiles them while it is prepared, off the call's path."""
    compiled: list[str] = []  # when: "prepared" or "call"
    when = ["prepared"]
    original = jsonschema.validators.validator_for

    def recording(schema: Any, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_code
        if caller.co_name == "_output_schema_validator":  # the client session's (the server checks too)
            compiled.append(when[0])
        return original(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema.validators, "validator_for", recording)
    # the warm instance answered, its result checked against the tool's output schema
    assert await _one_warm_call(MemoryRuntime(counter_server), when) == 1
    assert compiled
    assert "call" not in compiled


class GatedRuntime(MemoryRuntime):
    """A memory runtime whose instances start and stop only when the test opens a gate."""

    def __init__(self) -> None:
        super().__init__(counter_server)
        self.starting = anyio.Event()
        self.start_gate = anyio.Event()
        self.stopping = anyio.Event()
        self.stop_gate = anyio.Event()

    @asynccontextmanager
    async def connect(self, spec: ServerSpec) -> AsyncIterator[BackendLink]:
        self.starting.set()
        await self.start_gate.wait()
        try:
            async with super().connect(spec) as link:
                yield link
        finally:
            self.stopping.set()
            with anyio.CancelScope(shield=True):
                await self.stop_gate.wait()


async def _elapse(seconds: float) -> None:
    """Let `seconds` pass (the idle timers run meanwhile)."""
    deadline = anyio.current_time() + seconds
    while anyio.current_time() < deadline:
        await anyio.sleep(0.01)


async def test_a_long_lived_server_slower_to_start_than_its_idle_timeout_still_serves_its_call() -> None:
    runtime = GatedRuntime()
    runtime.stop_gate.set()
    pool = BackendPool(runtime, idle_timeout=0.05)
    spec = _spec(long_lived=True)
    results: list[int] = []
    with anyio.fail_after(10):
        async with pool.running(), anyio.create_task_group() as tg:

            async def call() -> None:
                results.append(await _instance(pool, spec))

            tg.start_soon(call)
            await runtime.starting.wait()
            await _elapse(0.2)  # the start takes four idle timeouts
            runtime.start_gate.set()
    assert results == [1]


async def test_a_call_arriving_while_an_idle_instance_stops_gets_a_new_instance() -> None:
    runtime = GatedRuntime()
    runtime.start_gate.set()
    pool = BackendPool(runtime, idle_timeout=0.05)
    spec = _spec(long_lived=True)
    with anyio.fail_after(10):
        async with pool.running():
            try:
                assert await _instance(pool, spec) == 1
                await runtime.stopping.wait()  # the idle timer ended the first instance; it has not gone yet
                assert pool.resident_names() == ["s"]
                assert await _instance(pool, spec) == 2
            finally:
                runtime.stop_gate.set()


async def test_a_backend_that_does_not_answer_in_time_fails_naming_the_server() -> None:
    def slow(spec: ServerSpec, instance: int) -> MCPServer:
        server = MCPServer(spec.name)

        @server.tool()
        async def wait() -> str:
            """Never answers in time."""
            await anyio.sleep(600)
            return "late"

        return server

    runtime = MemoryRuntime(slow)
    pool = BackendPool(runtime, call_timeout=0.2)
    async with pool.running():
        with pytest.raises(ServerTimeoutError, match="server 's': no answer in time"):
            await pool.call(_spec(), lambda client: client.call_tool("wait", {}))
        await _settled(runtime, 0)  # its instance was stopped


async def test_a_warm_set_grows_with_a_burst_of_calls_and_shrinks_back_when_idle() -> None:
    runtime = MemoryRuntime(counter_server)
    entry = CatalogEntry.model_validate({"image": "x/y", "warm": {"min": 1, "max": 3}})
    spec = build_spec("s", entry, SOURCE, {}, {})
    now = [1000.0]
    demand = WarmDemand(1, 3, window=60.0, clock=lambda: now[0])
    async with anyio.create_task_group() as tg:
        warm = WarmSet(Sessions(runtime), spec, demand, tg, max_idle=3600)
        warm.refill()
        with anyio.fail_after(5):
            while len(warm.ready) != 1:
                await anyio.sleep(0.01)
        taken: list[Prepared | None] = []

        async def take() -> None:
            taken.append(await warm.take())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as calls:  # three calls at once: the pool grows to three
                for _ in range(3):
                    calls.start_soon(take)
        assert warm.size == 3
        # One took the ready instance; the other two waited for two of the three the misses started
        # instead of starting their own: four started in all, the fourth is ready.
        assert all(prepared is not None for prepared in taken)
        assert runtime.started == 4
        with anyio.fail_after(5):
            while len(warm.ready) != 1:
                await anyio.sleep(0.01)
        for prepared in taken:
            assert prepared is not None
            prepared.done.set()
        await _settled(runtime, 1)
        now[0] += 61  # a window without calls: back to the minimum
        warm.resize()
        assert (warm.size, len(warm.ready)) == (1, 1)
        await _settled(runtime, 1)
        warm.close()
        await _settled(runtime, 0)


async def test_a_burst_of_calls_leases_a_running_instance_in_one_event_loop_turn() -> None:
    """Taking a lock yields to the event loop: a burst of calls on a running long-lived instance that went
    through the start lock would lease it one event-loop turn at a time (a convoy behind a busy loop)."""
    pool = BackendPool(MemoryRuntime(counter_server), idle_timeout=60)
    spec = _spec(long_lived=True)
    leased = 0

    async def lease() -> None:
        nonlocal leased
        resident = await pool.lease(spec, CallHooks())
        leased += 1
        resident.release()

    async with pool.running():
        assert await _instance(pool, spec) == 1  # started
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(lease)
            await anyio.lowlevel.checkpoint()  # one turn for each of them
            assert leased == 100


async def test_a_warm_instance_that_finishes_starting_after_its_pool_closed_stops() -> None:
    """An instance still starting when its server stops being served (or its pool shrank) is stopped once
    started, not kept waiting for a call that cannot come."""
    runtime = GatedRuntime()
    runtime.stop_gate.set()
    pool = BackendPool(runtime)
    spec = _spec(lifecycle="perCall", warm_pool=1)
    async with pool.running():
        pool.warm_up([spec])
        with anyio.fail_after(5):
            await runtime.starting.wait()
        pool.warm_up([])  # no longer served while its one instance starts
        runtime.start_gate.set()
        with anyio.fail_after(5):
            await runtime.stopping.wait()
        await _settled(runtime, 0)
        assert pool.warm_ready() == {}


class FailingStartRuntime(MemoryRuntime):
    """A memory runtime whose starts with these numbers fail (1 is the first)."""

    def __init__(self, failing: set[int]) -> None:
        super().__init__(counter_server)
        self.failing = failing

    @asynccontextmanager
    async def connect(self, spec: ServerSpec) -> AsyncIterator[BackendLink]:
        if self.started + 1 in self.failing:
            self.started += 1
            raise ServerUnavailableError(spec.name, "no room on the node")
        async with super().connect(spec) as link:
            yield link


async def _held_call(pool: BackendPool, spec: ServerSpec, held: anyio.Event, taken: anyio.Event) -> None:
    """A call that keeps its instance until `held` is set."""

    async def hold(client: Client) -> types.CallToolResult:
        taken.set()
        await held.wait()
        return await client.call_tool("instance_number", {})

    await pool.call(spec, hold)


@pytest.mark.parametrize("fails", [False, True])
async def test_a_miss_waits_for_the_instance_starting_instead_of_starting_one_more(fails: bool) -> None:
    """A call that finds no ready instance is served by the one the pool starts for it rather than a start
    of its own (one start per call on the node); only when that start fails does it start its own."""
    runtime = FailingStartRuntime({2} if fails else set())
    pool = BackendPool(runtime)
    spec = _spec(lifecycle="perCall", warm_pool=1)
    starts_during: list[int] = []

    async def observed(client: Client) -> types.CallToolResult:
        result = await client.call_tool("instance_number", {})
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        starts_during.append(runtime.started)
        return result

    async with pool.running():
        pool.warm_up([spec])
        with anyio.fail_after(5):
            await _until_ready(pool, 1)
            held, taken = anyio.Event(), anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(_held_call, pool, spec, held, taken)
                await taken.wait()  # the ready instance is in use: the next call misses
                with calls.noting() as note:
                    result = await pool.call(spec, observed)
                held.set()
        assert result.structured_content == {"result": 3 if fails else 2}
        if fails:  # the pool's start failed: the call started its own instance
            assert (starts_during, note.warm) == ([3], False)
        else:  # no instance of its own (nor a replacement besides the one it waited for)
            assert (starts_during, note.warm) == ([2], True)
            assert note.warm_waited is not None
