"""A real gateway for the preview and bounded real MCP traffic to it: three probe servers (long-lived,
per call with at most two instances, per call with a warm pool), an exec interceptor that denies and
rewrites, and client sessions calling tools with every outcome; meanwhile a server is added to the
catalog, the file is broken, and the original put back, so the reload counters move."""

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
class Traffic:
    """What the clients saw (answers, isError or not, and MCP errors per tool), and when the traffic
    was over: every session done calling, `linger` seconds passed, sessions still connected."""

    counts: dict[str, int] = field(default_factory=dict)
    calling: list[anyio.Event] = field(default_factory=list)
    over: anyio.Event = field(default_factory=anyio.Event)
    end: float = 0.0

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


async def _call(client: Client, tool: str, arguments: dict[str, Any], traffic: Traffic) -> None:
    try:
        with anyio.fail_after(60):
            result = await client.call_tool(tool, arguments)
        traffic.add(f"{tool} {'isError' if result.is_error else 'answered'}")
    except MCPError:
        traffic.add(f"{tool} MCP error")


async def _session(
    gateway: PreviewGateway, deadline: float, traffic: Traffic, rng: random.Random, legacy: bool
) -> None:
    """Call until `deadline` (or 2,000 calls), then stay connected until every session is done; a
    `legacy` one speaks the handshake-era protocol (its session is what `kubemcp_sessions` counts)."""
    weights = [weight for weight, _, _ in CALLS]
    options = {"mode": "legacy"} if legacy else {}
    finished = anyio.Event()
    traffic.calling.append(finished)
    async with gateway.process.client(**options) as client:
        for _ in range(2000):
            if time.monotonic() >= deadline:
                break
            _, tool, arguments = rng.choices(CALLS, weights)[0]
            if arguments.get("seconds") == -1.0:
                arguments = {"seconds": round(rng.uniform(0.05, 0.8), 2)}
            await _call(client, tool, arguments, traffic)
            await anyio.sleep(rng.uniform(0.15, 0.5))
        finished.set()
        with anyio.move_on_after(600):
            await traffic.over.wait()


async def _bursts(gateway: PreviewGateway, deadline: float, every: float, traffic: Traffic) -> None:
    """Every `every` seconds, five slow calls at once to the server allowed two instances: three wait."""
    async with gateway.process.client() as client:
        for _ in range(100):
            await anyio.sleep(every)
            if time.monotonic() >= deadline - 5:
                return
            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(_call, client, "sandbox__sleep", {"seconds": 1.5}, traffic)


async def _edits(gateway: PreviewGateway, started: float, seconds: float) -> None:
    """At 35% of the run a fourth server is added to the catalog; at 60% the file is broken, and 3 s
    later the original is put back (the fourth server gone again)."""
    original = gateway.catalog.read_text()
    changed = yaml.safe_load(original)
    changed["registry"]["notes"] = {
        **entries()["search"],
        "description": "added while the gateway runs",
        "tools": [{"name": "echo", "description": "echo"}],  # declared: listing starts nothing
    }
    await anyio.sleep(max(0.0, started + seconds * 0.35 - time.monotonic()))
    gateway.catalog.write_text(yaml.safe_dump(changed, sort_keys=False))
    await anyio.sleep(max(0.0, started + seconds * 0.6 - time.monotonic()))
    gateway.catalog.write_text("registry: [this is not: a catalog\n")
    await anyio.sleep(3)
    gateway.catalog.write_text(original)


async def drive(
    gateway: PreviewGateway, seconds: float, linger: float = 0.0, sessions: int = 3, seed: int = 15
) -> Traffic:
    """Bounded traffic for `seconds` from `sessions` client sessions (all but the last handshake-era ones);
    they stay connected until `linger` seconds after the last one's last call, and `end` is that moment."""
    traffic = Traffic()
    started = time.monotonic()
    deadline = started + seconds

    async def close_when_done() -> None:
        with anyio.move_on_after(seconds + 600):
            while len(traffic.calling) < sessions:
                await anyio.sleep(0.1)
            for finished in traffic.calling:
                await finished.wait()
            await anyio.sleep(linger)
        traffic.end = time.time()
        traffic.over.set()

    async with anyio.create_task_group() as group:
        for index in range(sessions):
            group.start_soon(_session, gateway, deadline, traffic, random.Random(seed + index), index < sessions - 1)
        group.start_soon(_bursts, gateway, deadline, 20.0, traffic)
        group.start_soon(_edits, gateway, started, seconds)
        group.start_soon(close_when_done)
    return traffic


async def warm_ready(gateway: PreviewGateway, timeout: float = 60.0) -> bool:
    """Whether the warm pool has its first instance ready (before the traffic starts)."""

    def ready() -> bool:
        health = httpx2.get(f"{gateway.process.base}/health", headers=gateway.process.headers, timeout=5).json()
        return bool(health.get("warm", {}).get("dice"))

    return await until(ready, timeout)
