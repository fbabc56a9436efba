"""The gateway core: when servers start for discovery, routing, reload (runtime boundary faked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from bad_files import YAML_EDITS
from kubemcp.backend.hooks import CallHooks
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.served import Served, load_served_set
from kubemcp.gateway.settings import GatewaySettings
from mcp.shared.exceptions import MCPError
from memory_runtime import MemoryRuntime, completing_server, counter_server
from support import write_catalog

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path, entries: dict[str, dict[str, Any]], **extra: object) -> GatewaySettings:
    catalog = write_catalog(tmp_path / "catalog.yaml", entries)
    values: dict[str, object] = {"catalogs": [catalog], "watch": False, "cache_dir": tmp_path / "cache", **extra}
    return GatewaySettings.model_validate(values)


DECLARED: dict[str, Any] = {"image": "x/declared", "tools": [{"name": "greet", "description": "declared"}]}
UNDECLARED: dict[str, Any] = {"image": "x/undeclared"}


async def test_catalog_tools_are_listed_without_starting_servers(tmp_path: Path) -> None:
    runtime = MemoryRuntime(counter_server)
    gateway = Gateway(_settings(tmp_path, {"declared": DECLARED}), runtime)
    async with gateway.running():
        listing = await gateway.listing(full=False)
    assert [tool.name for tool in listing.tools] == ["greet"]
    assert runtime.started == 0


async def test_discovery_runs_once_and_is_kept_on_disk(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {"undeclared": UNDECLARED})
    runtime = MemoryRuntime(counter_server)
    async with Gateway(settings, runtime).running() as gateway:
        for _ in range(3):
            listing = await gateway.listing(full=True)
        assert {tool.name for tool in listing.tools} == {"instance_number", "greet"}
        assert [prompt.name for prompt in listing.prompts] == ["hello"]
    assert runtime.started == 1
    assert list((tmp_path / "cache" / "discovery").glob("undeclared-*.json"))
    again = MemoryRuntime(counter_server)
    async with Gateway(settings, again).running() as gateway:
        await gateway.listing(full=True)
    assert again.started == 0  # a new gateway reads the cache instead of starting the server


async def test_calls_route_to_their_server(tmp_path: Path) -> None:
    gateway = Gateway(_settings(tmp_path, {"one": UNDECLARED, "two": UNDECLARED}), MemoryRuntime(counter_server))
    async with gateway.running():
        result = await gateway.call_tool("two__greet", {"name": "ada"}, CallHooks())
        with pytest.raises(MCPError, match="unknown tool 'greet'"):
            await gateway.call_tool("greet", {"name": "ada"}, CallHooks())
    assert result.structured_content == {"result": "hello ada from two"}


async def test_reload_applies_good_files_and_ignores_bad_ones(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {"one": DECLARED})
    gateway = Gateway(settings, MemoryRuntime(counter_server))
    async with gateway.running():
        assert await gateway.reload() is False  # nothing changed
        write_catalog(tmp_path / "catalog.yaml", {"one": DECLARED, "two": DECLARED})
        assert await gateway.reload() is True
        assert list(gateway.specs) == ["one", "two"]
        (tmp_path / "catalog.yaml").write_text("registry: [oops\n")
        assert await gateway.reload() is False
        assert list(gateway.specs) == ["one", "two"]
        assert gateway.reloads == {"applied": 1, "unchanged": 1, "refused": 1}  # shown on /health


async def test_announced_capabilities_are_what_the_served_servers_offer(tmp_path: Path) -> None:
    """Completions and logging only when a served server offers them (or is not known yet); resource
    subscriptions only from a resident server: a per-call one has no instance left to send updates."""
    settings = _settings(tmp_path, {"plain": UNDECLARED, "long": {**UNDECLARED, "longLived": True}})
    async with Gateway(settings, MemoryRuntime(counter_server)).running() as gateway:
        unknown = gateway.known_capabilities()
        assert (unknown.completions, unknown.logging, unknown.subscribe) == (True, True, True)
        await gateway.listing(full=True)  # discovery learns what the counter servers offer
        known = gateway.known_capabilities()
    assert (known.completions, known.logging, known.subscribe) == (False, False, False)


async def test_completions_reach_the_owning_server_under_its_own_names(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {"one": UNDECLARED, "two": UNDECLARED})
    async with Gateway(settings, MemoryRuntime(completing_server)).running() as gateway:
        params = types.CompleteRequestParams(
            ref=types.PromptReference(name="two__hello"), argument=types.CompletionArgument(name="who", value="a")
        )
        result = await gateway.complete(params, CallHooks())
        template = types.CompleteRequestParams(
            ref=types.ResourceTemplateReference(uri="one://{item}"),
            argument=types.CompletionArgument(name="item", value=""),
        )
        from_template = await gateway.complete(template, CallHooks())
        with pytest.raises(MCPError, match="unknown prompt 'hello'"):
            await gateway.complete(params.model_copy(update={"ref": types.PromptReference(name="hello")}), CallHooks())
    assert result.completion.values == ["two: hello a"]
    assert from_template.completion.values == ["one: item"]


@pytest.mark.parametrize("edit", sorted(YAML_EDITS))
async def test_reload_keeps_serving_through_any_bad_catalog_bytes(tmp_path: Path, edit: str) -> None:
    settings = _settings(tmp_path, {"one": DECLARED})
    gateway = Gateway(settings, MemoryRuntime(counter_server))
    catalog = tmp_path / "catalog.yaml"
    async with gateway.running():
        catalog.write_bytes(YAML_EDITS[edit](catalog.read_bytes()))
        assert await gateway.reload() is False
        assert list(gateway.specs) == ["one"]
        result = await gateway.call_tool("greet", {"name": "ada"}, CallHooks())
        assert result.structured_content == {"result": "hello ada from one"}


async def test_a_file_emptied_by_a_save_in_progress_is_not_loaded(tmp_path: Path) -> None:
    """A save in place truncates the file, then writes it: a reload between the two must not serve an
    empty catalog; the bytes written next are loaded as usual."""
    settings = _settings(tmp_path, {"one": DECLARED})
    gateway = Gateway(settings, MemoryRuntime(counter_server))
    catalog = tmp_path / "catalog.yaml"
    async with gateway.running():
        catalog.write_bytes(b"")  # the moment between the truncate and the write
        assert await gateway.reload() is False
        assert list(gateway.specs) == ["one"]
        result = await gateway.call_tool("greet", {"name": "ada"}, CallHooks())
        assert result.structured_content == {"result": "hello ada from one"}
        write_catalog(catalog, {"one": DECLARED, "two": DECLARED})  # the write
        assert await gateway.reload() is True
        assert list(gateway.specs) == ["one", "two"]
        assert gateway.reloads == {"applied": 1, "unchanged": 0, "refused": 1}


async def test_files_that_change_while_they_are_read_are_read_again(tmp_path: Path) -> None:
    """A load that overlapped an edit may have read half of it: it is dropped, the next one applies."""
    settings = _settings(tmp_path, {"one": DECLARED})
    catalog = tmp_path / "catalog.yaml"
    edits: list[dict[str, Any]] = []

    def load_during_an_edit(settings: GatewaySettings) -> Served:
        served = load_served_set(settings)
        if edits:
            write_catalog(catalog, edits.pop())  # the edit lands after the files were read
        return served

    gateway = Gateway(settings, MemoryRuntime(counter_server), load=load_during_an_edit)
    async with gateway.running():
        write_catalog(catalog, {"one": DECLARED, "three": DECLARED})
        edits.append({"one": DECLARED, "two": DECLARED})
        assert await gateway.reload() is False  # read, then changed: not applied
        assert list(gateway.specs) == ["one"]
        assert gateway.reloads == {"applied": 0, "unchanged": 0, "refused": 0}
        assert await gateway.reload() is True  # what the files hold now
        assert list(gateway.specs) == ["one", "two"]
