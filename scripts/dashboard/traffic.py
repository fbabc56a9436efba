"""A real gateway for the preview and bounded real MCP traffic to it: three probe servers (long-lived,
per call with at most two instances, per call with a warm pool), an exec interceptor that denies and
rewrites, and client sessions calling tools with every outcome; the catalog is edited twice meanwhile
(one good change, one broken file, then put back) so the reload counters move."""

from __future__ import annotations

import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import yaml
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from support import PROBE, TESTS, GatewayProcess, isolated_env, until, write_catalog

INTERCEPTOR = TESTS / "peers" / "interceptor.py"


def entries() -> dict[str, dict[str, Any]]:
    def probe(name: str, description: str, **extra: Any) -> dict[str, Any]:
        return {"description": description, "process": {"command": [sys.executable, str(PROBE), name]}, **extra}

    return {
        "search": probe("search", "long-lived: one shared instance", longLived=True),
        "sandbox": probe("sandbox", "per call, at most two at once", kubernetes={"maxInstances": 2}),
        "dice": probe("dice", "per call from a warm pool", warm={"min": 1, "max": 3}),
    }


# (weight, tool, arguments): what one step of a session calls, and the outcome it gets.
CALLS: tuple[tuple[int, str, dict[str, Any]], ...] = (
    (36, "search__echo", {"text": "hello"}),  # ok
    (14, "search__sleep", {"seconds": -1.0}),  # ok, a random sleep (filled in below)
    (5, "search__echo", {"text": "rewrite-me"}),  # ok, rewritten by the interceptor
    (6, "search__echo", {"text": "forbidden"}),  # denied by the interceptor
    (5, "search__env_sha256", {}),  # tool_error: the server's answer has isError
    (9, "sandbox__whoami", {}),  # ok, an instance started for the call
    (3, "sandbox__crash", {}),  # error: the instance exits mid-call
    (12, "dice__whoami", {}),  # ok, from the warm pool
    (2, "no_such_tool", {}),  # unknown_tool
)


@dataclass
class Tally:
    """What the client saw: answers (isError or not) and MCP errors, per tool."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


class PreviewGateway:
    """`kubemcp gateway run` with the preview's catalog, its interceptor and `--metrics-port`."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.catalog = write_catalog(root / "catalog.yaml", entries(), name="preview")
        hook = f"before:exec:{sys.executable} {INTERCEPTOR}"
        args = ["--transport", "streaming", "--port", "0", "--catalog", str(self.catalog), "--interceptor", hook,
                "--metrics-port", "0", "--no-audit"]  # fmt: skip
        self.process = GatewayProcess(args, root / "gateway.log", isolated_env(root))
        self.metrics = ""  # host:port of the metrics port

    def start(self) -> PreviewGateway:
        self.process.start(timeout=120)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r"serving metrics on http://(\S+)/metrics", self.process.log)
            if match:
                self.metrics = match.group(1)
                return self
            time.sleep(0.05)
        raise RuntimeError(f"the gateway did not serve metrics:\n{self.process.log[-3000:]}")

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> PreviewGateway:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _call(client: Client, tool: str, arguments: dict[str, Any], tally: Tally) -> None:
    try:
        with anyio.fail_after(60):
            result = await client.call_tool(tool, arguments)
        tally.add(f"{tool} {'isError' if result.is_error else 'answered'}")
    except MCPError:
        tally.add(f"{tool} MCP error")


async def _session(gateway: PreviewGateway, deadline: float, max_calls: int, rng: random.Random, tally: Tally) -> None:
    weights = [weight for weight, _, _ in CALLS]
    async with gateway.process.client() as client:
        for _ in range(max_calls):
            if time.monotonic() >= deadline:
                return
            _, tool, arguments = rng.choices(CALLS, weights)[0]
            if arguments.get("seconds") == -1.0:
                arguments = {"seconds": round(rng.uniform(0.05, 0.8), 2)}
            await _call(client, tool, arguments, tally)
            await anyio.sleep(rng.uniform(0.15, 0.5))


async def _bursts(gateway: PreviewGateway, deadline: float, every: float, tally: Tally) -> None:
    """Every `every` seconds, five slow calls at once to the server allowed two instances: three wait."""
    async with gateway.process.client() as client:
        for _ in range(100):
            await anyio.sleep(every)
            if time.monotonic() >= deadline - 5:
                return
            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(_call, client, "sandbox__sleep", {"seconds": 1.5}, tally)


async def _edits(gateway: PreviewGateway, started: float, seconds: float) -> None:
    """A good edit of the catalog at 35% of the run; a broken file at 60%, put back 3 s later."""
    original = gateway.catalog.read_text()
    changed = yaml.safe_load(original)
    changed["registry"]["search"]["description"] = "long-lived: one shared instance (edited)"
    await anyio.sleep(max(0.0, started + seconds * 0.35 - time.monotonic()))
    gateway.catalog.write_text(yaml.safe_dump(changed, sort_keys=False))
    await anyio.sleep(max(0.0, started + seconds * 0.6 - time.monotonic()))
    gateway.catalog.write_text("registry: [this is not: a catalog\n")
    await anyio.sleep(3)
    gateway.catalog.write_text(original)


async def drive(gateway: PreviewGateway, seconds: float, sessions: int = 3, seed: int = 15) -> Tally:
    """Bounded traffic for `seconds` (each session also stops after 2,000 calls)."""
    tally = Tally()
    started = time.monotonic()
    deadline = started + seconds
    async with anyio.create_task_group() as group:
        for index in range(sessions):
            group.start_soon(_session, gateway, deadline, 2000, random.Random(seed + index), tally)
        group.start_soon(_bursts, gateway, deadline, 20.0, tally)
        group.start_soon(_edits, gateway, started, seconds)
    return tally


async def warm_ready(gateway: PreviewGateway, timeout: float = 60.0) -> bool:
    """Whether the warm pool has its first instance ready (before the traffic starts)."""

    def ready() -> bool:
        health = httpx2.get(f"{gateway.process.base}/health", headers=gateway.process.headers, timeout=5).json()
        return bool(health.get("warm", {}).get("dice"))

    return await until(ready, timeout)
