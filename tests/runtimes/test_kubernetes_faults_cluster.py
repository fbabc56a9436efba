"""Faults in the cluster under the Kubernetes runtime: the API server restarted during calls, a server
Pod killed for its memory, the kubelet (and with it every `pods/attach` stream) gone mid-call. Each fails
only the calls it must, with an error naming the server, the gateway keeps serving, and no Pod or Job is
left once things settle.

`reliability/cluster_run.py` runs the tests marked `fault` a few times and reports their figures."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from cluster import harness
from cluster_pods import leftovers_after, pods, probe_entry, record_figures, started_instances, until
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from support import tool_value

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

PER_CALL = "kubemcp.dev/server=probe"
LONG_LIVED = "kubemcp.dev/server=kept"
# Long enough that only the fault ends them.
IN_FLIGHT_SECONDS = 300
# How long a call may take to fail once its stream is cut (the gateway waits up to 5 s for the Pod's state).
FAIL_WITHIN_SECONDS = 90


def _entries(image: str, **probe: Any) -> dict[str, Any]:
    """A per-call probe (`probe`) and a long-lived one whose tools are served as `kept__<tool>`."""
    return {
        "probe": {**probe_entry(image), **probe},
        "kept": {**probe_entry(image, lifecycle="longLived"), "prefix": "kept"},
    }


async def _fails(client: Client, tool: str, arguments: dict[str, Any], timeout: float = 90) -> str:
    """The error message of a call that must fail, within `timeout` seconds (never a hang)."""
    with anyio.fail_after(timeout):
        with pytest.raises(MCPError) as failed:
            await client.call_tool(tool, arguments)
    return failed.value.error.message


def _clear(message: str, server: str) -> None:
    assert f"server {server!r}" in message, message
    assert "Traceback" not in message, message


class InFlight:
    """Calls started before a fault, each expected to fail: their messages and when they failed."""

    def __init__(self) -> None:
        self.messages: dict[str, str] = {}
        self.failed_at: dict[str, float] = {}
        self.done = anyio.Event()
        self.fault_at = 0.0

    async def call(self, client: Client, tool: str) -> None:
        arguments = {"seconds": IN_FLIGHT_SECONDS}
        self.messages[tool] = await _fails(client, tool, arguments, timeout=IN_FLIGHT_SECONDS + FAIL_WITHIN_SECONDS)
        self.failed_at[tool] = time.monotonic()
        if len(self.messages) == 2:
            self.done.set()

    def seconds_to_error(self) -> float:
        return round(max(self.failed_at.values()) - self.fault_at, 2)


@asynccontextmanager
async def _in_flight_while_stopped(client: Client, gateway: Any, component: str) -> AsyncIterator[InFlight]:
    """A per-call and a long-lived `sleep` in flight (both Pods running, the per-call instance initialized),
    then `component` stopped until both calls failed, naming their servers; started again on leaving."""
    flight = InFlight()
    try:
        async with anyio.create_task_group() as tg:
            started = started_instances(gateway, "probe")
            tg.start_soon(flight.call, client, "sleep")
            tg.start_soon(flight.call, client, "kept__sleep")
            started_one = await until(lambda: started_instances(gateway, "probe") > started, 90)
            assert started_one, "the per-call Pod did not start"
            flight.fault_at = time.monotonic()
            await anyio.to_thread.run_sync(harness.stop_component, component)
            with anyio.fail_after(FAIL_WITHIN_SECONDS):
                await flight.done.wait()
        _clear(flight.messages["sleep"], "probe")
        _clear(flight.messages["kept__sleep"], "kept")
        yield flight
    finally:
        await anyio.to_thread.run_sync(harness.start_component, component)


async def _settled(cluster: Any, namespace: str, gateway: Any) -> list[str]:
    """Stop the gateway, then what is left of its Pods and Jobs after a bounded wait (empty when all went)."""
    gateway.stop()
    return await leftovers_after(cluster, namespace)


@pytest.mark.fault("API server restarted during calls")
async def test_api_server_restart_fails_only_the_calls_it_must(
    cluster: Any, namespace: str, cluster_gateway: Any, product_images: dict[str, str]
) -> None:
    gateway = cluster_gateway(entries=_entries(product_images["probe"]))
    async with gateway.client() as client:
        before = tool_value(await client.call_tool("kept__whoami", {}))["hostname"]
        # the calls in flight lose their attach streams: they fail, naming their server
        async with _in_flight_while_stopped(client, gateway, "kube-apiserver") as flight:
            # new calls while the API server is away fail at once with the reason, for both lifecycles
            asked = time.monotonic()
            refused = await _fails(client, "echo", {"text": "while away"}, timeout=60)
            _clear(refused, "probe")
            assert "API server" in refused, refused
            assert "unreachable" in refused, refused
            refused_long = await _fails(client, "kept__echo", {"text": "while away"}, timeout=60)
            _clear(refused_long, "kept")
            assert "unreachable" in refused_long, refused_long
            while_away = time.monotonic() - asked
            # the gateway keeps serving what needs no server
            assert {tool.name for tool in (await client.list_tools()).tools} >= {"echo", "kept__echo"}
        # once it is back, calls succeed again; the long-lived instance is a new one
        assert tool_value(await client.call_tool("echo", {"text": "back"})) == "back"
        after = tool_value(await client.call_tool("kept__whoami", {}))["hostname"]
        assert after != before
        # the Pods whose removal the API server could not take while away are removed now
        gone = await until(lambda: pods(cluster, namespace, PER_CALL) == [], 90)
        assert gone, "the per-call Pods were left behind"
        kept = await until(lambda: [p["metadata"]["name"] for p in pods(cluster, namespace, LONG_LIVED)] == [after])
        assert kept, "the long-lived instance's old Pod was left behind"
    left = await _settled(cluster, namespace, gateway)
    record_figures(
        "API server restarted during calls",
        seconds_to_error=flight.seconds_to_error(),
        seconds_new_calls_failed=round(while_away, 2),
        leftovers=len(left),
    )
    assert left == []


@pytest.mark.fault("server Pod OOM-killed mid-call")
async def test_oom_killed_server_fails_its_call_with_the_reason(
    cluster: Any, namespace: str, cluster_gateway: Any, product_images: dict[str, str]
) -> None:
    limited = {**probe_entry(product_images["probe"]), "resources": {"limits": {"memory": "128Mi"}}}
    gateway = cluster_gateway(entries={"probe": limited})
    async with gateway.client() as client:
        other: list[str] = []
        async with anyio.create_task_group() as tg:

            async def unaffected() -> None:
                other.append(tool_value(await client.call_tool("sleep", {"seconds": 2})))

            tg.start_soon(unaffected)
            asked = time.monotonic()
            message = await _fails(client, "allocate", {"mib": 1024}, timeout=120)
            took = time.monotonic() - asked
        assert other == ["slept 2.0"], "a call beside the killed one failed"
        _clear(message, "probe")
        assert "OOMKilled" in message, message
        assert "memory" in message, message
        assert tool_value(await client.call_tool("echo", {"text": "next"})) == "next"
    left = await _settled(cluster, namespace, gateway)
    record_figures("server Pod OOM-killed mid-call", seconds_to_error=round(took, 2), leftovers=len(left))
    assert left == []


@pytest.mark.fault("attach stream cut (kubelet killed)")
async def test_cut_attach_streams_fail_their_calls_and_the_long_lived_instance_is_replaced(
    cluster: Any, namespace: str, cluster_gateway: Any, product_images: dict[str, str]
) -> None:
    gateway = cluster_gateway(entries=_entries(product_images["probe"]))
    async with gateway.client() as client:
        before = tool_value(await client.call_tool("kept__whoami", {}))["hostname"]
        # The API server reaches each container's stdio through its node's kubelet: killing the kubelet
        # cuts every attach stream, as a node agent's crash or a network cut would.
        async with _in_flight_while_stopped(client, gateway, "kubelet") as flight:
            pass
        for message in flight.messages.values():
            assert "connection lost" in message, message
        after = tool_value(await client.call_tool("kept__whoami", {}))["hostname"]
        assert after != before, "the long-lived instance whose stream was cut still served"
        assert tool_value(await client.call_tool("echo", {"text": "next"})) == "next"
        gone = await until(lambda: pods(cluster, namespace, PER_CALL) == [], 90)
        assert gone, "the per-call Pod was left behind"
    left = await _settled(cluster, namespace, gateway)
    record_figures(
        "attach stream cut (kubelet killed)",
        seconds_to_error=flight.seconds_to_error(),
        leftovers=len(left),
    )
    assert left == []
