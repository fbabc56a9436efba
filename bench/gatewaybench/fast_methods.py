"""The gateway's fast path per method: tools/call, prompts/get and resources/read to long-lived servers,
as shipped (answered in front of the SDK's transport, `gateway/fast_calls.py`) against `--no-fast-path`
(every request through the MCP SDK's streamable-HTTP transport), in the same run.

Two gateways serve the same catalog (the probe server for tools/call, the feature server for the
prompt and the resources, both long-lived) over streamable HTTP with a bearer token. Each request is a
bare 2026-07-28 POST (the time until its whole body is read and decoded as JSON), sequential, in
interleaved rounds (per round: each method, both gateways in rotating order), so load from other work
hits both alike. Beside latency, the gateway's CPU time per request (from /proc), which a busy machine
disturbs much less. The shipped gateway's `/health` says how many requests it answered on the fast
path, per method; the other must have answered none there.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import httpx2
import yaml

from .environment import environment, load_average
from .measure import percentile
from .procs import ServedProcess, bench_token, children_of, kill_leftovers, proc_cpu, streaming_gateway
from .report import add_output_arguments, progress_of, section_main
from .settings import PROBE, PYTHON, REPO, TEXT, BenchError

START_MARK = "<!-- fast-methods-bench:start -->"
END_MARK = "<!-- fast-methods-bench:end -->"
FEATURES = REPO / "tests" / "peers" / "feature_server.py"
MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "fast-methods-bench", "version": "1"},
}
# (label, method, params without _meta, the Mcp-Name header)
REQUESTS: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    ("tools/call `echo`", "tools/call", {"name": "echo", "arguments": {"text": TEXT}}, "echo"),
    ("prompts/get `greet`", "prompts/get", {"name": "greet", "arguments": {"name": "ada"}}, "greet"),
    ("resources/read `features://counter`", "resources/read", {"uri": "features://counter"}, "features://counter"),
    ("resources/read `notes://apples` (template)", "resources/read", {"uri": "notes://apples"}, "notes://apples"),
)
PATHS: tuple[tuple[str, list[str]], ...] = (
    ("fast path (shipped)", []),
    ("SDK path (`--no-fast-path`)", ["--no-fast-path"]),
)


progress = progress_of("fast methods bench")


def catalog() -> dict[str, object]:
    registry = {
        "probe": {"description": "probe", "process": {"command": [PYTHON, str(PROBE), "probe"]}, "longLived": True},
        "features": {"description": "features", "process": {"command": [PYTHON, str(FEATURES)]}, "longLived": True},
    }
    return {"version": 2, "name": "fast-methods-bench", "registry": registry}


@dataclass
class Series:
    latencies: list[float] = field(default_factory=list)
    round_p50s: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0


def body(request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": META}}


async def post(http: httpx2.AsyncClient, url: str, request_id: int, method: str, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    reply = await http.post(url, json=body(request_id, method, params))
    decoded = reply.json()
    elapsed = (time.perf_counter() - started) * 1000
    if "result" not in decoded:
        raise BenchError(f"{method} failed: {str(decoded)[:300]}")
    return elapsed


def headers(token: str, method: str, name: str) -> dict[str, str]:
    return {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {token}",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
        "Mcp-Name": name,
    }


async def measure(args: argparse.Namespace, gateways: list[ServedProcess], token: str) -> dict[tuple[int, int], Series]:
    """Per (request, path): latencies, each round's p50, the gateway's CPU seconds."""
    series = {(r, g): Series() for r in range(len(REQUESTS)) for g in range(len(gateways))}
    deadline = time.monotonic() + args.cap
    async with AsyncExitStack() as stack:
        clients = {}
        for r, (_, method, _, name) in enumerate(REQUESTS):
            for g in range(len(gateways)):
                client = httpx2.AsyncClient(headers=headers(token, method, name), timeout=30)
                clients[r, g] = await stack.enter_async_context(client)
        listed = {"jsonrpc": "2.0", "id": 0, "method": "prompts/list", "params": {"_meta": META}}
        listing = {**headers(token, "prompts/list", ""), "Content-Type": "application/json"}
        del listing["Mcp-Name"]
        lister = await stack.enter_async_context(httpx2.AsyncClient(headers=listing, timeout=30))
        for g, gateway in enumerate(gateways):  # the full listing kept, both servers running
            reply = await lister.post(gateway.url, content=json.dumps(listed))
            if reply.status_code != 200:
                raise BenchError(f"prompts/list failed: {reply.text[:300]}")
            for r, (_, method, params, _) in enumerate(REQUESTS):
                for index in range(args.warmup):
                    await post(clients[r, g], gateway.url, index, method, params)
        for round_index in range(args.rounds):
            if time.monotonic() > deadline:
                progress(f"time cap reached after {round_index} rounds")
                break
            for r, (_, method, params, _) in enumerate(REQUESTS):
                for offset in range(len(gateways)):
                    g = (round_index + offset) % len(gateways)
                    one = series[r, g]
                    before = proc_cpu(gateways[g].pid)[0]
                    block = [
                        await post(clients[r, g], gateways[g].url, round_index * args.per_round + i, method, params)
                        for i in range(args.per_round)
                    ]
                    one.cpu_seconds += proc_cpu(gateways[g].pid)[0] - before
                    one.latencies += block
                    one.round_p50s.append(percentile(block, 0.5))
    return series


def fast_served(gateway: ServedProcess, token: str) -> dict[str, int]:
    report = httpx2.get(f"{gateway.url.rsplit('/', 1)[0]}/health", headers={"Authorization": f"Bearer {token}"}).json()
    return {method: int(count) for method, count in report.get("fast_calls_by_method", {}).items()}


async def run(args: argparse.Namespace) -> str:
    env_info = environment()
    with tempfile.TemporaryDirectory(prefix="kubemcp-fast-methods-bench-") as tmp:
        folder = Path(tmp)
        path = folder / "catalog.yaml"
        path.write_text(yaml.safe_dump(catalog(), sort_keys=False))
        token, tokens = bench_token(folder)
        gateways: list[ServedProcess] = []
        try:
            for index, (label, extra) in enumerate(PATHS):
                gateway = streaming_gateway(label, folder, index, path, tokens, extra)
                gateways.append(gateway)
                await gateway.start()
            series = await measure(args, gateways, token)
            served = [fast_served(gateway, token) for gateway in gateways]
        finally:
            for gateway in gateways:
                leftovers = children_of(gateway.pid, str(FEATURES)) if gateway.process is not None else []
                gateway.stop()
                kill_leftovers(leftovers, gateway.name)
    env_info["load_end"] = load_average()
    if served[1]:
        raise BenchError(f"the --no-fast-path gateway answered requests on the fast path: {served[1]}")
    return markdown(env_info, args, series, served[0])


def markdown(
    env_info: dict[str, str], args: argparse.Namespace, series: dict[tuple[int, int], Series], served: dict[str, int]
) -> str:
    lines = [
        "## Fast path per method (local processes)",
        "",
        "Written by `make bench` (`bench/fast_methods_bench.py`, `--help` for its counts). "
        + " ".join(__doc__.split("\n\n", 1)[1].split()),
        "",
        f"Run: {env_info.get('date', '?')}, {env_info.get('cpu', '?')} ({env_info.get('nproc', '?')} CPUs), "
        f"load average (1/5/15 min) {env_info.get('load_start', '?')} at start, "
        f"{env_info.get('load_end', '?')} at the end; kubemcp {env_info.get('git', '?')}; "
        f"{args.rounds} rounds of {args.per_round} requests per method and path, after {args.warmup} warm-up ones.",
        "",
        "| request | path | p50 | p90 | p99 | gateway CPU per request | fast p50 - SDK p50, median over rounds |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r, (label, _, _, _) in enumerate(REQUESTS):
        for g, (path_label, _) in enumerate(PATHS):
            one = series[r, g]
            cells = " | ".join(f"{percentile(one.latencies, q):.2f} ms" for q in (0.5, 0.9, 0.99))
            cpu_ms = one.cpu_seconds * 1000 / max(1, len(one.latencies))
            paired = ""
            if g == 0:
                sdk = series[r, 1].round_p50s
                diffs = [fast - slow for fast, slow in zip(one.round_p50s, sdk, strict=False)]
                paired = f"{median(diffs):+.2f} ms" if diffs else "n/a"
            lines.append(f"| {label} | {path_label} | {cells} | {cpu_ms:.2f} ms | {paired} |")
    lines += [
        "",
        "Answered on the fast path by the shipped gateway (warm-up included): "
        + ", ".join(f"{method} {count}" for method, count in sorted(served.items()))
        + "; by the `--no-fast-path` one: none.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--per-round", type=int, default=50, help="sequential requests per method, path and round")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per method and path")
    parser.add_argument("--cap", type=float, default=300.0, help="time cap in seconds for the measured rounds")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if min(args.rounds, args.per_round) < 1 or args.warmup < 0:
        parser.error("rounds and requests per round must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return section_main(args, lambda: run(args), args.cap + 300, (START_MARK, END_MARK), progress)
