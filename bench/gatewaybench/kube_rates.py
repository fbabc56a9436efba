"""Parts of the Kubernetes bench (bench/kube_bench.py): sustained call rates against a demand-sized warm
pool, the gateway's audit records and spans read per call, and the kubelet's own timings of Pod starts.

Every figure is read from a real part: the client's clock, the gateway's audit file (`--audit-file`:
whether a warm instance served each call, the start phases of a call that started its own Pod), its
OTLP spans (received on loopback by tests/otlp_collector.py) and the kubelet's Prometheus histograms
(through the API server's node proxy), as differences between snapshots taken around each part.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from cluster import harness  # noqa: E402
from otlp_collector import ReceivedSpan  # noqa: E402
from support import GatewayProcess  # noqa: E402

from .measure import Samples, sample, scraped_metrics  # noqa: E402

RATES = (0.5, 1.0, 2.0, 4.0)
CALL_CAP_SECONDS = 120.0
# The kubelet's histograms that time a Pod's start on the node (label `operation_type` for the runtime's).
KUBELET_OPERATIONS = ("run_podsandbox", "create_container", "start_container", "stop_podsandbox", "remove_podsandbox")
KUBELET_HISTOGRAMS = ("kubelet_pod_start_sli_duration_seconds", "kubelet_pod_start_duration_seconds")

START_SPANS = ("kubemcp.instance.start", "kubemcp.handshake")
Snapshot = dict[str, tuple[float, float]]  # name -> (sum of seconds, count)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


# -- the kubelet's timings ---------------------------------------------------------------------


def kubelet_snapshot(cluster: harness.Cluster) -> Snapshot:
    """Sum and count of the kubelet's Pod start histograms, per operation (one node)."""
    node = cluster.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout.strip()
    text = cluster.kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics").stdout
    found: Snapshot = {}
    for family in text_string_to_metric_families(text):
        for point in family.samples:
            if point.name.startswith("kubelet_runtime_operations_duration_seconds"):
                key = point.labels.get("operation_type", "")
                if key not in KUBELET_OPERATIONS:
                    continue
            elif any(point.name.startswith(name) for name in KUBELET_HISTOGRAMS):
                key = family.name
            else:
                continue
            total, count = found.get(key, (0.0, 0.0))
            if point.name.endswith("_sum"):
                found[key] = (total + point.value, count)
            elif point.name.endswith("_count"):
                found[key] = (total, count + point.value)
    return found


def kubelet_means(before: Snapshot, after: Snapshot) -> dict[str, tuple[float, int]]:
    """Per operation: mean milliseconds and how many, between two snapshots."""
    means: dict[str, tuple[float, int]] = {}
    for key, (total, count) in after.items():
        old_total, old_count = before.get(key, (0.0, 0.0))
        if count > old_count:
            means[key] = ((total - old_total) / (count - old_count) * 1000, int(count - old_count))
    return means


# -- the gateway's records ---------------------------------------------------------------------


