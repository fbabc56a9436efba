"""Nothing that passes against a server directly fails through the gateway.

Every check of `feature_checks` runs against the reference servers themselves
(`@modelcontextprotocol/server-everything` and the SDK's `MCPServer` in `peers/feature_server.py`)
and through the gateway, per call and long-lived, with a 2025-11-25 client and a 2026-07-28 one;
the outcomes must be equal. Resource subscriptions are compared with long-lived servers (a per-call
server has no instance left to send updates, which the gateway says with an error).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import feature_checks as fc
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from support import TESTS, GatewayProcess, everything_entry, isolated_env, node_peer, write_catalog

pytestmark = [pytest.mark.anyio, pytest.mark.node]

FEATURES = TESTS / "peers" / "feature_server.py"
MODES = ["legacy", "auto"]


def features_entry(**extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": "protocol features",
        "process": {"command": [sys.executable, str(FEATURES)]},
    }
    entry.update(extra)
    return entry


def direct(command: list[str]) -> fc.Connect:
    def connect(**options: Any) -> Any:
        return Client(StdioServerParameters(command=command[0], args=command[1:]), **options)

    return connect


def over_http(gateway: GatewayProcess) -> fc.Connect:
    def connect(**options: Any) -> Any:
        return gateway.client(**options)

    return connect


SERVERS = {
    "everything": ["node", "EVERYTHING", "stdio"],
    "features": [sys.executable, str(FEATURES)],
}


def server_command(server: str) -> list[str]:
    command = list(SERVERS[server])
    if server == "everything":
        command[1] = node_peer("@modelcontextprotocol/server-everything", "dist/index.js")
    return command


@pytest.fixture(scope="module")
def parity_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("parity")
    catalog = write_catalog(root / "catalog.yaml", {"everything": everything_entry(), "features": features_entry()})
    return catalog, isolated_env(root)


@pytest.fixture(scope="module")
def per_call_gateway(parity_catalog: tuple[Path, dict[str, str]]) -> Iterator[GatewayProcess]:
    catalog, env = parity_catalog
    args = ["--transport", "streaming", "--port", "0", "--catalog", str(catalog)]
    with GatewayProcess(args, catalog.parent / "per-call.log", env) as gateway:
        yield gateway


@pytest.fixture
def long_lived_gateway(parity_catalog: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway of its own per test: a shared instance keeps state between its clients (roots it was
    told, subscriptions, levels), so each check starts from a fresh one."""
    catalog, env = parity_catalog
    args = ["--transport", "streaming", "--port", "0", "--catalog", str(catalog), "--long-lived"]
    with GatewayProcess(args, tmp_path / "long-lived.log", env) as gateway:
        yield gateway


@pytest.fixture
def gateways(per_call_gateway: GatewayProcess, long_lived_gateway: GatewayProcess) -> dict[str, GatewayProcess]:
    return {"per-call": per_call_gateway, "long-lived": long_lived_gateway}


Check = Callable[[fc.Target], Awaitable[Any]]

CHECKS: dict[str, tuple[str, Check]] = {
    "sampling-everything": (
        "everything",
        lambda t: fc.sampling(t, "trigger-sampling-request", {"prompt": "a haiku about otters", "maxTokens": 20}),
    ),
    "sampling-features": ("features", lambda t: fc.sampling(t, "summarize", {"topic": "otters"})),
    "elicitation-form-everything": ("everything", lambda t: fc.elicitation(t, "trigger-elicitation-request")),
    "elicitation-form-features": ("features", lambda t: fc.elicitation(t, "order")),
    "elicitation-declined-features": ("features", lambda t: fc.elicitation_declined(t, "order")),
    "elicitation-url-everything": (
        "everything",
        lambda t: fc.elicitation(
            t,
            "trigger-url-elicitation",
            {"url": "https://example.com/login", "message": "Sign in, please", "elicitationId": "fixed-id"},
        ),
    ),
    "elicitation-url-features": ("features", lambda t: fc.elicitation(t, "open_link")),
    "roots-everything": ("everything", lambda t: fc.roots(t, "get-roots-list")),
    "roots-features": ("features", lambda t: fc.roots(t, "workspace")),
    "logging-features": ("features", lambda t: fc.logging_at(t, "log_levels", "warning")),
    "completions-features": (
        "features",
        lambda t: fc.completions(
            t,
            [
                (types.PromptReference(name="greet"), {"name": "name", "value": "a"}, None),
                (types.PromptReference(name="greet"), {"name": "style", "value": ""}, {"name": "ada"}),
                (types.ResourceTemplateReference(uri="notes://{topic}"), {"name": "topic", "value": "ap"}, None),
            ],
        ),
    ),
    "completions-everything": (
        "everything",
        lambda t: fc.completions(
            t,
            [
                (types.PromptReference(name="completable-prompt"), {"name": "department", "value": "S"}, None),
                (
                    types.PromptReference(name="completable-prompt"),
                    {"name": "name", "value": ""},
                    {"department": "Sales"},
                ),
            ],
        ),
    ),
}


