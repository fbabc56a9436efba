"""Authentication on the HTTP transports, against the real gateway process: the default token in
`$KUBEMCP_HOME`, 401s, rotation without restart (tokens file and a Secret-like tokens folder),
sessions bound to their token, the explicit opt-out, and tokens kept out of logs."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from support import (
    ACCEPT,
    KUBEMCP,
    GatewayProcess,
    bearer,
    isolated_env,
    probe_entry,
    tool_value,
    until,
    write_catalog,
    write_tokens,
)

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "auth-test", "version": "1"},
    },
}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})


def _start(tmp_path: Path, *args: str, transport: str = "streaming", own_tokens: bool = True) -> GatewayProcess:
    log = tmp_path / f"gateway-{transport}-{secrets.token_hex(3)}.log"
    gateway = GatewayProcess(
        ["--transport", transport, "--port", "0", *args], log, isolated_env(tmp_path), own_tokens=own_tokens
    )
    return gateway.start()


async def _status(http: httpx2.AsyncClient, gateway: GatewayProcess, token: str | None) -> int:
    headers = {**ACCEPT, **(bearer(token) if token else {})}
    return (await http.post(gateway.url, json=INITIALIZE, headers=headers)).status_code


async def _statuses_become(
    http: httpx2.AsyncClient, gateway: GatewayProcess, expected: dict[str, int], timeout: float = 20
) -> dict[str, int]:
    """Poll (bounded) until each token gets its expected status; the last statuses seen."""
    deadline = anyio.current_time() + timeout
    while True:
        seen = {token: await _status(http, gateway, token) for token in expected}
        if seen == expected or anyio.current_time() > deadline:
            return seen
        await anyio.sleep(0.1)


async def test_streaming_requires_the_default_token_from_kubemcp_home(
    http: httpx2.AsyncClient, tmp_path: Path, catalog: Path
) -> None:
    gateway = _start(tmp_path, "--catalog", str(catalog), own_tokens=False)
    try:
        tokens = tmp_path / "home" / "tokens.env"
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
        name, _, token = tokens.read_text().strip().partition("=")
        assert name == "default"
        assert len(token) >= 40

        refused = await http.post(gateway.url, json=INITIALIZE, headers=ACCEPT)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="kubemcp"'
        for wrong in (bearer(token[:-1] + ("A" if token[-1] != "A" else "B")), {"Authorization": f"Basic {token}"}):
            response = await http.post(gateway.url, json=INITIALIZE, headers={**ACCEPT, **wrong})
            assert response.status_code == 401, wrong
        assert (
            'error="invalid_token"'
            in (await http.post(gateway.url, json=INITIALIZE, headers={**ACCEPT, **bearer("x" * 43)})).headers[
                "www-authenticate"
            ]
        )

        # Probes may call /health and /ready without a token; they say nothing more than that the gateway is up.
        assert (await http.get(f"{gateway.base}/health")).json() == {"status": "ok"}
        assert (await http.get(f"{gateway.base}/ready")).status_code == 200
        detailed = (await http.get(f"{gateway.base}/health", headers=bearer(token))).json()
        assert detailed["servers"] == ["probe"]

        gateway.token = token
        with anyio.fail_after(60):
            async with gateway.client() as client:
                assert tool_value(await client.call_tool("echo", {"text": "authenticated"})) == "authenticated"
    finally:
        gateway.stop()
    assert str(tokens) in gateway.log
    assert "kubemcp token show default" in gateway.log
    assert token not in gateway.log


async def test_sse_requires_a_token_on_the_stream_and_the_message_endpoint(
    http: httpx2.AsyncClient, tmp_path: Path, catalog: Path
) -> None:
    gateway = _start(tmp_path, "--catalog", str(catalog), transport="sse")
    try:
        async with http.stream("GET", gateway.url, headers={"Accept": "text/event-stream"}) as refused:
            assert refused.status_code == 401
        async with http.stream("GET", gateway.url, headers={"Accept": "text/event-stream", **gateway.headers}) as sse:
            assert sse.status_code == 200
            events = httpx2.EventSource(sse).__aiter__()
            with anyio.fail_after(30):
                endpoint = (await anext(events)).data
            message_url = f"{gateway.base}{endpoint}"
            assert (await http.post(message_url, json=INITIALIZE)).status_code == 401
            accepted = await http.post(message_url, json=INITIALIZE, headers=gateway.headers)
            assert accepted.status_code == 202
        with anyio.fail_after(60):
            async with gateway.client() as client:
                assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
    finally:
        gateway.stop()


async def test_tokens_file_changes_apply_without_a_restart(
    http: httpx2.AsyncClient, tmp_path: Path, catalog: Path
) -> None:
    tokens = write_tokens(tmp_path / "tokens.env", alice="alice-" + secrets.token_urlsafe(24))
    gateway = _start(tmp_path, "--catalog", str(catalog), "--tokens-file", str(tokens), "--watch-interval", "0.2")
    try:
        old = gateway.token
        assert await _status(http, gateway, old) == 200
        manage = [str(KUBEMCP), "token", "--tokens-file", str(tokens)]
        env = {**os.environ, **isolated_env(tmp_path)}
        subprocess.run([*manage, "create", "alice", "--replace"], check=True, env=env, capture_output=True)
        subprocess.run([*manage, "create", "bob"], check=True, env=env, capture_output=True)
        shown = subprocess.run([*manage, "show", "bob"], check=True, env=env, capture_output=True, text=True)
        bob = shown.stdout.strip()
        expected = {old: 401, bob: 200}
        assert await _statuses_become(http, gateway, expected) == expected
        assert gateway.process is not None
        assert gateway.process.poll() is None  # the same process all along
        # A broken edit keeps the tokens that work.
        tokens.write_text("this is not a tokens file\n")
        assert await until(lambda: "not reloading the tokens" in gateway.log)
        assert await _status(http, gateway, bob) == 200
    finally:
        gateway.stop()
    assert bob not in gateway.log
    assert old not in gateway.log


def _mount(folder: Path, version: str, tokens: dict[str, str]) -> None:
    """Write `tokens` the way the kubelet updates a Secret volume: a new `..<version>` folder, then an
    atomic swap of the `..data` link; each key is a link through `..data`."""
    data = folder / f"..{version}"
    data.mkdir(parents=True)
    for name, token in tokens.items():
        (data / name).write_text(token)
    link = folder / "..data_tmp"
    link.symlink_to(data.name)
    link.replace(folder / "..data")
    for name in tokens:
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(f"..data/{name}")


async def test_tokens_folder_follows_a_mounted_secret(http: httpx2.AsyncClient, tmp_path: Path, catalog: Path) -> None:
    folder = tmp_path / "tokens"
    alice1, alice2, bob = (secrets.token_urlsafe(32) for _ in range(3))
    _mount(folder, "v1", {"alice": alice1})
    gateway = _start(tmp_path, "--catalog", str(catalog), "--tokens-dir", str(folder), "--watch-interval", "0.2")
    try:
        assert await _status(http, gateway, alice1) == 200
        assert await _status(http, gateway, bob) == 401
        _mount(folder, "v2", {"alice": alice2, "bob": bob})
        expected = {alice1: 401, alice2: 200, bob: 200}
        assert await _statuses_become(http, gateway, expected) == expected
    finally:
        gateway.stop()
    for token in (alice1, alice2, bob):
        assert token not in gateway.log


async def test_a_session_answers_only_the_token_that_opened_it(
    http: httpx2.AsyncClient, tmp_path: Path, catalog: Path
) -> None:
    alice, bob = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    tokens = write_tokens(tmp_path / "tokens.env", alice=alice, bob=bob)
    gateway = _start(tmp_path, "--catalog", str(catalog), "--tokens-file", str(tokens))
    try:
        opened = await http.post(gateway.url, json=INITIALIZE, headers={**ACCEPT, **bearer(alice)})
        session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
        as_alice = await http.post(gateway.url, json=LIST_TOOLS, headers={**ACCEPT, **session, **bearer(alice)})
        assert as_alice.status_code == 200
        as_bob = await http.post(gateway.url, json=LIST_TOOLS, headers={**ACCEPT, **session, **bearer(bob)})
        assert as_bob.status_code == 404  # as if the session did not exist
    finally:
        gateway.stop()


async def test_allow_unauthenticated_is_the_explicit_opt_out(
    http: httpx2.AsyncClient, tmp_path: Path, catalog: Path
) -> None:
    gateway = _start(tmp_path, "--catalog", str(catalog), "--allow-unauthenticated")
    try:
        assert await _status(http, gateway, None) == 200
        assert "serving WITHOUT authentication" in gateway.log
        assert not (tmp_path / "home" / "tokens.env").exists()
    finally:
        gateway.stop()


def test_unusable_tokens_stop_start_up_without_showing_them(tmp_path: Path, catalog: Path) -> None:
    tokens = tmp_path / "tokens.env"
    tokens.write_text("alice=short-hunter2\n")
    run = subprocess.run(
        [str(KUBEMCP), "gateway", "run", "--transport", "streaming", "--port", "0", "--catalog", str(catalog),
         "--tokens-file", str(tokens)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, **isolated_env(tmp_path)},
    )  # fmt: skip
    assert run.returncode == 1
    assert f"{tokens}: field 'alice': the token is too short" in run.stderr
    assert "hunter2" not in run.stderr


async def test_stdio_needs_no_token(tmp_path: Path, catalog: Path) -> None:
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters

    env: dict[str, Any] = {**os.environ, **isolated_env(tmp_path)}
    params = StdioServerParameters(command=str(KUBEMCP), args=["gateway", "run", "--catalog", str(catalog)], env=env)
    with anyio.fail_after(60):
        async with Client(params) as client:
            result = await client.call_tool("echo", {"text": "trusted"})
    assert isinstance(result.content[0], types.TextContent)
    assert result.content[0].text == "trusted"
    assert not (tmp_path / "home" / "tokens.env").exists()
