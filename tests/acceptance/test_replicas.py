"""Three gateway replicas sharing a key, and clients whose every HTTP request goes to the next replica
in turn (no stickiness, as a Service balancing per connection or an ingress per request would):
every request of a 2025-era session, a legacy SSE session and stateless requests is answered; a
per-session server stays one instance for its session; a replica killed mid-session leaves its
sessions to another one."""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from itertools import count
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from support import GatewayProcess, bearer, free_ports, probe_entry, tool_value, write_catalog, write_tokens

pytestmark = pytest.mark.anyio
REPLICAS = 3


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each request to the next of `ports` on loopback: no two consecutive requests share a replica."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = count()
        self.inner = httpx2.AsyncHTTPTransport()
        self.sent: dict[int, int] = dict.fromkeys(ports, 0)
        self.down: set[int] = set()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        while True:
            port = self.ports[next(self.turn) % len(self.ports)]
            if port not in self.down:
                break
        self.sent[port] += 1
        request.url = request.url.copy_with(port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Replicas:
    def __init__(self, root: Path, catalog: Path, transport: str) -> None:
        self.ports = free_ports(REPLICAS)
        key = root / "replica.key"
        key.write_text(os.urandom(32).hex())
        self.token = secrets.token_urlsafe(32)
        tokens = write_tokens(root / "tokens.env", test=self.token)  # the same tokens on every replica
        peers = [arg for port in self.ports for arg in ("--peer", f"127.0.0.1:{port}")]
        self.gateways = [
            GatewayProcess(
                ["--transport", transport, "--port", str(port), "--catalog", str(catalog),
                 "--replica-key-file", str(key), "--advertise", f"127.0.0.1:{port}", "--tokens-file", str(tokens),
                 *peers],
                root / f"replica-{port}.log",
                {"KUBEMCP_HOME": str(root / f"home-{port}"), "XDG_CACHE_HOME": str(root / f"cache-{port}")},
            )
            for port in self.ports
        ]  # fmt: skip

    def start(self) -> Replicas:
        for gateway in self.gateways:
            (Path(gateway.env["KUBEMCP_HOME"])).mkdir()
            gateway.start()
        return self

    def health(self) -> list[dict[str, Any]]:
        """Each running replica's `/health` report of what it forwarded and adopted."""
        reports = []
        for port, gateway in zip(self.ports, self.gateways, strict=True):
            if gateway.process is not None and gateway.process.poll() is None:
                answer = httpx2.get(f"http://127.0.0.1:{port}/health", headers=bearer(self.token), timeout=10)
                reports.append(answer.json()["replica"])
        return reports

    def stop(self) -> None:
        for gateway in self.gateways:
            gateway.stop()


@pytest.fixture
def replicas(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Replicas]:
    catalog = write_catalog(
        tmp_path / "catalog.yaml",
        {
            "probe": probe_entry(),
            "sessioned": probe_entry("sessioned", kubernetes={"lifecycle": "perSession"}),
        },
    )
    group = Replicas(tmp_path, catalog, getattr(request, "param", "streaming")).start()
    yield group
    group.stop()


@asynccontextmanager
async def round_robin_client(group: Replicas, mode: str = "legacy") -> AsyncIterator[tuple[Client, RoundRobin]]:
    """An SDK client whose HTTP requests rotate over the replicas; `legacy` opens a 2025-era session."""
    rotation = RoundRobin(group.ports)
    timeout = httpx2.Timeout(30.0, read=120.0)
    async with httpx2.AsyncClient(transport=rotation, timeout=timeout, headers=bearer(group.token)) as http:
        url = f"http://127.0.0.1:{group.ports[0]}/mcp"
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client, rotation


async def test_every_request_of_a_2025_session_is_answered_by_any_replica(replicas: Replicas) -> None:
    async with round_robin_client(replicas) as (client, rotation):
        assert client.protocol_version in {"2025-06-18", "2025-11-25"}
        for round_ in range(12):
            tools = await client.list_tools()
            assert {"probe__whoami", "sessioned__whoami"} <= {tool.name for tool in tools.tools}
            echoed = tool_value(await client.call_tool("probe__echo", {"text": f"round {round_}"}))
            assert echoed == f"round {round_}"
    assert all(sent >= 8 for sent in rotation.sent.values()), rotation.sent
    owner, *others = replicas.health()
    assert owner["forwarded"] == 0  # it holds the session: nothing to pass on
    assert all(other["forwarded"] >= 8 for other in others), others  # every request they got went to the owner
    assert all(report["adopted"] == 0 for report in (owner, *others))
    for port, report in zip(replicas.ports, (owner, *others), strict=True):  # the same counts on /metrics
        scraped = httpx2.get(f"http://127.0.0.1:{port}/metrics", headers=bearer(replicas.token), timeout=10).text
        assert f"kubemcp_replica_forwarded_total {float(report['forwarded'])}" in scraped
        assert "kubemcp_replica_adopted_total 0.0" in scraped


async def test_a_per_session_server_is_one_instance_whichever_replica_is_reached(replicas: Replicas) -> None:
    async with round_robin_client(replicas) as (client, _), round_robin_client(replicas) as (other, _):
        mine = {tool_value(await client.call_tool("sessioned__whoami", {}))["pid"] for _ in range(6)}
        theirs = {tool_value(await other.call_tool("sessioned__whoami", {}))["pid"] for _ in range(6)}
    assert len(mine) == 1
    assert len(theirs) == 1
    assert mine != theirs


async def test_a_session_outlives_the_replica_that_opened_it(replicas: Replicas) -> None:
    async with round_robin_client(replicas) as (client, rotation):
        before = tool_value(await client.call_tool("probe__echo", {"text": "before"}))
        assert before == "before"
        owner = replicas.gateways[0]  # it answered the initialize: the first request of the rotation
        assert owner.process is not None
        os.kill(owner.process.pid, signal.SIGKILL)
        owner.process.wait()
        rotation.down.add(replicas.ports[0])
        for round_ in range(6):
            echoed = tool_value(await client.call_tool("probe__echo", {"text": f"after {round_}"}))
            assert echoed == f"after {round_}"
    assert sorted(report["adopted"] for report in replicas.health()) == [0, 1]  # one replica took the session over


@pytest.mark.parametrize("replicas", ["sse"], indirect=True)
async def test_legacy_sse_posts_reach_the_replica_holding_the_stream(replicas: Replicas) -> None:
    rotation = RoundRobin(replicas.ports)

    def factory(headers: dict[str, str] | None = None, timeout: Any = None, auth: Any = None) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=rotation, headers=headers, timeout=timeout, auth=auth)

    url = f"http://127.0.0.1:{replicas.ports[0]}/sse"
    headers = bearer(replicas.token)
    async with Client(sse_client(url, headers=headers, httpx_client_factory=factory), mode="legacy") as client:
        for round_ in range(6):
            echoed = tool_value(await client.call_tool("probe__echo", {"text": f"sse {round_}"}))
            assert echoed == f"sse {round_}"
    assert sum(1 for sent in rotation.sent.values() if sent) == REPLICAS


async def test_stateless_2026_requests_are_served_by_every_replica(replicas: Replicas) -> None:
    async with round_robin_client(replicas, mode="auto") as (client, rotation):
        assert client.protocol_version == "2026-07-28"
        for round_ in range(6):
            echoed = tool_value(await client.call_tool("probe__echo", {"text": f"stateless {round_}"}))
            assert echoed == f"stateless {round_}"
    assert all(sent >= 2 for sent in rotation.sent.values()), rotation.sent