@asynccontextmanager
async def nothing() -> AsyncIterator[None]:
    yield


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("check", sorted(CHECKS))
async def test_same_outcome_directly_and_through_the_gateway(
    gateways: dict[str, GatewayProcess], check: str, mode: str
) -> None:
    server, run = CHECKS[check]
    targets = {
        "direct": fc.Target("direct", direct(server_command(server)), mode),
        **{name: fc.Target(name, over_http(gateway), mode) for name, gateway in gateways.items()},
    }
    outcomes = await fc.concurrently({name: run(target) for name, target in targets.items()})
    expected, per_call, long_lived = outcomes["direct"], outcomes["per-call"], outcomes["long-lived"]
    assert per_call == expected, f"{check} ({mode}) through the gateway, per call"
    if long_lived != expected and mode == "auto":
        # A shared instance is spoken to in the handshake era, whatever its clients speak: what the server
        # itself sends differently in that era (an elicitation form's title, say) is the reference then.
        expected = await run(fc.Target("direct", direct(server_command(server)), "legacy"))
    assert long_lived == expected, f"{check} ({mode}) through the gateway, long-lived"


async def test_ping_both_ways(gateways: dict[str, GatewayProcess]) -> None:
    """The client pings the gateway, and a server pings its client (the gateway) during a call."""
    expected = await fc.ping(fc.Target("direct", direct(server_command("features"))), "ping_client")
    assert expected == {"pinged": {}, "result": {"error": False, "structured": {"result": "pong"}}}
    for lifecycle, gateway in gateways.items():
        assert await fc.ping(fc.Target(lifecycle, over_http(gateway)), "ping_client") == expected, lifecycle


async def touch_counter(client: Client) -> None:
    await client.call_tool("touch", {"uri": "features://counter"})


async def toggle_updates(client: Client) -> None:
    await client.call_tool("toggle-subscriber-updates", {})


@pytest.mark.parametrize("mode", MODES)
async def test_resource_updates_reach_subscribed_sessions_only(gateways: dict[str, GatewayProcess], mode: str) -> None:
    expected = await fc.subscription(
        fc.Target("direct", direct(server_command("features")), mode), "features://counter", touch_counter
    )
    assert expected == {"updated": True, "others": []}
    outcome = await fc.subscription(
        fc.Target("long-lived", over_http(gateways["long-lived"]), mode), "features://counter", touch_counter
    )
    assert outcome == expected


async def test_everything_resource_updates_through_a_long_lived_server(gateways: dict[str, GatewayProcess]) -> None:
    uri = "demo://resource/static/document/architecture.md"
    direct_outcome = await fc.subscription(
        fc.Target("direct", direct(server_command("everything"))), uri, toggle_updates
    )
    outcome = await fc.subscription(fc.Target("long-lived", over_http(gateways["long-lived"])), uri, toggle_updates)
    assert outcome == direct_outcome == {"updated": True, "others": []}


async def test_subscribing_to_a_per_call_server_says_why_not(gateways: dict[str, GatewayProcess]) -> None:
    async with gateways["per-call"].client(mode="legacy") as client:
        with pytest.raises(Exception, match="runs per call") as raised:
            await client.session.send_request(
                types.SubscribeRequest(params=types.SubscribeRequestParams(uri="features://counter")),
                types.EmptyResult,
            )
    assert getattr(raised.value, "code", None) == types.INVALID_PARAMS
