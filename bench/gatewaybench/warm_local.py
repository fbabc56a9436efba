"""A warm per-call instance against the long-lived path with the embedded runtime (local processes), in
the same rounds: what a per-call server with `warm: {min: 1, max: 1}` costs per call when the pool
keeps up, beside a long-lived server and a per-call server started for each call (cold).

Two gateways serve one catalog (the probe server three times: `longLived: true`, `warm: {min: 1,
max: 1}`, and per call with no pool) over streamable HTTP with a bearer token: as shipped, and with
`--no-fast-path` (every request through the MCP SDK's transport), so the fast path's share of a warm
call shows. Each gateway is driven by its own mcp SDK client session (2026-07-28), the client of the
gateway table's (b). Calls run in interleaved rounds of blocks in rotating order: per gateway, one warm
call, `--lived` long-lived calls and, every `--cold-every` rounds, one cold call. Before every block
the bench waits (not timed) until both gateways' warm instances are ready again and then pauses, so a
replacement's start (a new Python process) does not compete with the timed calls and every block
starts after the same quiet spell. Served warm: the audit records' `warm`.
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

import anyio
import yaml
from mcp.client import Client

from .environment import environment, load_average
from .measure import call_echo, http_client, percentile, sample, scraped_metrics
from .procs import ServedProcess, bench_token, streaming_gateway
from .report import add_output_arguments, progress_of, section_main
from .settings import PROBE, PYTHON, BenchError

START_MARK = "<!-- warm-local-bench:start -->"
END_MARK = "<!-- warm-local-bench:end -->"
MAX_WARM_GAP_MS = 3.0  # the target: a warm per-call call within 3 ms of the long-lived path
SERVERS = ("lived", "warm", "cold")
LABELS = {
    "lived": "long-lived server",
    "warm": "per call, warm pool (`warm: {min: 1, max: 1}`)",
    "cold": "per call, no pool (a process started for the call)",
}
PATHS: tuple[tuple[str, list[str]], ...] = (("shipped", []), ("`--no-fast-path`", ["--no-fast-path"]))
READY_CAP = 60.0  # seconds a warm instance may take to be ready again


progress = progress_of("warm local bench")


def catalog() -> dict[str, object]:
    command = {"command": [PYTHON, str(PROBE), "probe"]}
    registry = {
        "lived": {"description": "probe, long-lived", "process": command, "longLived": True},
        "warm": {"description": "probe, warm", "process": command, "warm": {"min": 1, "max": 1}},
        "cold": {"description": "probe, per call", "process": command},
    }
    return {"version": 2, "name": "warm-local-bench", "registry": registry}


@dataclass
class Series:
    latencies: list[float] = field(default_factory=list)
    round_p50s: list[float] = field(default_factory=list)


def warm_ready(gateway: ServedProcess, token: str) -> float:
    scraped = scraped_metrics(gateway.url.rsplit("/", 1)[0], {"Authorization": f"Bearer {token}"})
    return sample(scraped, "kubemcp_warm_pool_ready", server="warm")


async def until_ready(gateway: ServedProcess, token: str) -> None:
    deadline = time.monotonic() + READY_CAP
    while warm_ready(gateway, token) < 1:
        if time.monotonic() > deadline:
            raise BenchError(f"{gateway.name}: no warm instance ready within {READY_CAP:.0f}s")
        await anyio.sleep(0.05)


async def timed(client: Client, server: str) -> float:
    started = time.perf_counter()
    await call_echo(client, f"{server}__echo")
    return (time.perf_counter() - started) * 1000


async def measure(args: argparse.Namespace, gateways: list[ServedProcess], token: str) -> dict[tuple[str, int], Series]:
    series = {(server, g): Series() for server in SERVERS for g in range(len(gateways))}
    deadline = time.monotonic() + args.cap
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(http_client(gateway.url, token)) for gateway in gateways]
        for g, client in enumerate(clients):  # every path taken once: listed, started, first calls made
            await until_ready(gateways[g], token)
            for server in SERVERS:
                await timed(client, server)
        for index in range(args.rounds):
            if time.monotonic() > deadline:
                progress(f"time cap reached after {index} rounds")
                break
            order = [(g, server) for g in range(len(gateways)) for server in SERVERS]
            order = [(g, server) for g, server in order if server != "cold" or index % args.cold_every == 0]
            shift = index % len(order)
            for g, server in order[shift:] + order[:shift]:
                # Every block after every warm pool is ready again and a pause: a used instance's replacement
                # starts after the answer, and the first request after a quiet spell is the slower one.
                for gateway in gateways:
                    await until_ready(gateway, token)
                await anyio.sleep(args.pause)
                samples = [await timed(clients[g], server) for _ in range(args.lived if server == "lived" else 1)]
                series[server, g].latencies += samples
                series[server, g].round_p50s.append(percentile(samples, 0.5))
    return series


def warm_served(gateway: ServedProcess) -> tuple[int, int]:
    """Of the audit records of calls to the warm server: how many were served warm, out of how many."""
    records = [json.loads(line) for line in gateway.log().splitlines() if line.startswith('{"time"')]
    mine = [record for record in records if record.get("server") == "warm"]
    return sum(1 for record in mine if record.get("warm") is True), len(mine)


async def run(args: argparse.Namespace) -> str:
    env_info = environment()
    with tempfile.TemporaryDirectory(prefix="kubemcp-warm-local-bench-") as tmp:
        folder = Path(tmp)
        path = folder / "catalog.yaml"
        path.write_text(yaml.safe_dump(catalog(), sort_keys=False))
        token, tokens = bench_token(folder)
        gateways: list[ServedProcess] = []
        try:
            for index, (label, extra) in enumerate(PATHS):
                gateway = streaming_gateway(label, folder, index, path, tokens, [*extra, "--idle-timeout", "3600"])
                gateways.append(gateway)
                await gateway.start()
            series = await measure(args, gateways, token)
            served = [warm_served(gateway) for gateway in gateways]
        finally:
            for gateway in gateways:
                gateway.stop()
    env_info["load_end"] = load_average()
    return markdown(env_info, args, series, served)


def markdown(
    env_info: dict[str, str],
    args: argparse.Namespace,
    series: dict[tuple[str, int], Series],
    served: list[tuple[int, int]],
) -> str:
    lines = [
        "## Warm per-call instances, embedded runtime (local processes)",
        "",
        "Written by `make bench` (`bench/warm_local_bench.py`, `--help` for its counts). "
        + " ".join((__doc__ or "").split("\n\n", 1)[1].split()),
        "",
        f"Run: {env_info.get('date', '?')}, {env_info.get('cpu', '?')} ({env_info.get('nproc', '?')} CPUs), "
        f"load average (1/5/15 min) {env_info.get('load_start', '?')} at start, "
        f"{env_info.get('load_end', '?')} at the end; kubemcp {env_info.get('git', '?')}; {args.rounds} rounds, "
        f"{args.pause:g} s pause after the warm instance is ready, {args.lived} long-lived calls per round, a cold "
        f"call every {args.cold_every} rounds.",
        "",
        "| gateway | server | calls | served warm | p50 | p90 | p99 | min |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for g, (path_label, _) in enumerate(PATHS):
        for server in SERVERS:
            one = series[server, g].latencies
            cells = " | ".join(f"{percentile(one, q):.2f} ms" for q in (0.5, 0.9, 0.99))
            share = f"{served[g][0]}/{served[g][1]} (warm-up included)" if server == "warm" else "-"
            low = f"{min(one):.2f} ms" if one else "n/a"
            lines.append(f"| {path_label} | {LABELS[server]} | {len(one)} | {share} | {cells} | {low} |")
    lines.append("")
    for g, (path_label, _) in enumerate(PATHS):
        warm, lived = series["warm", g], series["lived", g]
        gap = percentile(warm.latencies, 0.5) - percentile(lived.latencies, 0.5)
        rounds = [w - v for w, v in zip(warm.round_p50s, lived.round_p50s, strict=False)]
        per_round = f"{median(rounds):+.2f} ms" if rounds else "n/a"
        verdict = ("**PASS**" if gap <= MAX_WARM_GAP_MS else "**MISS**") if g == 0 else "(information)"
        lines.append(
            f"- {path_label}: warm p50 - long-lived p50 = **{gap:+.2f} ms** [median per round {per_round}]"
            + (f" (target ≤ +{MAX_WARM_GAP_MS:g} ms): {verdict}" if g == 0 else f" {verdict}")
        )
    shipped, before = (percentile(series["warm", g].latencies, 0.5) for g in range(len(PATHS)))
    lines.append(f"- A warm call, shipped against `--no-fast-path`: p50 {before:.2f} → {shipped:.2f} ms.")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--lived", type=int, default=5, help="long-lived calls per round and gateway")
    parser.add_argument("--cold-every", type=int, default=3, help="a cold per-call call every N rounds")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds of quiet after a warm instance is ready")
    parser.add_argument("--cap", type=float, default=600.0, help="time cap in seconds for the measured rounds")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if min(args.rounds, args.lived, args.cold_every) < 1 or args.pause < 0:
        parser.error("counts must be at least 1 and the pause not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return section_main(args, lambda: run(args), args.cap + 300, (START_MARK, END_MARK), progress)
