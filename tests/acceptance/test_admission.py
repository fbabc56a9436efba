"""Admission control seen from real clients: calls beyond the limit wait (the queue shows in /health),
then fail with an MCP error that says the server is saturated; the gateway goes on serving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from support import probe_entry, tool_value, until, write_catalog

pytestmark = pytest.mark.anyio

TOOLS = [{"name": "sleep"}, {"name": "echo"}]


async def test_calls_beyond_the_limit_queue_then_fail_as_saturated(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(tools=TOOLS)})
    gateway = gateway_process(
        "--catalog", str(catalog), "--max-instances", "2", "--max-queued", "1", "--queue-timeout", "600"
    )
    pidfiles = [tmp_path / f"pid{n}" for n in range(2)]
    outcomes: dict[str, Any] = {}

    def health() -> dict[str, Any]:
        admission: dict[str, Any] = httpx2.get(f"{gateway.base}/health", headers=gateway.headers, timeout=10).json()[
            "admission"
        ]
        return admission

    async with gateway.client() as client, anyio.create_task_group() as tg:

        async def call(name: str, arguments: dict[str, Any]) -> None:
            try:
                outcomes[name] = tool_value(await client.call_tool("sleep", arguments))
            except MCPError as exc:
                outcomes[name] = exc

        for number, pidfile in enumerate(pidfiles):
            tg.start_soon(call, f"running{number}", {"seconds": 3, "pidfile": str(pidfile)})
        assert await until(lambda: all(p.exists() for p in pidfiles), 60), "the first calls never started"
        tg.start_soon(call, "queued", {"seconds": 0})
        assert await until(lambda: health()["queued"] == 1), health()
        assert health()["running"] == 2
        with pytest.raises(MCPError) as refused:  # the queue is full: refused at once
            await client.call_tool("sleep", {"seconds": 0})
        assert "saturated" in refused.value.error.message
        assert "probe" in refused.value.error.message
        assert refused.value.error.data == {"server": "probe", "saturated": True}
    assert outcomes == {"running0": "slept 3.0", "running1": "slept 3.0", "queued": "slept 0.0"}
    assert await until(lambda: health()["running"] == 0)  # a slot is held until its instance has stopped
    assert health() == {
        "running": 0,
        "limit": 2,
        "queued": 0,
        "queue_limit": 1,
        "rejected": 1,
        "servers": {},
    }


async def test_a_call_that_waits_longer_than_the_queue_timeout_fails_as_saturated(
    gateway_process: Any, tmp_path: Path
) -> None:
    entry = probe_entry(tools=TOOLS, kubernetes={"maxInstances": 1})  # the entry's own limit
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": entry})
    gateway = gateway_process("--catalog", str(catalog), "--queue-timeout", "1")
    pidfile = tmp_path / "pid"
    async with gateway.client() as client, anyio.create_task_group() as tg:

        async def long_call() -> None:
            await client.call_tool("sleep", {"seconds": 600, "pidfile": str(pidfile)})

        tg.start_soon(long_call)
        assert await until(pidfile.exists, 60)
        with pytest.raises(MCPError) as waited:
            await client.call_tool("echo", {"text": "x"})
        assert "saturated" in waited.value.error.message
        assert "waited 1s" in waited.value.error.message
        tg.cancel_scope.cancel()
