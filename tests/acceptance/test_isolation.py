"""Per-call processes, long-lived servers, secrets and failures, seen from a real client."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from support import children_of, pid_alive, probe_entry, tool_value, until, write_catalog

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-value-" + "9f2c71"
OTHER_SECRET = "other-s3cret-" + "a81d"


async def test_per_call_process_exists_only_for_the_call(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry()})
    gateway = gateway_process("--catalog", str(catalog))
    assert gateway.process is not None
    async with gateway.client() as client:
        await client.list_tools()
        # The catalog-less probe was started once to discover its tools, then stopped.
        assert await until(lambda: children_of(gateway.process.pid) == [])
        first = tool_value(await client.call_tool("whoami", {}))
        second = tool_value(await client.call_tool("whoami", {}))
        assert first["pid"] != second["pid"]  # a fresh process per call
        assert first["ppid"] == gateway.process.pid
        # The answer comes first; the process is stopped right after it (stdin closed, group ended).
        assert await until(lambda: not pid_alive(first["pid"]) and not pid_alive(second["pid"]), 10)
        assert await until(lambda: children_of(gateway.process.pid) == [], 10)


async def test_long_lived_server_is_shared_then_stopped_when_idle(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(longLived=True)})
    gateway = gateway_process("--catalog", str(catalog), "--idle-timeout", "1")
    async with gateway.client() as client:
        results = []
        async with anyio.create_task_group() as tg:
            for _ in range(5):  # concurrent calls share the one instance

                async def call() -> None:
                    results.append(tool_value(await client.call_tool("whoami", {})))

                tg.start_soon(call)
        pids = {r["pid"] for r in results}
        assert len(pids) == 1
        (pid,) = pids
        assert pid_alive(pid)
        assert await until(lambda: not pid_alive(pid)), "idle long-lived server was not stopped"
        again = tool_value(await client.call_tool("whoami", {}))
        assert again["pid"] != pid


async def test_secrets_reach_only_their_server(gateway_process: Any, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"probe.token={SECRET}\nother.token={OTHER_SECRET}\n")
    catalog = write_catalog(
        tmp_path / "catalog.yaml",
        {
            "alpha": probe_entry("alpha", secrets=[{"name": "probe.token", "env": "PROBE_TOKEN"}]),
            "beta": probe_entry("beta"),
            "gamma": probe_entry(
                "gamma",
                secrets=[{"name": "missing.token", "env": "MISSING_TOKEN"}],
                tools=[{"name": "whoami", "description": "declared in the catalog"}],
            ),
        },
    )
    gateway = gateway_process(
        "--catalog", str(catalog), "--secrets", str(secrets), "--log-calls", "--debug", "--log-format", "json"
    )
    async with gateway.client() as client:
        tools = await client.list_tools()
        assert SECRET not in tools.model_dump_json()
        # The server got the value exactly; a tool that sends it back has its result withheld.
        digest = hashlib.sha256(SECRET.encode()).hexdigest()
        assert tool_value(await client.call_tool("alpha__env_sha256", {"name": "PROBE_TOKEN"})) == digest
        echoed = await client.call_tool("alpha__env", {"name": "PROBE_TOKEN"})
        assert echoed.is_error
        assert SECRET not in echoed.model_dump_json()
        assert tool_value(await client.call_tool("beta__env", {"name": "PROBE_TOKEN"})) == "<unset>"
        beta_env = tool_value(await client.call_tool("beta__env_names", {}))
        alpha_env = tool_value(await client.call_tool("alpha__env_names", {}))
        assert "PROBE_TOKEN" not in beta_env
        assert "PROBE_TOKEN" in alpha_env
        for names in (alpha_env, beta_env):
            assert "KUBEMCP_HOME" not in names  # the gateway's own environment does not leak
        with pytest.raises(MCPError) as missing:
            await client.call_tool("gamma__whoami", {})
        assert "missing.token" in missing.value.error.message
        assert "gamma" in missing.value.error.message
        with pytest.raises(MCPError) as crashed:
            await client.call_tool("alpha__crash", {})
        message = crashed.value.error.message
        assert "alpha" in message
        assert SECRET not in message
    log = gateway.log
    assert "call alpha__env_sha256 -> alpha/env_sha256 for token:test" in log  # --log-calls logged the calls...
    assert SECRET not in log  # ...but never a secret value
    assert OTHER_SECRET not in log


async def test_broken_servers_fail_only_their_own_calls(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(
        tmp_path / "catalog.yaml",
        {
            "healthy": probe_entry("healthy"),
            "crashy": probe_entry("crashy"),
            "missing": {
                "process": {"command": ["/nonexistent/mcp-server"]},
                "tools": [{"name": "nothing", "description": "never runs"}],
            },
            "garbage": {
                "process": {"command": ["/bin/sh", "-c", "echo this is not json-rpc; sleep 0.2"]},
                "tools": [{"name": "garbled", "description": "speaks nonsense"}],
            },
        },
    )
    gateway = gateway_process("--catalog", str(catalog), "--call-timeout", "10")
    async with gateway.client() as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"nothing", "garbled", "healthy__whoami", "crashy__crash"} <= names
        with pytest.raises(MCPError) as not_started:
            await client.call_tool("nothing", {})
        assert "missing" in not_started.value.error.message
        assert "/nonexistent/mcp-server" in not_started.value.error.message
        with pytest.raises(MCPError) as garbled:
            await client.call_tool("garbled", {})
        assert "garbage" in garbled.value.error.message
        with pytest.raises(MCPError) as crashed:
            await client.call_tool("crashy__crash", {"code": 7})
        assert "crashy" in crashed.value.error.message
        assert "code 7" in crashed.value.error.message
        assert "crashing on purpose" in crashed.value.error.message  # the server's stderr explains it
        healthy = tool_value(await client.call_tool("healthy__whoami", {}))
        assert healthy["name"] == "healthy"
    assert gateway.process is not None
    assert gateway.process.poll() is None


async def test_sigterm_stops_long_lived_servers_before_exit(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"probe": probe_entry(longLived=True)})
    gateway = gateway_process("--catalog", str(catalog))
    async with gateway.client() as client:
        resident = tool_value(await client.call_tool("whoami", {}))
    assert pid_alive(resident["pid"])
    assert gateway.process is not None
    gateway.process.terminate()
    assert gateway.process.wait(timeout=20) == 0
    assert not pid_alive(resident["pid"]), "the gateway exited before stopping its long-lived server"
    assert "gateway stopped" in gateway.log


async def test_a_cut_backend_stream_fails_only_its_call(gateway_process: Any, tmp_path: Path) -> None:
    catalog = write_catalog(
        tmp_path / "catalog.yaml",
        {"cut": probe_entry("cut"), "steady": probe_entry("steady", longLived=True)},
    )
    gateway = gateway_process("--catalog", str(catalog), "--prefix-tools")
    async with gateway.client() as client:
        async with anyio.create_task_group() as tg:
            steady: list[Any] = []

            async def steady_calls() -> None:
                for n in range(5):
                    steady.append(tool_value(await client.call_tool("steady__echo", {"text": str(n)})))

            tg.start_soon(steady_calls)
            with pytest.raises(MCPError) as cut:
                await client.call_tool("cut__cut_output", {"seconds": 600})
        message = cut.value.error.message
        assert "'cut'" in message
        assert "connection lost during the request" in message
        assert steady == ["0", "1", "2", "3", "4"]
        assert tool_value(await client.call_tool("cut__echo", {"text": "again"})) == "again"
        resident = tool_value(await client.call_tool("steady__whoami", {}))["pid"]
    assert gateway.process is not None
    assert gateway.process.poll() is None
    # The cut server (still running when its stream was cut) was stopped: only the long-lived one is left.
    assert await until(lambda: children_of(gateway.process.pid) == [resident], 15)


async def test_a_warm_per_call_server_answers_from_an_instance_started_before_the_call(
    gateway_process: Any, tmp_path: Path
) -> None:
    declared = [{"name": "whoami", "description": "declared in the catalog"}]  # listing starts nothing
    catalog = write_catalog(
        tmp_path / "catalog.yaml", {"probe": probe_entry(warm={"min": 1, "max": 2}, tools=declared)}
    )
    gateway = gateway_process("--catalog", str(catalog))
    assert gateway.process is not None

    # Before any call, one instance is started, initialized and waiting.
    def warm_ready() -> Any:
        health = httpx2.get(f"{gateway.base}/health", headers=gateway.headers, timeout=5).json()
        return health["warm"]

    assert await until(lambda: warm_ready() == {"probe": 1}, 10)
    (ready,) = children_of(gateway.process.pid)
    metrics = httpx2.get(f"{gateway.base}/metrics", headers=gateway.headers, timeout=5).text
    for family in ("kubemcp_warm_pool_ready", "kubemcp_warm_pool_size"):  # ready, and wanted (min while idle)
        assert f'{family}{{server="probe"}} 1.0' in metrics.splitlines()
    async with gateway.client() as client:
        first = tool_value(await client.call_tool("whoami", {}))
        assert first["pid"] == ready  # served by the pre-started instance
        # It served its one call and stops; a replacement was started meanwhile and serves the next.
        assert await until(lambda: not pid_alive(ready), 10)
        assert await until(lambda: warm_ready() == {"probe": 1}, 10)
        replacements = children_of(gateway.process.pid)
        second = tool_value(await client.call_tool("whoami", {}))
        assert second["pid"] in replacements
        assert second["pid"] != first["pid"]
