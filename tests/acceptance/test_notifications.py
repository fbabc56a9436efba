"""Notifications through the gateway: progress, logs, cancellation and list_changed, both eras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
import yaml
from support import children_of, probe_entry, until, write_catalog

pytestmark = pytest.mark.anyio

MODES = ["legacy", "auto"]


@pytest.fixture
def probe_catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})


@pytest.mark.parametrize("mode", MODES)
async def test_progress_passes_through(gateway_process: Any, probe_catalog: Path, mode: str) -> None:
    gateway = gateway_process("--catalog", str(probe_catalog))
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with gateway.client(mode=mode) as client:
        result = await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
    assert not result.is_error
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


@pytest.mark.parametrize("mode", MODES)
async def test_log_messages_pass_through(gateway_process: Any, probe_catalog: Path, mode: str) -> None:
    gateway = gateway_process("--catalog", str(probe_catalog))
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with gateway.client(mode=mode, logging_callback=on_log, log_level="debug") as client:
        await client.call_tool("log", {"message": "hello from the backend"})
    assert any("hello from the backend" in str(entry.data) for entry in logs), logs


@pytest.mark.parametrize("mode", MODES)
async def test_cancelled_call_stops_its_server(gateway_process: Any, probe_catalog: Path, mode: str) -> None:
    gateway = gateway_process("--catalog", str(probe_catalog))
    assert gateway.process is not None
    async with gateway.client(mode=mode) as client:
        await client.list_tools()
        async with anyio.create_task_group() as tg:

            async def slow_call() -> None:
                await client.call_tool("sleep", {"seconds": 60})

            tg.start_soon(slow_call)
            assert await until(lambda: len(children_of(gateway.process.pid)) == 1), "backend never started"
            tg.cancel_scope.cancel()
        assert await until(lambda: children_of(gateway.process.pid) == []), "cancelled call left its server running"
        echoed = await client.call_tool("echo", {"text": "still serving"})
        assert not echoed.is_error


async def test_list_changed_reaches_2025_sessions(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"first": probe_entry("first"), "second": probe_entry("second")})
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"registry": {"first": {"ref": ""}}}))
    gateway = gateway_process("--catalog", str(catalog), "--registry", str(registry), "--watch-interval", "0.1")
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with gateway.client(mode="legacy", message_handler=on_message) as client:
        before = {tool.name for tool in (await client.list_tools()).tools}
        assert "whoami" in before
        registry.write_text(yaml.safe_dump({"registry": {"first": {"ref": ""}, "second": {"ref": ""}}}))
        with anyio.fail_after(15):
            await changed.wait()
        after = {tool.name for tool in (await client.list_tools()).tools}
        assert {"first__whoami", "second__whoami"} <= after


async def test_list_changed_reaches_2026_listeners(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"first": probe_entry("first"), "second": probe_entry("second")})
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"registry": {"first": {"ref": ""}, "second": {"ref": ""}}}))
    gateway = gateway_process("--catalog", str(catalog), "--registry", str(registry), "--watch-interval", "0.1")
    async with gateway.client() as client:
        assert client.protocol_version == "2026-07-28"
        assert "second__whoami" in {tool.name for tool in (await client.list_tools()).tools}
        async with client.listen(tools_list_changed=True) as subscription:
            registry.write_text(yaml.safe_dump({"registry": {"first": {"ref": ""}}}))
            with anyio.fail_after(15):
                async for _event in subscription:
                    break
        after = {tool.name for tool in (await client.list_tools()).tools}
        assert "whoami" in after
        assert "second__whoami" not in after


async def test_bad_edit_keeps_serving_what_was_served(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    gateway = gateway_process("--catalog", str(catalog), "--watch-interval", "0.1")
    async with gateway.client() as client:
        catalog.write_text("version: 2\nregistry:\n  probe: [unclosed\n")
        assert await until(lambda: "not reloading" in gateway.log)
        assert f"{catalog}:" in gateway.log
        result = await client.call_tool("echo", {"text": "unchanged"})
        assert not result.is_error
