"""Remote servers (`type: remote`): the gateway connects out over streamable HTTP or SSE, with headers
from secrets and OAuth tokens from `kubemcp oauth authorize`.

The remote servers are the feature server of `peers/feature_server.py`, served on loopback by
`peers/remote_server.py` (with `--auth`: its own authorization server, from the mcp SDK's pieces).
Every feature check gives the same outcome through a remote server as against the server itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import feature_checks as fc
import mcp_types as types
import pytest
import yaml
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from support import (
    KUBEMCP,
    TESTS,
    GatewayProcess,
    RemoteServer,
    authorize_with_cli,
    isolated_env,
    probe_entry,
    until,
    write_catalog,
)

pytestmark = pytest.mark.anyio

FEATURES = [sys.executable, str(TESTS / "peers" / "feature_server.py")]
VARIANTS = ["streamable-http", "sse", "streamable-http-oauth", "sse-oauth"]
MODES = ["legacy", "auto"]


def direct(**options: Any) -> Any:
    return Client(StdioServerParameters(command=FEATURES[0], args=FEATURES[1:]), **options)


def over_http(gateway: GatewayProcess) -> fc.Connect:
    def connect(**options: Any) -> Any:
        return gateway.client(**options)

    return connect


async def touch_counter(client: Client) -> None:
    await client.call_tool("touch", {"uri": "features://counter"})


CHECKS: dict[str, Any] = {
    "sampling": lambda t: fc.sampling(t, "summarize", {"topic": "otters"}),
    "elicitation": lambda t: fc.elicitation(t, "order"),
    "roots": lambda t: fc.roots(t, "workspace"),
    "logging": lambda t: fc.logging_at(t, "log_levels", "error"),
    "completions": lambda t: fc.completions(
        t,
        [
            (types.PromptReference(name="greet"), {"name": "name", "value": "a"}, None),
            (types.ResourceTemplateReference(uri="notes://{topic}"), {"name": "topic", "value": "ap"}, None),
        ],
    ),
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("remote")
    return root, isolated_env(root)


@pytest.fixture(scope="module")
def remotes() -> Iterator[dict[str, RemoteServer]]:
    started: dict[str, RemoteServer] = {}
    try:
        for variant in VARIANTS:
            transport = variant.removesuffix("-oauth")
            started[variant] = RemoteServer(transport, *(["--auth"] if variant.endswith("-oauth") else [])).start()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def gateways(
    remotes: dict[str, RemoteServer], home: tuple[Path, dict[str, str]]
) -> Iterator[dict[tuple[str, str], GatewayProcess]]:
    """Per variant, a per-call and a long-lived gateway serving that remote server alone (bare tool names)."""
    root, env = home
    catalogs = {}
    for variant, server in remotes.items():
        catalogs[variant] = write_catalog(root / f"{variant}.yaml", {variant.replace("-", "_"): server.entry()})
        if variant.endswith("-oauth"):
            authorize_with_cli(variant.replace("-", "_"), catalogs[variant], env)
    started: dict[tuple[str, str], GatewayProcess] = {}
    try:
        for variant, catalog in catalogs.items():
            for lifecycle, extra in (("per-call", []), ("long-lived", ["--long-lived"])):
                args = ["--transport", "streaming", "--port", "0", "--catalog", str(catalog), *extra]
                started[(variant, lifecycle)] = GatewayProcess(args, root / f"{variant}-{lifecycle}.log", env).start()
        yield started
    finally:
        for gateway in started.values():
            gateway.stop()


@pytest.mark.node
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variant", VARIANTS)
async def test_features_through_a_remote_server(
    gateways: dict[tuple[str, str], GatewayProcess], variant: str, mode: str
) -> None:
    for check, run in CHECKS.items():
        runs = {"direct": run(fc.Target("direct", direct, mode))}
        for lifecycle in ("per-call", "long-lived"):
            runs[lifecycle] = run(fc.Target(lifecycle, over_http(gateways[(variant, lifecycle)]), mode))
        outcomes = await fc.concurrently(runs)
        assert outcomes["per-call"] == outcomes["direct"], (check, "per-call")
        expected = outcomes["direct"]
        if outcomes["long-lived"] != expected and mode == "auto":
            # A shared connection is in the handshake era: what the server sends in that era is the reference.
            expected = await run(fc.Target("direct", direct, "legacy"))
        assert outcomes["long-lived"] == expected, (check, "long-lived")


@pytest.mark.parametrize("variant", ["streamable-http", "sse-oauth"])
async def test_ping_both_ways_through_a_remote_server(
    gateways: dict[tuple[str, str], GatewayProcess], variant: str
) -> None:
    expected = await fc.ping(fc.Target("direct", direct), "ping_client")
    for lifecycle in ("per-call", "long-lived"):
        target = fc.Target(lifecycle, over_http(gateways[(variant, lifecycle)]))
        assert await fc.ping(target, "ping_client") == expected, lifecycle


@pytest.mark.parametrize("variant", ["streamable-http-oauth", "sse"])
async def test_resource_updates_through_a_remote_server(
    gateways: dict[tuple[str, str], GatewayProcess], variant: str
) -> None:
    expected = await fc.subscription(fc.Target("direct", direct), "features://counter", touch_counter)
    target = fc.Target("long-lived", over_http(gateways[(variant, "long-lived")]))
    assert await fc.subscription(target, "features://counter", touch_counter) == expected


async def test_a_missing_token_fails_only_its_server_and_names_the_fix(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    with RemoteServer("streamable-http", "--auth") as remote:
        # Catalogs list a remote server's tools, so a server that cannot be reached is still served.
        guarded = remote.entry(tools=[{"name": "summarize", "description": "Ask the client's model"}])
        catalog = write_catalog(tmp_path / "catalog.yaml", {"guarded": guarded, "probe": probe_entry()})
        args = ["--transport", "streaming", "--port", "0", "--catalog", str(catalog)]
        with GatewayProcess(args, tmp_path / "gateway.log", env) as gateway:
            async with gateway.client() as client:
                echoed = await client.call_tool("echo", {"text": "still here"})
                assert echoed.structured_content == {"result": "still here"}
                with pytest.raises(Exception, match="kubemcp oauth authorize guarded") as raised:
                    await client.call_tool("summarize", {"topic": "x"})
    assert getattr(raised.value, "code", None) == types.INTERNAL_ERROR


async def test_tokens_are_refreshed_before_they_expire(tmp_path: Path) -> None:
    """With three-second tokens, the token is renewed once it is within half its lifetime of expiring,
    while still valid: the server never sees an expired token and calls keep working."""
    env = isolated_env(tmp_path)
    with RemoteServer("streamable-http", "--auth", "--token-lifetime", "3") as remote:
        catalog = write_catalog(tmp_path / "catalog.yaml", {"short": remote.entry()})
        authorize_with_cli("short", catalog, env)
        store = Path(env["KUBEMCP_HOME"]) / "secrets.env"
        first = store.read_text()
        args = ["--transport", "streaming", "--port", "0", "--catalog", str(catalog), "--long-lived"]
        with GatewayProcess(args, tmp_path / "gateway.log", env) as gateway:
            async with gateway.client() as client:
                for _ in range(3):
                    assert await until(lambda: _due(store), timeout=10)
                    stats = await client.call_tool("auth_stats", {})  # refreshes first: the token is due
                    assert not stats.is_error
                assert await until(lambda: store.read_text() != first, timeout=10)
                stats = await client.call_tool("auth_stats", {})
    assert isinstance(stats.structured_content, dict)
    assert stats.structured_content["refreshed"] >= 2
    assert stats.structured_content["rejected"] == 0
    assert stats.structured_content["authorized"] == 1


def _due(store: Path) -> bool:
    """Whether the stored token is within its refresh margin (half of three seconds)."""
    import json
    import time

    from kubemcp.files.secrets import read_secrets

    record = json.loads(read_secrets(store)["oauth.short"])
    return bool(time.time() >= record["expires_at"] - 1.5)


async def test_header_values_come_from_secrets(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    store = Path(env["KUBEMCP_HOME"]) / "secrets.env"
    with RemoteServer("streamable-http", "--require-header", "Authorization=Bearer s3cret-value") as remote:
        entry = remote.entry(
            remote={**remote.entry()["remote"], "headers": {"Authorization": "Bearer ${API_TOKEN}"}},
            secrets=[{"name": "remote.token", "env": "API_TOKEN"}],
            tools=[{"name": "log_levels", "description": "Log at each level"}],
        )
        catalog = write_catalog(tmp_path / "catalog.yaml", {"keyed": entry, "probe": probe_entry()})
        args = ["--transport", "streaming", "--port", "0", "--catalog", str(catalog)]
        with GatewayProcess(args, tmp_path / "gateway.log", env) as gateway:
            async with gateway.client() as client:
                with pytest.raises(Exception, match=r"secret\(s\) not set: remote.token"):
                    await client.call_tool("log_levels", {})
                await anyio.run_process(
                    [str(KUBEMCP), "secret", "--store", str(store), "set", "remote.token=s3cret-value"],
                    env={**os.environ, **env},
                )
                result = await client.call_tool("log_levels", {})
                assert result.structured_content == {"result": "logged"}
        assert "s3cret-value" not in gateway.log


def test_oauth_ls_and_rm_name_servers_never_values(tmp_path: Path) -> None:
    import subprocess

    env = {**os.environ, **isolated_env(tmp_path)}
    store = tmp_path / "home" / "secrets.env"
    store.write_text('oauth.github={"tokens":{"access_token":"tok-value"}}\nother=x\n')
    listed = subprocess.run([str(KUBEMCP), "oauth", "ls"], env=env, capture_output=True, text=True, check=True)
    assert listed.stdout == "github\n"
    subprocess.run([str(KUBEMCP), "oauth", "rm", "github"], env=env, check=True)
    assert yaml.safe_load(store.read_text().replace("=", ": ")) == {"other": "x"}
