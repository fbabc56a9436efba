"""tools/call latency and throughput of kubemcp against its baselines, all local processes on loopback.

Configurations, each in front of the same backend (tests/peers/probe_server.py, tool `echo`):

  (a)  the mcp SDK client straight to the backend over stdio, one long-lived session;
  (b)  through `kubemcp gateway run --transport streaming --long-lived` (streamable HTTP on 127.0.0.1);
  (b') the same gateway over stdio instead of HTTP (supplementary: separates transport cost from gateway cost);
  (c)  through `kubemcp gateway run --transport streaming` with the default per-call lifecycle;
  (d)  FastMCP's proxy, `fastmcp.server.create_proxy(<connected client>)`, over streamable HTTP on 127.0.0.1;
  spawn baseline: start the backend, complete the MCP handshake, make one call, close (what (c) does per call).

Every loop has a fixed number of calls and a time cap. The fast paths ((a), (b), (b'), (d)) and the
per-call paths ((c), spawn baseline) are measured in interleaved blocks, so load from other work on
the machine falls on every configuration alike. Results go to stdout and to docs/benchmarks.md, where
only the part between the gateway-bench marker comments is rewritten.

Run: `make bench` (= `.venv/bin/python bench/gateway_bench.py`); `--quick` is a short smoke run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import anyio
import yaml
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from .environment import environment, load_average
from .measure import Config, call_echo, concurrent_block, http_client, interleaved, prepare, sequential_block
from .procs import ServedProcess, bench_token, children_of, kill_leftovers, own_cpu, proc_cpu, reaped_children_cpu
from .profiling import Profile, read_profile
from .report import Report, add_output_arguments, write_docs
from .settings import BENCH, KUBEMCP, PER_CALL_BLOCK, PER_CALL_CONCURRENT_BLOCK, PROBE, PYTHON, BenchError


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def stdio_params(command: list[str], env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=command[0], args=command[1:], env=env)


async def profile_gateway(
    args: argparse.Namespace, work: Path, catalog: Path, env: dict[str, str], token: str
) -> Profile:
    stats_file = work / "gateway.prof"
    gateway = ServedProcess(
        "profiled gateway",
        [
            PYTHON,
            str(BENCH / "profiled_gateway.py"),
            str(stats_file),
            *gateway_args(catalog, "streaming", long_lived=True, tokens=work / "tokens.env"),
        ],
        work / "profiled-gateway.log",
        env,
    )
    try:
        await gateway.start()
        async with http_client(gateway.url, token, mode=args.mode) as client:
            for _ in range(args.warmup):
                await call_echo(client)
            os.kill(gateway.pid, signal.SIGUSR1)
            await anyio.sleep(0.2)
            deadline = time.monotonic() + args.cap
            done = 0
            for _ in range(args.profile_calls):
                if time.monotonic() > deadline:
                    break
                await call_echo(client)
                done += 1
            os.kill(gateway.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 20
        while not stats_file.exists() and time.monotonic() < deadline:
            await anyio.sleep(0.1)
        await anyio.sleep(0.5)
        if not stats_file.exists():
            raise BenchError("the profiled gateway wrote no stats")
        if args.keep_profile is not None:
            args.keep_profile.write_bytes(stats_file.read_bytes())
        return read_profile(stats_file, done)
    finally:
        gateway.stop()


UVLOOP = ["--loop", "uvloop", "--http-parser", "httptools"]


def served_config(
    key: str, label: str, server: ServedProcess, token: str, args: argparse.Namespace, pids: dict[str, int | None]
) -> Config:
    """A configuration served over streamable HTTP by a process whose backend child is `pids[key]`."""

    def cpu() -> dict[str, float]:
        return {"client": own_cpu(), "intermediary": proc_cpu(server.pid)[0], "backend": proc_cpu(pids[key])[0]}

    return Config(key, label, partial(http_client, server.url, token, mode=args.mode), cpu)


def gateway_args(catalog: Path, transport: str, *, long_lived: bool, tokens: Path | None = None) -> list[str]:
    args = ["gateway", "run", "--transport", transport, "--catalog", str(catalog), "--no-watch"]
    if transport != "stdio":
        args += ["--port", "0", "--host", "127.0.0.1"]
    if tokens is not None:  # an HTTP gateway requires a bearer token, as it does by default
        args += ["--tokens-file", str(tokens)]
    if long_lived:
        args += ["--long-lived", "--idle-timeout", "3600"]
    return args


async def run(args: argparse.Namespace) -> Report:
    env_info = environment()
    for key, value in env_info.items():
        progress(f"{key}: {value}")
    backend_command = [PYTHON, str(PROBE), "probe"]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kubemcp-bench-") as tmp:
        work = Path(tmp)
        catalog = work / "catalog.yaml"
        catalog.write_text(
            yaml.safe_dump(
                {
                    "version": 2,
                    "name": "bench",
                    "registry": {
                        "probe": {"description": "benchmark backend", "process": {"command": backend_command}}
                    },
                },
                sort_keys=False,
            )
        )
        token, tokens = bench_token(work)
        # The gateways read nothing from the user's ~/.kubemcp and write their discovery cache here.
        env = {**os.environ, "KUBEMCP_HOME": str(work / "home"), "XDG_CACHE_HOME": str(work / "cache")}
        passed = ("PATH", "HOME", "LANG", "KUBEMCP_HOME", "XDG_CACHE_HOME")
        stdio_env: dict[str, str] = {key: env[key] for key in passed if key in env}

        long_lived = ServedProcess(
            "gateway (long-lived)",
            [str(KUBEMCP), *gateway_args(catalog, "streaming", long_lived=True, tokens=tokens)],
            work / "gateway-long-lived.log",
            env,
        )
        per_call = ServedProcess(
            "gateway (per call)",
            [str(KUBEMCP), *gateway_args(catalog, "streaming", long_lived=False, tokens=tokens)],
            work / "gateway-per-call.log",
            env,
        )
        proxy = ServedProcess(
            "fastmcp proxy",
            [PYTHON, str(BENCH / "fastmcp_proxy.py"), *backend_command],
            work / "fastmcp-proxy.log",
            env,
        )
        long_lived_args = [str(KUBEMCP), *gateway_args(catalog, "streaming", long_lived=True, tokens=tokens)]
        before = ServedProcess(
            "gateway (long-lived, --no-fast-path)", [*long_lived_args, "--no-fast-path"], work / "before.log", env
        )
        uv = ServedProcess(
            "gateway (long-lived, uvloop + httptools)", [*long_lived_args, *UVLOOP], work / "uv.log", env
        )
        forwarder = ServedProcess(
            "bare forwarder", [PYTHON, str(BENCH / "bare_forwarder.py"), *backend_command], work / "bare.log", env
        )
        servers = [long_lived, per_call, proxy, before, uv, forwarder]
        direct_pids: set[int] = set()
        try:
            for server in servers:
                await server.start()
                progress(f"{server.name} (pid {server.pid}) serving on {server.url}")

            pids: dict[str, int | None] = {}

            def backend_of(server: ServedProcess) -> int | None:
                found = server.children()
                return found[0] if found else None

            def direct_backend() -> int | None:
                served = {server.pid for server in servers}
                found = [pid for pid in children_of(os.getpid(), str(PROBE)) if pid not in served]
                direct_pids.update(found)
                return found[0] if found else None

            def stdio_gateway() -> int | None:
                found = children_of(os.getpid(), "--transport stdio")
                direct_pids.update(found)
                return found[0] if found else None

            fast = [
                Config(
                    "a",
                    "(a) SDK client → backend, stdio",
                    partial(Client, stdio_params(backend_command), mode=args.mode),
                    lambda: {"client": own_cpu(), "backend": proc_cpu(pids["a"])[0]},
                    shared_session=True,
                ),
                Config(
                    "b",
                    "(b) kubemcp, long-lived backend, streamable HTTP",
                    partial(http_client, long_lived.url, token, mode=args.mode),
                    lambda: {
                        "client": own_cpu(),
                        "intermediary": proc_cpu(long_lived.pid)[0],
                        "backend": proc_cpu(pids["b"])[0],
                    },
                ),
                served_config(
                    "b0", "(b0) kubemcp, long-lived backend, `--no-fast-path` (before)", before, token, args, pids
                ),
                served_config("b_uv", "(b) with `--loop uvloop --http-parser httptools`", uv, token, args, pids),
                served_config(
                    "e", "(e) bare forwarder (uvicorn + httptools + uvloop, orjson)", forwarder, token, args, pids
                ),
                Config(
                    "d",
                    "(d) FastMCP proxy, streamable HTTP",
                    partial(Client, proxy.url, mode=args.mode),
                    lambda: {
                        "client": own_cpu(),
                        "intermediary": proc_cpu(proxy.pid)[0],
                        "backend": proc_cpu(pids["d"])[0],
                    },
                ),
            ]
            if not args.skip_stdio_gateway:
                fast.append(
                    Config(
                        "b_stdio",
                        "(b') kubemcp, long-lived backend, stdio (supplementary)",
                        partial(
                            Client,
                            stdio_params([str(KUBEMCP), *gateway_args(catalog, "stdio", long_lived=True)], stdio_env),
                            mode=args.mode,
                        ),
                        lambda: {
                            "client": own_cpu(),
                            "intermediary": proc_cpu(pids["b_stdio_gateway"])[0],
                            "backend": proc_cpu(pids["b_stdio"])[0],
                        },
                        shared_session=True,
                    )
                )
            slow = [
                Config(
                    "spawn",
                    "spawn baseline: start backend + handshake + 1 call + close",
                    partial(Client, stdio_params(backend_command), mode=args.mode),
                    lambda: {"client": own_cpu(), "backend": reaped_children_cpu()},
                    spawn_per_call=True,
                ),
                Config(
                    "c",
                    "(c) kubemcp, per-call backend, streamable HTTP",
                    partial(http_client, per_call.url, token, mode=args.mode),
                    lambda: {
                        "client": own_cpu(),
                        "intermediary": proc_cpu(per_call.pid)[0],
                        "backend": proc_cpu(per_call.pid)[1],
                    },
                ),
            ]

            async with AsyncExitStack() as stack:
                for config in fast:
                    progress(f"warming up {config.label}")
                    await prepare(config, stack, args.workers, args.warmup)
                pids["a"] = direct_backend()
                pids["b"] = backend_of(long_lived)
                pids["d"] = backend_of(proxy)
                for key, server in (("b0", before), ("b_uv", uv), ("e", forwarder)):
                    pids[key] = backend_of(server)
                if not args.skip_stdio_gateway:
                    pids["b_stdio_gateway"] = stdio_gateway()
                    gateway_pid = pids["b_stdio_gateway"]
                    found = children_of(gateway_pid, str(PROBE)) if gateway_pid is not None else []
                    direct_pids.update(found)
                    pids["b_stdio"] = found[0] if found else None
                direct = fast[0].session
                tool_count = len((await direct.list_tools()).tools) if direct is not None else 0
                progress(f"processes: {pids}")
                if any(pid is None for pid in pids.values()):
                    raise BenchError(f"a backend process was not found: {pids}")
                progress(f"sequential calls: {args.calls} per configuration")
                await interleaved(fast, args.calls, args.rounds, partial(sequential_block, cap=args.cap))
                progress(f"concurrent calls: {args.concurrent_calls} per configuration, {args.workers} workers")
                await interleaved(fast, args.concurrent_calls, args.rounds, partial(concurrent_block, cap=args.cap))
            kill_leftovers(sorted(direct_pids), "stdio sessions")

            async with AsyncExitStack() as stack:
                for config in slow:
                    progress(f"warming up {config.label}")
                    await prepare(config, stack, args.workers, args.per_call_warmup)
                progress(f"per-call paths: {args.per_call_calls} sequential calls per configuration")
                await interleaved(
                    slow,
                    args.per_call_calls,
                    args.per_call_calls // PER_CALL_BLOCK,
                    partial(sequential_block, cap=args.cap),
                )
                progress(f"per-call paths: {args.per_call_calls} concurrent calls, {args.workers} workers")
                await interleaved(
                    slow,
                    args.per_call_calls,
                    args.per_call_calls // PER_CALL_CONCURRENT_BLOCK,
                    partial(concurrent_block, cap=args.cap),
                )

            if "reusing existing session" in proxy.log():
                notes.append(
                    "- FastMCP logged that its proxy reuses the connected client's session for all requests, "
                    "as intended for (d)."
                )
        finally:
            for server in servers:
                server.stop()

        profile = None
        if args.profile_calls > 0:
            progress(f"profiling the long-lived gateway over {args.profile_calls} calls")
            profile = await profile_gateway(args, work, catalog, env, token)

    env_info["load_end"] = load_average()
    configs = {config.key: config for config in [*fast, *slow]}
    return Report(env_info, args, configs, profile, notes, tool_count)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls per fast configuration")
    parser.add_argument("--concurrent-calls", type=int, default=1000, help="concurrent calls per fast configuration")
    parser.add_argument("--workers", type=int, default=4, help="concurrent workers")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up calls per fast session")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved blocks per fast configuration")
    parser.add_argument("--per-call-calls", type=int, default=40, help="calls per per-call configuration")
    parser.add_argument("--per-call-warmup", type=int, default=3)
    parser.add_argument("--profile-calls", type=int, default=500, help="calls profiled in the gateway (0: none)")
    parser.add_argument("--cap", type=float, default=180.0, help="time cap in seconds for each measurement loop")
    parser.add_argument("--keep-profile", type=Path, help="also save the gateway's pstats file here")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="time cap for the whole run")
    parser.add_argument("--mode", choices=["auto", "legacy"], default="auto", help="client protocol negotiation")
    parser.add_argument("--skip-stdio-gateway", action="store_true", help="leave out the supplementary (b')")
    add_output_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="a short smoke run; implies --no-write")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls = args.concurrent_calls = 100
        args.warmup, args.rounds, args.per_call_calls, args.per_call_warmup = 10, 2, 8, 1
        args.profile_calls = 50
        args.no_write = True
    if min(args.calls, args.concurrent_calls, args.workers, args.rounds, args.per_call_calls) < 1:
        parser.error("counts must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    async def bounded() -> Report:
        with anyio.fail_after(args.max_seconds):
            return await run(args)

    report = anyio.run(bounded)
    section = report.markdown()
    print(section)
    if not args.no_write:
        write_docs(args.output, section)
        progress(f"wrote {args.output}")
    return 0
