"""Backend faults, seen from the gateway: a server killed mid-call, its stream cut, a crash, a hang, a
server that speaks no MCP or cannot start. Each fails only its own call, with an error naming the
server, while calls to a healthy server go on succeeding; nothing is left running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from support import tool_value

from ..figures import Row
from ..harness import Gateway, probe
from ..settings import Scale


def _entries() -> dict[str, dict[str, Any]]:
    return {
        "victim": probe("victim"),
        "steady": probe("steady", longLived=True),
        "garbage": {
            "process": {"command": ["/bin/sh", "-c", "echo this is not json-rpc; sleep 5"]},
            "tools": [{"name": "garbled", "description": "never served"}],
        },
        "missing": {
            "process": {"command": ["/nonexistent/mcp-server"]},
            "tools": [{"name": "nothing", "description": "never served"}],
        },
    }


async def _fault(client: Client, root: Path, kind: str, number: int) -> tuple[bool, str]:
    """Provoke one fault; (the call failed with an error naming its server, the message)."""
    pidfile = root / f"{kind}-{number}"
    arguments: dict[str, Any]
    if kind == "killed mid-call":
        name, arguments = "victim__sleep", {"seconds": 600, "pidfile": str(pidfile)}
    elif kind == "stream cut":
        name, arguments = "victim__cut_output", {"seconds": 600}
    elif kind == "crash":
        name, arguments = "victim__crash", {"code": 9}
    elif kind == "hang (call timeout)":
        name, arguments = "victim__sleep", {"seconds": 600}
    elif kind == "speaks no MCP":
        name, arguments = "garbage__garbled", {}
    else:
        name, arguments = "missing__nothing", {}
    server = "garbage" if kind == "speaks no MCP" else "missing" if kind == "cannot start" else "victim"

    async def kill_when_started() -> None:
        while not (pidfile.exists() and pidfile.read_text()):
            await anyio.sleep(0.05)
        os.kill(int(pidfile.read_text()), signal.SIGKILL)

    outcome: tuple[bool, str] = (False, "the call succeeded")
    async with anyio.create_task_group() as tg:  # the error is caught inside: a task group would wrap it
        if kind == "killed mid-call":
            tg.start_soon(kill_when_started)
        try:
            await client.call_tool(name, arguments)
        except MCPError as exc:
            outcome = (f"'{server}'" in exc.error.message, exc.error.message)
        finally:
            tg.cancel_scope.cancel()
    return outcome


async def backend_faults(root: Path, scale: Scale) -> list[Row]:
    kinds = ["killed mid-call", "stream cut", "crash", "hang (call timeout)", "speaks no MCP", "cannot start"]
    faults = Row(f"backend faults: {', '.join(kinds)}", "each fails only its call, naming the server")
    steady = Row("calls to a healthy server meanwhile", "100 % success")
    gateway = Gateway(root, _entries(), "--prefix-tools", "--call-timeout", "5").start()
    try:
        async with gateway.client(mode="legacy", read_timeout_seconds=120) as client:
            stop = anyio.Event()

            async def steady_calls() -> None:
                number = 0
                while not stop.is_set():
                    began = time.perf_counter()
                    try:
                        ok = tool_value(await client.call_tool("steady__echo", {"text": str(number)})) == str(number)
                        steady.attempt(ok, "wrong answer")
                    except Exception as exc:
                        steady.attempt(False, f"{type(exc).__name__}: {str(exc)[:200]}")
                    steady.latencies_ms.append((time.perf_counter() - began) * 1000)
                    number += 1
                    await anyio.sleep(0.2)

            async with anyio.create_task_group() as tg:
                tg.start_soon(steady_calls)
                for number in range(scale.fault_rounds):
                    for kind in kinds:
                        began = time.perf_counter()
                        ok, message = await _fault(client, root, kind, number)
                        faults.latencies_ms.append((time.perf_counter() - began) * 1000)
                        faults.attempt(ok and gateway.alive(), f"{kind}: {message[:200]}")
                stop.set()
        faults.note("latency = until the failing call's error")
    finally:
        gateway.stop()
    faults.leftovers = gateway.leftovers()
    return [faults, steady]
