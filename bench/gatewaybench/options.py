"""Gateway options measured side by side: the event loop and the HTTP parser.

Three long-lived gateways in front of the same backend (tests/peers/probe_server.py, tool `echo`),
streamable HTTP on 127.0.0.1: asyncio + h11 (kubemcp's default), asyncio + httptools
(`--http-parser httptools`) and uvloop + httptools (`--loop uvloop` as well; both need the `fast`
extra). Sequential calls and calls from concurrent workers, in interleaved blocks so load from other
work falls on all three alike; every loop is bounded by a count and a time cap.
"""

from __future__ import annotations

import argparse
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

from .measure import Config, concurrent_block, http_client, interleaved, percentile, prepare, sequential_block
from .procs import ServedProcess, bench_token, own_cpu, proc_cpu
from .settings import KUBEMCP, PROBE, PYTHON

VARIANTS = (
    ("asyncio + h11", ["--loop", "asyncio", "--http-parser", "h11"]),
    ("asyncio + httptools", ["--loop", "asyncio", "--http-parser", "httptools"]),
    ("uvloop + httptools", ["--loop", "uvloop", "--http-parser", "httptools"]),
)


@dataclass
class OptionRow:
    label: str
    p50: float
    p99: float
    seq_rate: float
    conc_rate: float
    cpu_ms: float
    calls: int


async def measure_options(args: argparse.Namespace, work: Path) -> list[OptionRow]:
    folder = work / "options"
    folder.mkdir()
    catalog = folder / "catalog.yaml"
    entry = {"description": "benchmark backend", "process": {"command": [PYTHON, str(PROBE), "probe"]}}
    catalog.write_text(yaml.safe_dump({"version": 2, "name": "bench", "registry": {"probe": entry}}))
    token, tokens = bench_token(folder)
    env = {**os.environ, "KUBEMCP_HOME": str(folder / "home"), "XDG_CACHE_HOME": str(folder / "cache")}
    base = [str(KUBEMCP), "gateway", "run", "--transport", "streaming", "--catalog", str(catalog), "--no-watch"]
    base += ["--port", "0", "--host", "127.0.0.1", "--tokens-file", str(tokens), "--long-lived"]
    base += ["--idle-timeout", "3600"]
    gateways = [
        ServedProcess(label, [*base, *options], folder / f"gateway-{index}.log", env)
        for index, (label, options) in enumerate(VARIANTS)
    ]
    try:
        for gateway in gateways:
            await gateway.start()

        def cpu_of(gateway: ServedProcess) -> dict[str, float]:
            return {"client": own_cpu(), "intermediary": proc_cpu(gateway.pid)[0]}

        configs = [
            Config(str(index), gateway.name, partial(http_client, gateway.url, token), partial(cpu_of, gateway))
            for index, gateway in enumerate(gateways)
        ]
        async with AsyncExitStack() as stack:
            for config in configs:
                await prepare(config, stack, args.workers, args.warmup)
            await interleaved(configs, args.option_calls, args.rounds, partial(sequential_block, cap=args.cap))
            await interleaved(configs, args.option_calls, args.rounds, partial(concurrent_block, cap=args.cap))
    finally:
        for gateway in gateways:
            gateway.stop()
    return [
        OptionRow(
            c.label,
            percentile(c.measured.latencies, 0.5),
            percentile(c.measured.latencies, 0.99),
            c.measured.seq_rate,
            c.measured.conc_rate,
            c.measured.cpu_ms_per_call("intermediary"),
            c.measured.seq_calls,
        )
        for c in configs
    ]


def options_markdown(args: argparse.Namespace, rows: list[OptionRow]) -> list[str]:
    lines = [
        "",
        "### Event loop and HTTP parser (tools/call, long-lived backend)",
        "",
        f"{args.option_calls} sequential and {args.option_calls} concurrent ({args.workers} workers) `echo` calls "
        f"per gateway in {args.rounds} interleaved rounds, through streamable HTTP, same run as above.",
        "",
        f"| gateway | p50 | p99 | calls/s sequential | calls/s, {args.workers} workers | gateway CPU per call |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {row.p50:.2f} ms | {row.p99:.2f} ms | {row.seq_rate:.0f} | {row.conc_rate:.0f} | "
            f"{row.cpu_ms:.2f} ms |"
        )
    return lines
