"""A replica that is stopping hands its work over while clients still reach it.

During a rollout the Service keeps sending new connections to a replica for a moment after its
SIGTERM (every node has to learn that it is going), and the other replicas keep forwarding its
sessions' requests to it until they see it draining. Here every request of the client goes to the
stopping replica (the worst case of such stale routes): its own session's new calls are handed to
the other replica, which adopts the session; a call already in flight finishes where it runs; new
sessions and stateless requests are served by the other replica. Nothing gets a 503."""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from support import GatewayProcess, bearer, free_ports, probe_entry, tool_value, until, write_catalog, write_tokens

pytestmark = pytest.mark.anyio
TOOLS = [{"name": name} for name in ("echo", "sleep", "whoami")]


class Pair:
    """Two replicas sharing a key and tokens; `stopping` is the one the test drains, `other` stays."""

    def __init__(self, root: Path) -> None:
        catalog = write_catalog(
            root / "catalog.yaml",
            {
                "probe": probe_entry(tools=TOOLS),
                "sessioned": probe_entry("sessioned", tools=TOOLS, kubernetes={"lifecycle": "perSession"}),
            },
        )
        self.ports = free_ports(2)
        key = root / "replica.key"
        key.write_text(os.urandom(32).hex())
        self.token = secrets.token_urlsafe(32)
        tokens = write_tokens(root / "tokens.env", test=self.token)
        peers = [arg for port in self.ports for arg in ("--peer", f"127.0.0.1:{port}")]
        # A long handover, ended by a second SIGTERM once the test is done with it: no timing involved.
        self.gateways = [
            GatewayProcess(
                ["--transport", "streaming", "--port", str(port), "--catalog", str(catalog),
                 "--replica-key-file", str(key), "--advertise", f"127.0.0.1:{port}", "--tokens-file", str(tokens),
                 "--shutdown-handover", "120", "--shutdown-grace", "60", *peers],
                root / f"replica-{port}.log",
                {"KUBEMCP_HOME": str(root / f"home-{port}"), "XDG_CACHE_HOME": str(root / f"cache-{port}")},
            )
            for port in self.ports
        ]  # fmt: skip
        self.stopping, self.other = self.gateways

    def url(self, gateway: GatewayProcess) -> str:
        return f"http://127.0.0.1:{self.ports[self.gateways.index(gateway)]}"

    def replica(self, gateway: GatewayProcess) -> dict[str, Any]:
        answer = httpx2.get(f"{self.url(gateway)}/health", headers=bearer(self.token), timeout=10)
        report: dict[str, Any] = answer.json()["replica"]
        return report

    @asynccontextmanager
    async def client(self, gateway: GatewayProcess, mode: str = "legacy") -> AsyncIterator[Client]:
        timeout = httpx2.Timeout(30.0, read=120.0)
        async with (
            httpx2.AsyncClient(headers=bearer(self.token), timeout=timeout) as http,
            Client(streamable_http_client(f"{self.url(gateway)}/mcp", http_client=http), mode=mode) as client,
        ):
            yield client


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    group = Pair(tmp_path)
    for gateway in group.gateways:
        Path(gateway.env["KUBEMCP_HOME"]).mkdir()
        gateway.start()
    yield group
    for gateway in group.gateways:
        gateway.stop()


async def test_a_stopping_replica_hands_new_requests_to_the_other_one(pair: Pair, tmp_path: Path) -> None:
    stopping = pair.stopping.process
    assert stopping is not None
    pidfile = tmp_path / "in-flight.pid"
    async with pair.client(pair.stopping) as client, anyio.create_task_group() as tg:
        assert tool_value(await client.call_tool("probe__echo", {"text": "before"})) == "before"
        assert pair.replica(pair.stopping)["forwarded"] == 0  # the session lives on the stopping replica
        in_flight: list[Any] = []

        async def long_call() -> None:
            in_flight.append(
                tool_value(await client.call_tool("probe__sleep", {"seconds": 3, "pidfile": str(pidfile)}))
            )

        tg.start_soon(long_call)
        assert await until(lambda: pidfile.exists(), 30), "the long call never started"
        os.kill(stopping.pid, signal.SIGTERM)
        ready = f"{pair.url(pair.stopping)}/ready"
        assert await until(lambda: httpx2.get(ready, timeout=5).status_code == 503, 30), "it never stopped being ready"

        # Still reached for its own session: every new call is answered, by the replica that adopts it.
        for round_ in range(3):
            echoed = tool_value(await client.call_tool("probe__echo", {"text": f"handed over {round_}"}))
            assert echoed == f"handed over {round_}"
        assert tool_value(await client.call_tool("sessioned__whoami", {}))["pid"] > 0
        # New sessions and stateless requests reaching it are served by the other replica.
        async with pair.client(pair.stopping) as fresh:
            assert tool_value(await fresh.call_tool("probe__echo", {"text": "new session"})) == "new session"
        async with pair.client(pair.stopping, mode="auto") as stateless:
            assert stateless.protocol_version == "2026-07-28"
            assert tool_value(await stateless.call_tool("probe__echo", {"text": "stateless"})) == "stateless"
    assert in_flight == ["slept 3.0"]  # the call in flight finished where it ran
    assert pair.replica(pair.stopping)["forwarded"] >= 6
    assert pair.replica(pair.other)["adopted"] == 1

    # The session goes on at the other replica once the stopping one is gone.
    os.kill(stopping.pid, signal.SIGTERM)  # again: the handover is over
    assert await anyio.to_thread.run_sync(lambda: stopping.wait(30)) == 0, pair.stopping.log
    async with pair.client(pair.other) as client:
        assert tool_value(await client.call_tool("probe__echo", {"text": "after"})) == "after"
