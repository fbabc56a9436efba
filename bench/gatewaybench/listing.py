"""tools/list at scale: one gateway serving many servers, listed through streamable HTTP, none started.

Each scale is a catalog of `servers` per-call entries of `tools` tools each, every tool declared in
the catalog with a description and an input schema (as discovery records them), so the gateway
answers from what it knows without starting a server. The gateway process is checked to have no
child at the end of each scale: a listing that started a server would show. Latency is one
`tools/list` request from an SDK client session (sequential, after warm-up), i.e. what an MCP client
pays per listing, SDK validation of the result included; and the same request as a bare HTTP POST
of the 2026-07-28 revision with the body decoded as JSON only, which is the gateway's part. The
rendered response size is reported beside them, and the gateway's CPU time per bare POST (from
/proc), which a busy machine disturbs much less than latency.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2
import yaml

from .environment import environment, load_average
from .measure import http_client, percentile
from .options import OptionRow, measure_options, options_markdown
from .procs import ServedProcess, bench_token, proc_cpu, streaming_gateway
from .report import add_output_arguments, progress_of, section_main
from .settings import PROBE, PYTHON, BenchError

START_MARK = "<!-- listing-bench:start -->"
END_MARK = "<!-- listing-bench:end -->"
TARGET_P50_MS = 10.0  # for 50 servers x 20 tools
SCALES = ((50, 20), (200, 20))


progress = progress_of("listing bench")


def tool(server: int, index: int) -> dict[str, object]:
    return {
        "name": f"s{server:03d}_action_{index:02d}",
        "description": f"Action {index} of server {server}: does one thing to an item and returns its new state.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "item": {"type": "string", "description": "The item's identifier."},
                "count": {"type": "integer", "minimum": 1, "description": "How many times."},
                "dry_run": {"type": "boolean", "description": "Only say what would change."},
            },
            "required": ["item"],
        },
    }


def catalog(servers: int, tools: int) -> dict[str, object]:
    command = [PYTHON, str(PROBE), "probe"]
    registry = {
        f"s{server:03d}": {
            "description": f"listing benchmark server {server}",
            "process": {"command": command},
            "tools": [tool(server, index) for index in range(tools)],
        }
        for server in range(servers)
    }
    return {"version": 2, "name": "listing-bench", "registry": registry}


MODERN = "2026-07-28"
RAW_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": MODERN,
    "Mcp-Method": "tools/list",
}
RAW_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "listing-bench", "version": "1"},
}


async def raw_lists(http: httpx2.AsyncClient, url: str, count: int, first_id: int) -> list[float]:
    """tools/list as single POSTs: the time until the whole body is read and decoded."""
    latencies: list[float] = []
    for index in range(first_id, first_id + count):
        body = {"jsonrpc": "2.0", "id": index, "method": "tools/list", "params": {"_meta": RAW_META}}
        started = time.perf_counter()
        reply = await http.post(url, json=body)
        decoded = reply.json()
        latencies.append((time.perf_counter() - started) * 1000)
        if "result" not in decoded:
            raise BenchError(f"tools/list as a bare POST failed: {str(decoded)[:300]}")
    return latencies


# The gateway as shipped, and with `--no-fast-path` (every answer through the SDK's transport).
PATHS: tuple[tuple[str, list[str]], ...] = (
    ("kept bytes written directly", []),
    ("through the SDK transport", ["--no-fast-path"]),
)


@dataclass
class Scale:
    servers: int
    tools: int
    path: str
    latencies: list[float]
    raw_latencies: list[float]
    cpu_ms: float  # the gateway's CPU time per bare POST (robust to a busy machine, unlike latency)
    listed: int
    response_bytes: int
    children: int
    startup_seconds: float

    @property
    def label(self) -> str:
        return f"{self.servers} servers x {self.tools} tools"


async def measure_scale(args: argparse.Namespace, work: Path, servers: int, tools: int) -> list[Scale]:
    """Both paths on one catalog, one gateway each, measured in interleaved rounds (rotating order)."""
    folder = work / f"{servers}x{tools}"
    folder.mkdir()
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog(servers, tools), sort_keys=False))
    token, tokens = bench_token(folder)
    gateways: list[ServedProcess] = []
    startups: list[float] = []
    try:
        for index, (_, extra) in enumerate(PATHS):
            label = f"{index} ({servers}x{tools})"
            gateway = streaming_gateway(label, folder, index, path, tokens, [*extra, *args.gateway_arg])
            gateways.append(gateway)
            began = time.monotonic()
            await gateway.start()
            startups.append(time.monotonic() - began)
        return await _interleaved(args, gateways, token, servers, tools, startups)
    finally:
        for gateway in gateways:
            gateway.stop()


async def _interleaved(
    args: argparse.Namespace,
    gateways: list[ServedProcess],
    token: str,
    servers: int,
    tools: int,
    startups: list[float],
) -> list[Scale]:
    count = len(gateways)
    latencies: list[list[float]] = [[] for _ in gateways]
    raw: list[list[float]] = [[] for _ in gateways]
    cpu = [0.0] * count
    listed, sizes = [0] * count, [0] * count
    per_round = max(1, args.lists // args.rounds)
    deadline = time.monotonic() + args.cap
    headers = {**RAW_HEADERS, "Authorization": f"Bearer {token}"}
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(http_client(g.url, token)) for g in gateways]
        raws = [await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=30)) for _ in gateways]
        for index, client in enumerate(clients):
            result = await client.list_tools()
            listed[index] = len(result.tools)
            sizes[index] = len(result.model_dump_json(by_alias=True, exclude_none=True))
            for _ in range(args.warmup):
                await client.list_tools()
            await raw_lists(raws[index], gateways[index].url, args.warmup, 0)
        for round_index in range(args.rounds):
            if time.monotonic() > deadline:
                break
            order = [(round_index + offset) % count for offset in range(count)]
            for index in order:
                for _ in range(per_round):
                    started = time.perf_counter()
                    await clients[index].list_tools()
                    latencies[index].append((time.perf_counter() - started) * 1000)
            for index in order:
                before = proc_cpu(gateways[index].pid)[0]
                raw[index] += await raw_lists(raws[index], gateways[index].url, per_round, round_index * per_round)
                cpu[index] += proc_cpu(gateways[index].pid)[0] - before
    scales = []
    for index, (label, _) in enumerate(PATHS):
        if listed[index] != servers * tools:
            raise BenchError(f"{servers}x{tools}: listed {listed[index]} tools ({label})")
        cpu_ms = cpu[index] * 1000 / max(1, len(raw[index]))
        children = len(gateways[index].children())
        scales.append(
            Scale(
                servers,
                tools,
                label,
                latencies[index],
                raw[index],
                cpu_ms,
                listed[index],
                sizes[index],
                children,
                startups[index],
            )
        )
    return scales


QS = (0.5, 0.9, 0.99)


def verdict(p50: float) -> str:
    return "met" if p50 <= TARGET_P50_MS else "missed"


def markdown(env_info: dict[str, str], args: argparse.Namespace, scales: list[Scale], options: list[OptionRow]) -> str:
    lines = [
        "## tools/list at scale, and gateway options",
        "",
        "Written by `make bench` (`bench/listing_bench.py`, `--help` for its counts). Gateways serving "
        "streamable HTTP on 127.0.0.1 with a bearer token, per-call servers whose tools are declared in the "
        "catalog (as discovery records them): the listing starts no server (the gateways had "
        f"{', '.join(str(s.children) for s in scales)} child processes at the end). Each scale runs two "
        "gateways side by side: as shipped (a kept answer's bytes written directly, `gateway/kept_answers.py`) "
        "and with `--no-fast-path` (every answer through the MCP SDK's streamable-HTTP transport). "
        f"{args.lists} sequential `tools/list` requests per gateway from one SDK client session, then as many "
        f"bare POSTs, after {args.warmup} warm-up ones of each, in {args.rounds} interleaved rounds "
        "(rotating order), so load from other work hits both alike.",
        "",
        f"Run: {env_info.get('date', '?')}, {env_info.get('cpu', '?')}, "
        f"load {env_info.get('load_start', '?')} at start, "
        f"{env_info.get('load_end', '?')} at the end; kubemcp {env_info.get('git', '?')}.",
        "",
        "| scale | answer | tools listed | response | SDK client p50 | p90 | p99 | bare POST p50 | p90 | p99 "
        "| gateway CPU per list | gateway start |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scales:
        lines.append(
            f"| {s.label} | {s.path} | {s.listed} | {s.response_bytes / 1024:.0f} KiB | "
            + " | ".join(f"{percentile(values, q):.2f} ms" for values in (s.latencies, s.raw_latencies) for q in QS)
            + f" | {s.cpu_ms:.2f} ms | {s.startup_seconds:.1f} s |"
        )
    first = next((s for s in scales if (s.servers, s.tools) == SCALES[0] and s.path == PATHS[0][0]), None)
    if first is not None:
        sdk, raw = percentile(first.latencies, 0.5), percentile(first.raw_latencies, 0.5)
        lines += [
            "",
            f"Target: p50 ≤ {TARGET_P50_MS:.0f} ms for {first.label}: {verdict(sdk)} through the SDK client "
            f"({sdk:.2f} ms), {verdict(raw)} as a bare POST ({raw:.2f} ms).",
        ]
    if options:
        lines += options_markdown(args, options)
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace) -> str:
    env_info = environment()
    scales: list[Scale] = []
    with tempfile.TemporaryDirectory(prefix="kubemcp-listing-bench-") as tmp:
        for servers, tools in SCALES:
            progress(f"{servers} servers x {tools} tools")
            for scale in await measure_scale(args, Path(tmp), servers, tools):
                progress(
                    f"{scale.path}: p50 {percentile(scale.latencies, 0.5):.2f} ms over {len(scale.latencies)} "
                    f"lists, bare POST p50 {percentile(scale.raw_latencies, 0.5):.2f} ms, CPU {scale.cpu_ms:.2f} ms"
                )
                scales.append(scale)
        options: list[OptionRow] = []
        if args.option_calls > 0:
            progress(f"gateway options: {args.option_calls} calls each, sequential and concurrent")
            options = await measure_options(args, Path(tmp))
    env_info["load_end"] = load_average()
    return markdown(env_info, args, scales, options)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lists", type=int, default=200, help="timed tools/list requests per scale")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per scale")
    parser.add_argument("--cap", type=float, default=120.0, help="time cap in seconds for each scale's loop")
    parser.add_argument("--option-calls", type=int, default=1000, help="tools/call per gateway option (0: none)")
    parser.add_argument("--workers", type=int, default=4, help="concurrent workers for the options' calls")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (listings and options' calls)")
    parser.add_argument("--gateway-arg", action="append", default=[], help="extra gateway option (repeatable)")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if min(args.lists, args.warmup + 1) < 1:
        parser.error("counts must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return section_main(args, lambda: run(args), 2400, (START_MARK, END_MARK), progress)
