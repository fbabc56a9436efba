"""The gateway as a real process, driven by the mcp SDK client over every transport and both eras,
in front of real third-party servers (mcp-server-time from PyPI, server-everything and
server-memory from npm) and the test probe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from support import KUBEMCP, everything_entry, memory_entry, probe_entry, time_entry, write_catalog

pytestmark = pytest.mark.anyio


def _text(result: types.CallToolResult) -> str:
    assert not result.is_error, result
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return write_catalog(
        tmp_path / "catalog.yaml",
        {
            "probe": probe_entry(),
            "time": time_entry(),
            "everything": everything_entry(longLived=True),
            "memory": memory_entry(tmp_path / "memory.jsonl"),
        },
    )


async def _exercise(client: Client) -> None:
    tools = {tool.name for tool in (await client.list_tools()).tools}
    assert {"whoami", "get_current_time", "create_entities", "read_graph"} <= tools
    # Both the probe and server-everything offer `echo`: the collision rule qualifies both.
    assert {"probe__echo", "everything__echo"} <= tools
    assert "echo" not in tools
    now = json.loads(_text(await client.call_tool("get_current_time", {"timezone": "UTC"})))
    assert now["timezone"] == "UTC"
    await client.call_tool(
        "create_entities", {"entities": [{"name": "kubemcp", "entityType": "project", "observations": ["gateway"]}]}
    )
    graph = _text(await client.call_tool("read_graph", {}))
    assert "kubemcp" in graph  # per-call memory server: state lives in its file between processes
    prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
    assert "simple-prompt" in prompts
    prompt = await client.get_prompt("simple-prompt")
    assert prompt.messages
    resources = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "memory://knowledge-graph" in resources
    read = await client.read_resource("demo://resource/static/document/features.md")
    assert read.contents


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_streamable_http_both_eras(gateway_process: Any, catalog: Path, mode: str) -> None:
    gateway = gateway_process("--catalog", str(catalog))
    async with gateway.client(mode=mode) as client:
        if mode == "legacy":
            assert client.protocol_version.startswith("2025-")
        else:
            assert client.protocol_version == "2026-07-28"
        await _exercise(client)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_both_eras(catalog: Path, mode: str, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=str(KUBEMCP), args=["gateway", "run", "--transport", "stdio", "--catalog", str(catalog)]
    )
    async with Client(params, mode=mode) as client:
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else client.protocol_version)
        await _exercise(client)


async def test_legacy_sse_transport(gateway_process: Any, catalog: Path) -> None:
    gateway = gateway_process("--catalog", str(catalog), transport="sse")
    assert gateway.url.endswith("/sse")
    async with gateway.client() as client:
        await _exercise(client)


async def test_echo_roundtrip_is_exact(gateway_process: Any, catalog: Path) -> None:
    gateway = gateway_process("--catalog", str(catalog))
    payload = "ünïcode ✓ " + "x" * 10_000
    async with gateway.client() as client:
        assert _text(await client.call_tool("probe__echo", {"text": payload})) == payload
        summed = await client.call_tool("get-sum", {"a": 2, "b": 40})
        assert "42" in _text(summed)
