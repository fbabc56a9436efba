"""tools/list answered from the rendered listing, which is renewed with the listing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.mcp_handlers import build_server
from kubemcp.gateway.settings import GatewaySettings
from mcp.client import Client
from memory_runtime import MemoryRuntime, counter_server
from support import write_catalog

pytestmark = pytest.mark.anyio


def _declared(*names: str) -> dict[str, Any]:
    return {"image": "x/declared", "tools": [{"name": name, "description": f"does {name}"} for name in names]}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_listing_is_rendered_once_and_renewed_when_the_served_set_changes(tmp_path: Path, mode: str) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"one": _declared("greet", "wave")})
    settings = GatewaySettings.model_validate({"catalogs": [catalog], "watch": False, "cache_dir": tmp_path / "c"})
    runtime = MemoryRuntime(counter_server)
    async with Gateway(settings, runtime).running() as gateway, Client(build_server(gateway), mode=mode) as client:
        first = await client.list_tools()
        listing = await gateway.listing(full=False)
        (rendered,) = listing.rendered.values()  # kept for the session's protocol version
        assert [tool["name"] for tool in rendered["tools"]] == ["greet", "wave"]
        second = await client.list_tools()
        assert second.tools == first.tools
        assert list(listing.rendered.values()) == [rendered]  # answered from it, not rendered again

        write_catalog(tmp_path / "catalog.yaml", {"one": _declared("greet", "wave"), "two": _declared("jump")})
        assert await gateway.reload()
        after = await client.list_tools()
        assert [tool.name for tool in after.tools] == ["greet", "wave", "jump"]  # never the old rendering
        # A request with parameters (a cursor) takes the full path and gets the same answer.
        paged = await client.list_tools(cursor="x")
        assert paged.tools == after.tools
    assert runtime.started == 0
