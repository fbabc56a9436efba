"""The `fast` extra's gateway options: uvloop and httptools serve like the defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import probe_entry, tool_value, write_catalog

pytestmark = pytest.mark.anyio


async def test_a_gateway_on_uvloop_with_httptools_lists_and_calls(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    gateway = gateway_process("--catalog", str(catalog), "--loop", "uvloop", "--http-parser", "httptools")
    async with gateway.client() as client:
        assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
        assert tool_value(await client.call_tool("echo", {"text": "on uvloop"})) == "on uvloop"
        # The libraries are loaded in the gateway process (the defaults load neither).
        maps = Path(f"/proc/{gateway.process.pid}/maps").read_text()
        assert "uvloop/loop." in maps
        assert "httptools/parser/parser." in maps


async def test_the_defaults_load_neither(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    gateway = gateway_process("--catalog", str(catalog))
    async with gateway.client() as client:
        assert tool_value(await client.call_tool("echo", {"text": "on asyncio"})) == "on asyncio"
        maps = Path(f"/proc/{gateway.process.pid}/maps").read_text()
        assert "uvloop/" not in maps
        assert "httptools/" not in maps
