"""The report: the Markdown section with table, targets, findings and profile, and its place in the docs."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from .measure import Config, Measured, percentile
from .profiling import Profile, profile_groups
from .settings import (
    DOCS,
    FORWARDER_SHARE,
    MAX_ADDED_P50_MS,
    MAX_PER_CALL_RATIO,
    MIN_THROUGHPUT_RATIO,
    PER_CALL_BLOCK,
    PER_CALL_CONCURRENT_BLOCK,
    TEXT,
)

START_MARK = "<!-- gateway-bench:start -->"
END_MARK = "<!-- gateway-bench:end -->"
DOCS_HEADER = """# Benchmarks

Each section below is written by a script, which rewrites only the part between its own marker
comments; run the script again to refresh its numbers.
"""


def fmt(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def _minus(x: float, y: float) -> float:
    return x - y


def _ratio(x: float, y: float) -> float:
    return x / y if y else math.nan


def paired(xs: Sequence[float], ys: Sequence[float], combine: Callable[[float, float], float]) -> float:
    """The median over rounds of `combine(x, y)` for the two configurations' blocks of the same round."""
    return percentile([combine(x, y) for x, y in zip(xs, ys, strict=False)], 0.5)


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**MISS**"


@dataclass
class Report:
    env: dict[str, str]
    args: argparse.Namespace
    configs: dict[str, Config]
    profile: Profile | None
    notes: list[str]
    tool_count: int

    def m(self, key: str) -> Measured:
        return self.configs[key].measured

    def table(self) -> list[str]:
        workers = self.args.workers
        lines = [
            f"| Configuration | p50 ms | p99 ms | calls/s sequential | calls/s {workers} workers "
            "| client CPU ms/call | gateway or proxy CPU ms/call | backend CPU ms/call |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key in ("a", "b0", "b", "b_uv", "d", "e", "b_stdio", "spawn", "c"):
            if key not in self.configs:
                continue
            config = self.configs[key]
            m = config.measured
            lines.append(
                f"| {config.label} | {fmt(m.p50)} | {fmt(m.p99)} | {fmt(m.seq_rate, 1)} | {fmt(m.conc_rate, 1)} "
                f"| {fmt(m.cpu_ms_per_call('client'))} | {fmt(m.cpu_ms_per_call('intermediary'))} "
                f"| {fmt(m.cpu_ms_per_call('backend'))} |"
            )
        return lines

    def targets(self) -> list[str]:
        a, b, c, d, spawn = (self.m(key) for key in ("a", "b", "c", "d", "spawn"))
        added = b.p50 - a.p50
        conc = b.conc_rate / d.conc_rate
        seq = b.seq_rate / d.seq_rate
        per_call = c.p50 / spawn.p50
        workers = self.args.workers
        rounds = len(b.block_p50s)
        lines = [
            "PASS/MISS is judged on the table's numbers (all calls of a configuration pooled). In brackets: the "
            f"median over the {rounds} interleaved rounds of the same comparison made within each round, which "
            "is less sensitive to load from other work that changed during the run.",
            "",
            f"- (b) p50 - (a) p50 = **{added:+.2f} ms** [{paired(b.block_p50s, a.block_p50s, _minus):+.2f} ms] "
            f"(target ≤ +{MAX_ADDED_P50_MS:.1f} ms): {verdict(added <= MAX_ADDED_P50_MS)}",
            f"- (b) ÷ (d) calls/s with {workers} concurrent workers = **{conc:.2f}x** "
            f"[{paired(b.block_conc_rates, d.block_conc_rates, _ratio):.2f}x] "
            f"(target ≥ {MIN_THROUGHPUT_RATIO}x): {verdict(conc >= MIN_THROUGHPUT_RATIO)}",
        ]
        if "e" in self.configs:
            e = self.m("e")
            share = b.conc_rate / e.conc_rate
            lines.append(
                f"- (b) ÷ (e) bare forwarder, calls/s with {workers} concurrent workers = **{share:.0%}** "
                f"[{paired(b.block_conc_rates, e.block_conc_rates, _ratio):.0%}] (target ≥ {FORWARDER_SHARE:.0%}): "
                f"{verdict(share >= FORWARDER_SHARE)}; sequential {b.seq_rate / e.seq_rate:.0%}; the forwarder "
                f"itself is {e.conc_rate / d.conc_rate:.2f}x (d) with {workers} workers"
            )
        if "b0" in self.configs:
            b0 = self.m("b0")
            lines.append(
                f"- Before/after, same run: `--no-fast-path` (b0) p50 {b0.p50:.2f} ms → {b.p50:.2f} ms "
                f"[{paired(b.block_p50s, b0.block_p50s, _minus):+.2f} ms per round]; calls/s with {workers} workers "
                f"{b0.conc_rate:.0f} → {b.conc_rate:.0f} ({b.conc_rate / b0.conc_rate:.2f}x "
                f"[{paired(b.block_conc_rates, b0.block_conc_rates, _ratio):.2f}x]); gateway CPU per call "
                f"{b0.cpu_ms_per_call('intermediary'):.2f} → {b.cpu_ms_per_call('intermediary'):.2f} ms "
                f"(information)"
            )
        return [
            *lines,
            f"- (b) ÷ (d) calls/s, sequential = {seq:.2f}x "
            f"[{paired(b.block_seq_rates, d.block_seq_rates, _ratio):.2f}x] (information)",
            f"- (c) p50 ÷ spawn-and-initialize(+call) p50 = **{per_call:.3f}** ({per_call - 1:+.1%}) "
            f"[{paired(c.block_p50s, spawn.block_p50s, _ratio):.3f}] "
            f"(target within +{MAX_PER_CALL_RATIO - 1:.0%}): {verdict(per_call <= MAX_PER_CALL_RATIO)}",
            f"- (c) ÷ spawn baseline calls/s with {workers} concurrent workers = "
            f"{c.conc_rate / spawn.conc_rate:.3f} (information)",
        ]

    def findings(self) -> list[str]:
        """The facts each target's outcome rests on, computed from this run."""
        a, b, c, d, spawn = (self.m(key) for key in ("a", "b", "c", "d", "spawn"))
        nproc = int(self.env["nproc"])
        gateway_cpu = b.cpu_ms_per_call("intermediary")
        client_extra = b.cpu_ms_per_call("client") - a.cpu_ms_per_call("client")
        added = b.p50 - a.p50
        on_path = gateway_cpu + client_extra
        lines = [
            f"- (b) vs (a): per call, the gateway process uses {gateway_cpu:.2f} ms of CPU and the HTTP client "
            f"{client_extra:+.2f} ms more client CPU than the stdio client of (a); together {on_path:.2f} ms, "
            f"against {added:.2f} ms of added p50 latency"
            + (
                ": the added latency is CPU work on the request path."
                if on_path >= 0.75 * added
                else "; the rest is waiting (scheduling on a busy machine, wake-ups between processes)."
            )
        ]
        if "b_stdio" in self.configs:
            b_stdio = self.m("b_stdio")
            stdio_cpu = b_stdio.cpu_ms_per_call("intermediary")
            lines.append(
                f"- Without HTTP, the same gateway over stdio (b') adds {b_stdio.p50 - a.p50:+.2f} ms p50 "
                f"[{paired(b_stdio.block_p50s, a.block_p50s, _minus):+.2f} ms] and uses {stdio_cpu:.2f} ms gateway "
                f"CPU per call, against {gateway_cpu:.2f} ms over streamable HTTP: a budget of "
                f"+{MAX_ADDED_P50_MS:.1f} ms is exceeded by the gateway's request path alone, before HTTP."
                if stdio_cpu > MAX_ADDED_P50_MS
                else f"- Without HTTP, the same gateway over stdio (b') adds {b_stdio.p50 - a.p50:+.2f} ms p50 "
                f"and uses {stdio_cpu:.2f} ms gateway CPU per call, against {gateway_cpu:.2f} ms over HTTP."
            )
        if self.profile is not None:
            groups = ", ".join(f"{name} {share:.0%}" for name, share in profile_groups(self.profile))
            lines.append(f"- Where the gateway's CPU goes (profile below): {groups}.")
            listing = next((f for f in self.profile.gateway_functions if f[0].endswith(" build_listing")), None)
            if listing is not None:
                lines.append(
                    f"- The gateway rebuilds its whole tool listing {listing[2] / self.profile.calls:.0f} times per "
                    f"tool call (`build_listing`, {listing[1] / self.profile.total_seconds:.1%} of its profiled "
                    f"CPU here, with one server of {self.tool_count} tools; the cost grows with the number of "
                    "served tools)."
                )
        total_b, total_d = self._total_cpu(b), self._total_cpu(d)
        needed = total_d / MIN_THROUGHPUT_RATIO - (total_b - gateway_cpu)
        lines.append(
            f"- (b) vs (d): FastMCP's proxy uses {d.cpu_ms_per_call('intermediary'):.2f} ms CPU per call, the "
            f"gateway {gateway_cpu:.2f} ms. Client, intermediary and backend share {nproc} CPUs, so calls/s under "
            f"load is bounded by the CPU per call of the whole chain: (b) {total_b:.2f} ms, (d) {total_d:.2f} ms "
            f"(at most {1000 * nproc / total_b:.0f} and {1000 * nproc / total_d:.0f} calls/s on an idle machine). "
            + (
                f"For {MIN_THROUGHPUT_RATIO}x (d), the gateway would have to use at most {needed:.2f} ms per call."
                if needed > 0
                else f"{MIN_THROUGHPUT_RATIO}x (d) is out of reach whatever the gateway does: (b)'s client and "
                f"backend alone use {total_b - gateway_cpu:.2f} ms per call, more than (d)'s chain ÷ "
                f"{MIN_THROUGHPUT_RATIO} ({total_d / MIN_THROUGHPUT_RATIO:.2f} ms)."
            )
        )
        if spawn.phases:
            start, call, close = (percentile([phase[i] for phase in spawn.phases], 0.5) for i in range(3))
            lines.append(
                f"- (c) vs the spawn baseline: the baseline's p50 phases are start + handshake {start:.0f} ms, "
                f"call {call:.1f} ms, close (stdin closed, exit awaited) {close:.0f} ms; (c) is "
                f"{c.p50 - spawn.p50:+.0f} ms from it at p50. The started backend uses "
                f"{c.cpu_ms_per_call('backend'):.0f} ms CPU per call under the gateway and "
                f"{spawn.cpu_ms_per_call('backend'):.0f} ms in the baseline: Python start-up and imports dominate."
            )
        return lines

    @staticmethod
    def _total_cpu(m: Measured) -> float:
        return sum(m.cpu_ms_per_call(role) for role in ("client", "intermediary", "backend") if role in m.cpu)

    def profile_lines(self) -> list[str]:
        profile = self.profile
        if profile is None:
            return []
        per_call = profile.total_seconds / profile.calls * 1000
        lines = [
            "### Where the gateway's time goes, path (b)",
            "",
            f"cProfile (clock: process CPU time) of a separate long-lived gateway over streamable HTTP during "
            f"{profile.calls} sequential calls, start-up and warm-up excluded: {per_call:.2f} ms of profiled CPU "
            "per call, inflated by the profiler itself, so read the shares. By package (C functions are listed "
            "under the module that defines them):",
            "",
            "| Package | share | profiled ms/call |",
            "|---|---:|---:|",
        ]
        for name, seconds in profile.areas[:12]:
            lines.append(f"| {name} | {seconds / profile.total_seconds:.1%} | {seconds / profile.calls * 1000:.3f} |")
        lines += ["", "Top functions by own time:", "", "| Function | share | calls per tool call |", "|---|---:|---:|"]
        for location, seconds, ncalls in profile.functions[:15]:
            lines.append(f"| `{location}` | {seconds / profile.total_seconds:.1%} | {ncalls / profile.calls:.1f} |")
        lines += [
            "",
            "The gateway's own functions by cumulative time (including what they call; a coroutine is entered "
            "again at every resumption):",
            "",
            "| Function | cumulative share | entries per tool call |",
            "|---|---:|---:|",
        ]
        for location, seconds, ncalls in profile.gateway_functions[:10]:
            lines.append(f"| `{location}` | {seconds / profile.total_seconds:.1%} | {ncalls / profile.calls:.1f} |")
        return lines

    def markdown(self) -> str:
        opts = self.args
        command = shlex.join([".venv/bin/python", "bench/gateway_bench.py", *sys.argv[1:]])
        protocols = ", ".join(f"{key} {config.measured.protocol}" for key, config in self.configs.items())
        lines = [
            "## Gateway (local processes)",
            "",
            f"Measured {self.env['date']} by `{command}`" + (" (`make bench`)" if not sys.argv[1:] else "") + ".",
            "",
            f"- Machine: {self.env['nproc']} CPUs available (nproc; os.cpu_count {self.env['cpu_count']}), "
            f"{self.env['cpu']}, {self.env['kernel']}; load average (1/5/15 min) {self.env['load_start']} "
            f"at start, {self.env['load_end']} at end (other work was running).",
            f"- Python {self.env['python']}; {self.env['versions']}; gateway source at git {self.env['git']}.",
            f"- Backend: `tests/peers/probe_server.py` (mcp SDK `MCPServer`, stdio), tool `echo` with a "
            f"{len(TEXT)}-byte text; protocol negotiated: {protocols}.",
            f"- Latency: {opts.calls} sequential calls per fast configuration ((a), (b0), (b), (d), (e), ...) after "
            f"{opts.warmup} warm-up calls, {opts.per_call_calls} per per-call configuration ((c), spawn baseline); "
            f"p50/p99 over those calls; 'calls/s sequential' is calls ÷ wall time of the same loop.",
            f"- Throughput: 'calls/s {opts.workers} workers' runs {opts.concurrent_calls} calls "
            f"({opts.per_call_calls} for (c) and the spawn baseline) shared by {opts.workers} concurrent workers. "
            "Over HTTP each worker has its own client session; over stdio ((a), (b')) the workers share the one "
            "session a stdio server has. The spawn baseline's workers each start their own backend per call.",
            f"- Calls run in interleaved rounds, one block per configuration per round in rotating order, so "
            "load from other work hits all configurations alike: the fast configurations in "
            f"{opts.rounds} rounds (sequential, then concurrent), the per-call ones in rounds of "
            f"{PER_CALL_BLOCK} sequential and {PER_CALL_CONCURRENT_BLOCK} concurrent calls. Every loop has a fixed "
            "count and a "
            f"{opts.cap:.0f} s time cap. CPU columns: user+system CPU of each process during the sequential "
            "calls ÷ calls (client = this script; for (c) and the spawn baseline, backend = the reaped backend "
            "processes).",
            "- (d) is `fastmcp.server.create_proxy(client)` over an already connected `fastmcp.Client` "
            "(stdio to the same backend), so like (b) it keeps one backend session for all calls; it is served "
            'by `run_http_async(transport="http")` from a separate process, as the gateway is.',
            "- (b) is the gateway as shipped (tools/call answered by `gateway/fast_calls.py` in front of the SDK's "
            "transport), (b0) the same gateway with `--no-fast-path` (every request through the SDK's transport: "
            "the gateway before the fast path), both with a bearer token, authorization, audit records and "
            "metrics as by default. (e) is `bench/bare_forwarder.py`: uvicorn + httptools + uvloop, orjson, one "
            "stdio session with the backend, ids remapped, and no checks or features at all: the practical limit "
            "of an intermediary.",
            "",
            *self.table(),
            "",
            "### Targets (measured in this run, against baselines from this run)",
            "",
            *self.targets(),
            "",
            "### Findings",
            "",
            *self.findings(),
            *self.notes,
            "",
            *self.profile_lines(),
        ]
        capped = [f"- {config.label}: {note}" for config in self.configs.values() for note in config.measured.capped]
        if capped:
            lines += ["", "### Stopped by a time cap", "", *capped]
        return "\n".join(lines).rstrip() + "\n"


def write_docs(path: Path, section: str, start_mark: str = START_MARK, end_mark: str = END_MARK) -> None:
    block = f"{start_mark}\n{section.rstrip()}\n{end_mark}\n"
    if path.exists():
        text = path.read_text()
        start, end = text.find(start_mark), text.find(end_mark)
        if start != -1 and end > start:
            text = text[:start] + block + text[end + len(end_mark) :].lstrip("\n")
            if not text.endswith("\n"):
                text += "\n"
        else:
            text = text.rstrip() + "\n\n" + block
    else:
        text = DOCS_HEADER + "\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def progress_of(bench: str) -> Callable[[str], None]:
    """A progress line printer for one benchmark (stderr, so the section on stdout stays clean)."""

    def progress(message: str) -> None:
        print(f"{bench}: {message}", file=sys.stderr, flush=True)

    return progress


def section_main(
    args: argparse.Namespace,
    run: Callable[[], Awaitable[str]],
    cap: float,
    marks: tuple[str, str],
    progress: Callable[[str], None],
) -> int:
    """Run a benchmark that renders one section within `cap` seconds, print it, and (unless `--no-write`)
    put it between its marker comments in `args.output`."""

    async def bounded() -> str:
        with anyio.fail_after(cap):
            return await run()

    section = anyio.run(bounded)
    print(section)
    if not args.no_write:
        write_docs(args.output, section, *marks)
        progress(f"wrote {args.output}")
    return 0


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark that writes a section of docs/benchmarks.md takes."""
    parser.add_argument("--output", type=Path, default=DOCS, help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the results only")