def audit_records(path: Path, server: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    return [record for record in records if record.get("server") == server]


def gateway_samples(gateway: GatewayProcess) -> Samples:
    return scraped_metrics(gateway.base, gateway.headers)


def phase_medians(records: list[dict[str, Any]]) -> dict[str, float]:
    """Median milliseconds from a call's start to each start phase, and to its answer (`answered`)."""
    phases: dict[str, list[float]] = {}
    for record in records:
        for phase, ms in (record.get("phases_ms") or {}).items():
            phases.setdefault(phase, []).append(ms)
        if record.get("phases_ms"):
            phases.setdefault("answered", []).append(record["duration_ms"])
    return {phase: median(values) for phase, values in phases.items()}


def span_phases(spans: list[ReceivedSpan], server: str, since_ns: int, until_ns: int) -> dict[str, float]:
    """Median milliseconds to each start phase of the instances started for `server` in a time span
    (warm instances: started in the background, so no call's audit record has them)."""
    phases: dict[str, list[float]] = {}
    for span in spans:
        # `initialized` is an event of the handshake's span, the others of the start's.
        if span.name not in START_SPANS or span.attributes.get("kubemcp.server") != server:
            continue
        if not since_ns <= span.start_ns < until_ns:
            continue
        for name, attributes in zip(span.events, span.event_attributes, strict=True):
            phases.setdefault(name, []).append(float(attributes.get("kubemcp.elapsed_ms", 0.0)))
    return {phase: median(values) for phase, values in phases.items()}


def span_medians(spans: list[ReceivedSpan], server: str, since_ns: int, until_ns: int) -> dict[str, float]:
    """Median milliseconds of a server's call spans in a time span: the gateway's whole handling of a
    tools/call (`gateway`) and, within it, the request to the instance and its answer (`backend`)."""
    gateway = [
        s.milliseconds
        for s in spans
        if s.name.startswith("tools/call ") and s.attributes.get("kubemcp.server") == server
        and since_ns <= s.start_ns < until_ns
    ]  # fmt: skip
    backend = [
        s.milliseconds
        for s in spans
        if s.name == "kubemcp.backend.call" and s.attributes.get("kubemcp.server") == server
        and since_ns <= s.start_ns < until_ns
    ]  # fmt: skip
    return {"gateway": median(gateway), "backend": median(backend), "spans": float(len(gateway))}


# -- sustained rates -----------------------------------------------------------------------------


@dataclass
class RateRun:
    rate: float
    seconds: float
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    warm: int = 0
    audited: int = 0
    pool_size: float = 0.0
    starts: float = 0.0  # instances the gateway started for the server during the run
    kubelet: dict[str, tuple[float, int]] = field(default_factory=dict)
    window_ns: tuple[int, int] = (0, 0)
    load: str = ""
    errors: Counter[str] = field(default_factory=Counter)  # what the client was told, per failed call
    failed_at: Counter[str] = field(default_factory=Counter)  # the last start phase of failed audited calls


async def sustain(
    gateway: GatewayProcess, server: str, rate: float, seconds: float
) -> tuple[list[float], Counter[str]]:
    """Calls at a fixed rate (open loop: each at its time, whether or not earlier ones answered); the
    latencies of the answered ones and what the failed ones were told."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def one(index: int) -> None:
        started = time.perf_counter()
        try:
            with anyio.fail_after(CALL_CAP_SECONDS):
                result = await client.call_tool(f"{server}__echo", {"text": f"rate {rate} call {index}"})
        except TimeoutError:
            errors[f"no answer within the bench's {CALL_CAP_SECONDS:.0f} s"] += 1
            return
        except Exception as exc:
            errors[_short(f"{type(exc).__name__}: {exc}")] += 1
            return
        if result.is_error:
            errors[_short(" ".join(getattr(part, "text", "") for part in result.content))] += 1
            return
        latencies.append((time.perf_counter() - started) * 1000)

    async with gateway.client() as client:
        begin = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for index in range(round(rate * seconds)):
                await anyio.sleep_until(begin + index / rate)
                tg.start_soon(one, index)
    return latencies, errors


def _short(text: str) -> str:
    """An error's text without the Pod names that differ per call, so alike errors count together."""
    return re.sub(r"\b[\w.-]+-[a-z0-9]{5}\b", "<pod>", " ".join(text.split()))[:160]


def sweep(
    cluster: harness.Cluster,
    gateway: GatewayProcess,
    server: str,
    audit: Path,
    seconds: float,
    rates: tuple[float, ...] = RATES,
) -> list[RateRun]:
    runs: list[RateRun] = []
    for rate in rates:
        run = RateRun(rate, seconds)
        before_records = len(audit_records(audit, server))
        before_kubelet = kubelet_snapshot(cluster)
        before_starts = sample(gateway_samples(gateway), "kubemcp_instance_starts_total", server=server, outcome="ok")
        begin = time.time_ns()
        run.latencies, run.errors = anyio.run(sustain, gateway, server, rate, seconds)
        run.failures = sum(run.errors.values())
        run.window_ns = (begin, time.time_ns())
        run.load = load()
        scraped = gateway_samples(gateway)
        run.pool_size = sample(scraped, "kubemcp_warm_pool_size", server=server)
        run.starts = sample(scraped, "kubemcp_instance_starts_total", server=server, outcome="ok") - before_starts
        run.kubelet = kubelet_means(before_kubelet, kubelet_snapshot(cluster))
        records = audit_records(audit, server)[before_records:]
        run.audited = len(records)
        run.warm = sum(1 for record in records if record.get("warm") is True)
        for record in records:
            if record.get("outcome") != "ok":
                reached = list(record.get("phases_ms") or {})
                run.failed_at[f"{record.get('outcome')} after {reached[-1] if reached else 'no start phase'}"] += 1
        runs.append(run)
        print(
            f"rate {rate}/s: {len(run.latencies)} ok, {run.failures} failed, p50 {median(run.latencies):.1f} ms,"
            f" warm {run.warm}/{run.audited}, load {run.load}; errors {dict(run.errors)}; audit {dict(run.failed_at)}",
            file=sys.stderr,
        )
    return runs


def sweep_table(runs: list[RateRun], spans: list[ReceivedSpan], server: str) -> list[str]:
    lines = [
        "| calls/s | calls | failed | p50 ms | p99 ms | served warm | pool size at the end | Pods started/s |"
        " Pod start: created → scheduled → sandbox → running → attached → initialized (median ms) |"
        " kubelet: sandbox / create / start container (mean ms) | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for run in runs:
        phases = span_phases(spans, server, *run.window_ns)
        chain = " → ".join(
            f"{phases[phase]:.0f}"
            for phase in ("created", "scheduled", "sandbox", "running", "attached", "initialized")
            if phase in phases
        )
        kubelet = " / ".join(
            f"{run.kubelet[op][0]:.0f}" if op in run.kubelet else "-"
            for op in ("run_podsandbox", "create_container", "start_container")
        )
        share = f"{100 * run.warm / run.audited:.0f}% ({run.warm}/{run.audited})" if run.audited else "-"
        p50 = f"{median(run.latencies):.1f}" if run.latencies else "-"
        p99 = f"{pct(run.latencies, 99):.1f}" if run.latencies else "-"
        lines.append(
            f"| {run.rate:g} | {len(run.latencies) + run.failures} | {run.failures} | {p50} | {p99} | {share} |"
            f" {run.pool_size:.0f} | {run.starts / run.seconds:.2f} | {chain or '-'} | {kubelet} | {run.load} |"
        )
    return lines


def failures_lines(runs: list[RateRun]) -> list[str]:
    """Per rate with failures: what the client was told, and the last start phase the audit records show."""
    lines = []
    for run in runs:
        if not run.failures and not run.failed_at:
            continue
        told = "; ".join(f"{count} x {text}" for text, count in run.errors.most_common())
        audited = ", ".join(f"{count} {text}" for text, count in run.failed_at.most_common())
        lines.append(f"- {run.rate:g} calls/s, failed calls: {told or '-'} (audit records: {audited or '-'})")
    return lines
