"""Per-call latency on the real test node: a cold Pod, a Job, the warm pool, and the long-lived path;
the phases of a cold call; sustained call rates against a demand-sized warm pool.

    .venv/bin/python bench/kube_bench.py [--calls N] [--rate-seconds S]      (make bench-kube)

The gateway runs on this machine with `--runtime kubernetes` against the test cluster
(tests/cluster, started if needed) and is driven by the mcp SDK client over streamable HTTP on
loopback. Every configuration serves the same probe image and calls its `echo` tool. Warm-pool
Pods are made the way the operator makes them (`server_pod(spec, "pool")`); the pool is refilled
between calls and the refill is not timed. Then a server with `warm: {min: 1, max: 8}` is called
at 0.5, 1, 2 and 4 calls/s (bench/kube_rates.py). The gateway writes an audit file and sends its
spans to a collector on loopback; the kubelet's histograms are read through the API server. Results
go to docs/benchmarks.md between the `kube-bench` markers.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.append(str(REPO))  # after site-packages: only `bench.gatewaybench` is looked up there

import product_images  # noqa: E402
from cluster import harness  # noqa: E402
from cluster.images import canonical  # noqa: E402
from kubemcp.kube.pods import SERVER_SERVICE_ACCOUNT, server_pod  # noqa: E402
from kubemcp.model.entry import CatalogEntry, CatalogSource  # noqa: E402
from kubemcp.model.spec import build_spec  # noqa: E402
from otlp_collector import OtlpCollector, ReceivedSpan  # noqa: E402
from support import GatewayProcess, write_catalog  # noqa: E402

from bench.gatewaybench import kube_rates as kr  # noqa: E402
from bench.gatewaybench.measure import sample  # noqa: E402

DOCS = REPO / "docs" / "benchmarks.md"
START, END = "<!-- kube-bench:start -->", "<!-- kube-bench:end -->"
LIVED, WARM, WARM_CPU, COLD, JOB = (
    "long-lived Pod (attach kept open)",
    "warm pool (pre-started Pod claimed)",
    "warm pool, server requests 500m CPU",
    "cold Pod per call",
    "Job per call",
)
CONFIGS: dict[str, dict[str, Any]] = {
    LIVED: {"lifecycle": "longLived"},
    WARM: {"warmPool": 1},
    WARM_CPU: {"warmPool": 1},
    COLD: {},
    JOB: {"perCallKind": "Job"},
}
# Entry fields beside `kubernetes:` (the default request is 10m CPU, kube/pods.py).
TOP_LEVEL: dict[str, dict[str, Any]] = {WARM_CPU: {"resources": {"requests": {"cpu": "500m", "memory": "32Mi"}}}}
INTERLEAVED = (LIVED, WARM, WARM_CPU)  # measured in the same rounds
LIVED_PER_ROUND = 5
REFILL_PAUSE = 1.0
NAMES = {label: f"s{index}" for index, label in enumerate(CONFIGS)}
RATED = "rated"  # the server called at sustained rates
RATED_WARM = {"min": 1, "max": 8}


def entry(
    image: str, warm: dict[str, int] | None = None, top: dict[str, Any] | None = None, **kubernetes: Any
) -> dict[str, Any]:
    return {
        "image": image,
        "command": ["probe"],
        "kubernetes": {"imagePullPolicy": "Never", "secretName": "bench", **kubernetes},
        "tools": [{"name": "echo", "description": "echo"}],
        **({"warm": warm} if warm else {}),
        **(top or {}),
    }


def pods(cluster: harness.Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


def refill(
    cluster: harness.Cluster,
    gateway: GatewayProcess,
    namespace: str,
    server: str,
    manifest: dict[str, Any],
    cap: float = 120,
) -> None:
    """Keep one operator-style pool Pod; wait until the gateway has a warm instance of `server` ready
    (started, attached, initialized, primed) and the pool Pod runs, then pause, so no start competes
    with the timed call."""
    selector = f"kubemcp.dev/server={server},kubemcp.dev/role=pool"
    if not pods(cluster, namespace, selector):
        cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        ready = sample(kr.gateway_samples(gateway), "kubemcp_warm_pool_ready", server=server) >= 1
        if ready and all(p["status"].get("phase") == "Running" for p in pods(cluster, namespace, selector)):
            time.sleep(REFILL_PAUSE)
            return
        time.sleep(0.2)
    raise RuntimeError(f"warm pool of {server} did not refill within {cap}s")


pct = kr.pct


async def measure(gateway: GatewayProcess, server: str, calls: int, before_each: Any, cap: float) -> list[float]:
    samples: list[float] = []
    deadline = time.monotonic() + cap
    async with gateway.client() as client:
        for index in range(calls):
            if time.monotonic() > deadline:
                break
            await anyio.to_thread.run_sync(before_each)
            started = time.perf_counter()
            result = await client.call_tool(f"{server}__echo", {"text": f"call {index}"})
            samples.append((time.perf_counter() - started) * 1000)
            if result.is_error:
                raise RuntimeError(f"{server}: {result.content}")
    return samples


async def interleaved(
    gateway: GatewayProcess, rounds: int, before: dict[str, Any], cap: float
) -> dict[str, list[float]]:
    """The long-lived and warm configurations in the same rounds, in a rotating order: each round makes
    `LIVED_PER_ROUND` long-lived calls and one call of each warm configuration (after its refill), so
    load from other work hits all of them alike."""
    samples: dict[str, list[float]] = {label: [] for label in INTERLEAVED}
    deadline = time.monotonic() + cap
    async with gateway.client() as client:
        for index in range(rounds):
            if time.monotonic() > deadline:
                break
            for label in INTERLEAVED[index % 3 :] + INTERLEAVED[: index % 3]:
                # Every configuration after all refills: a warm call's replacement starts after its answer,
                # and would otherwise compete with the calls that follow it.
                for refill_one in before.values():
                    await anyio.to_thread.run_sync(refill_one)
                for call in range(LIVED_PER_ROUND if label == LIVED else 1):
                    started = time.perf_counter()
                    result = await client.call_tool(f"{NAMES[label]}__echo", {"text": f"round {index} {call}"})
                    samples[label].append((time.perf_counter() - started) * 1000)
                    if result.is_error:
                        raise RuntimeError(f"{label}: {result.content}")
    return samples


async def first_call_cost(runs: int = 7) -> tuple[float, float, float]:
    """Median tools/call latency on a fresh probe process: its first call on a fresh client session
    (which lists the tools before checking the result), its first after a listing (a primed warm
    instance), and its second."""
    firsts: list[float] = []
    primed: list[float] = []
    seconds: list[float] = []
    params = StdioServerParameters(command=sys.executable, args=[str(REPO / "tests" / "peers" / "probe_server.py")])
    for index in range(runs * 2):
        async with Client(params) as client:
            if index % 2:
                await client.list_tools()
            for bucket in (primed if index % 2 else firsts, seconds):
                started = time.perf_counter()
                await client.call_tool("echo", {"text": "x"})
                bucket.append((time.perf_counter() - started) * 1000)
    return statistics.median(firsts), statistics.median(primed), statistics.median(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=15, help="calls per per-call configuration")
    parser.add_argument("--rate-seconds", type=float, default=60.0, help="seconds at each sustained rate")
    parser.add_argument("--rates", default=",".join(f"{rate:g}" for rate in kr.RATES), help="calls/s, comma-separated")
    parser.add_argument("--rates-only", action="store_true", help="only the sustained rates (printed, not written)")
    parser.add_argument("--gateway-code", help="run the gateway from this checkout (its operator/ first on the path)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold Pod and Job paths")
    parser.add_argument("--no-build", action="store_true", help="use the probe image already in the node")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    harness.register_user()
    cluster = harness.up()
    namespace = f"bench-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="kube-bench-"))
    gateway: GatewayProcess | None = None
    collector = OtlpCollector().__enter__()
    audit = work / "audit.jsonl"
    windows: dict[str, tuple[int, int]] = {}
    kubelet: dict[str, dict[str, tuple[float, int]]] = {}
    runs: list[kr.RateRun] = []
    started_load = kr.load()
    try:
        if args.no_build:
            image = canonical(product_images.PROBE)
        else:
            image = product_images.build_kubemcp() and product_images.build_probe()
        cluster.kubectl("create", "namespace", namespace)
        cluster.kubectl("create", "serviceaccount", SERVER_SERVICE_ACCOUNT, "-n", namespace)  # the operator's part
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bench"},
                  "data": {"unused": base64.b64encode(b"x").decode()}}  # fmt: skip
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(secret))
        entries = {NAMES[label]: entry(image, top=TOP_LEVEL.get(label), **extra) for label, extra in CONFIGS.items()}
        entries[RATED] = entry(image, warm=RATED_WARM)
        catalog = write_catalog(work / "catalog.yaml", entries)
        source = CatalogSource(path=str(catalog), line=1, directory=str(work))
        gateway = GatewayProcess(
            ["--transport", "streaming", "--port", "0", "--catalog", str(catalog), "--runtime", "kubernetes",
             "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace, "--no-watch",
             "--audit-file", str(audit), "--otlp-endpoint", collector.endpoint],
            work / "gateway.log",
            {"PYTHONPATH": str(Path(args.gateway_code) / "operator")} if args.gateway_code else None,
        ).start()  # fmt: skip
        print(f"gateway log, audit file: {work}", file=sys.stderr)
        started_gateway = gateway
        before: dict[str, Any] = {}
        for label in (WARM, WARM_CPU):
            name = NAMES[label]
            pool_pod = server_pod(build_spec(name, CatalogEntry.model_validate(entries[name]), source, {}, {}), "pool")
            before[label] = lambda name=name, pod=pool_pod: refill(cluster, started_gateway, namespace, name, pod)
        results: dict[str, list[float]] = {}
        if not args.rates_only:
            anyio.run(interleaved, gateway, 1, before, 300.0)  # warm-up
            began = time.time_ns()
            results.update(anyio.run(interleaved, gateway, args.calls, before, 900.0))
            for label in INTERLEAVED:
                windows[label] = (began, time.time_ns())
                print(f"{label}: p50 {statistics.median(results[label]):.1f} ms, load {kr.load()}", file=sys.stderr)
        for label in (COLD, JOB) if not (args.rates_only or args.no_cold) else ():
            server = NAMES[label]
            anyio.run(measure, gateway, server, 1, lambda: None, 300.0)  # warm-up
            node_before, began = kr.kubelet_snapshot(cluster), time.time_ns()
            results[label] = anyio.run(measure, gateway, server, args.calls, lambda: None, 900.0)
            windows[label] = (began, time.time_ns())
            kubelet[label] = kr.kubelet_means(node_before, kr.kubelet_snapshot(cluster))
            print(f"{label}: p50 {statistics.median(results[label]):.1f} ms, load {kr.load()}", file=sys.stderr)
        if args.rate_seconds > 0:
            rates = tuple(float(rate) for rate in args.rates.split(","))
            runs = kr.sweep(cluster, gateway, RATED, audit, args.rate_seconds, rates)
    finally:
        if gateway is not None:
            gateway.stop()  # its spans are sent as it stops
        collector.__exit__(None, None, None)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        harness.unregister_user()
    ended_load = kr.load()
    if args.rates_only:
        print(rates_report(runs, collector.spans, args.rate_seconds))
        return 0
    if args.no_cold:
        print(report(results, args.calls, (0.0, 0.0, 0.0), (started_load, ended_load), served_warm(audit)))
        print(phases_report({}, {}, {label: kr.span_medians(collector.spans, NAMES[label], *windows[label])
                                     for label in INTERLEAVED}, results))  # fmt: skip
        return 0
    cold = {label: kr.phase_medians(kr.audit_records(audit, NAMES[label])) for label in (COLD, JOB)}
    profile = {label: kr.span_medians(collector.spans, NAMES[label], *windows[label]) for label in INTERLEAVED}
    section = report(results, args.calls, anyio.run(first_call_cost), (started_load, ended_load), served_warm(audit))
    section += "\n\n" + phases_report(cold, kubelet, profile, results)
    if runs:
        section += "\n\n" + rates_report(runs, collector.spans, args.rate_seconds)
    print(section)
    if not args.no_write:
        write(section)
    return 0


def served_warm(audit: Path) -> dict[str, tuple[int, int]]:
    """Per warm configuration: calls a warm instance served, and all its calls (the audit records)."""
    return {
        label: (sum(1 for r in records if r.get("warm") is True), len(records))
        for label in (WARM, WARM_CPU)
        for records in [kr.audit_records(audit, NAMES[label])]
    }


def report(
    results: dict[str, list[float]],
    calls: int,
    first_call: tuple[float, float, float],
    loads: tuple[str, str],
    served_warm: dict[str, tuple[int, int]],
) -> str:
    lived = statistics.median(results[LIVED])
    lines = [
        "## Kubernetes runtime (real test node)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `.venv/bin/python bench/kube_bench.py`"
        f" (`make bench-kube`), {os.cpu_count()} CPUs shared with other work (load average {loads[0]} at the start,"
        f" {loads[1]} at the end), Kubernetes v1.37.2 single node (tests/cluster), containerd,"
        " the probe image; gateway on the host with `--runtime kubernetes`, SDK client over streamable HTTP;"
        " the gateway writes an audit file and sends spans to a collector on loopback.",
        "",
        "| configuration | calls | served warm | p50 ms | p99 ms | min ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, samples in results.items():
        hits, total = served_warm.get(label, (0, 0))
        share = f"{hits}/{total}" if label in (WARM, WARM_CPU) else "-"
        lines.append(
            f"| {label} | {len(samples)} | {share} | {statistics.median(samples):.1f} | {pct(samples, 99):.1f} |"
            f" {min(samples):.1f} |"
        )
    lines.append("")
    for label in (WARM, WARM_CPU):
        warm = statistics.median(results[label])
        paired = statistics.median(round_gaps(results[LIVED], results[label]))
        verdict = "PASS" if warm - lived <= 5 else "MISS"
        lines.append(
            f"- {label}: p50 - long-lived p50 = **{warm - lived:.1f} ms** ({warm / lived:.1f}x; median of the"
            f" per-round differences {paired:.1f} ms) → **{verdict}** (target: within 5 ms)."
        )
    lines += [
        "- Each per-call configuration runs every call in its own Pod (or Job), deleted after the answer."
        " Warm pool: the gateway keeps `warmPool` instances started, attached, MCP-initialized and primed"
        " (their tool listing asked for) ahead of demand, claimed from the operator's pre-started Pods when"
        " there are some; a call takes one, uses it once, and once it is answered the instance is stopped and"
        " a replacement prepared in the background. Before each warm call the bench waits until the gateway"
        f" reports a warm instance ready and the pre-started Pod runs, then {REFILL_PAUSE:.0f} s more (not"
        " timed), so no start-up competes for the 2 CPUs: the figure is the latency at a call rate the pool"
        " sustains.",
        f"- Long-lived and warm in the same {calls} rounds, rotating order ({LIVED_PER_ROUND} long-lived calls and"
        " one of each warm configuration per round, each after every warm pool is ready again); then the cold and"
        f" Job paths, {calls} calls each, sequential;"
        " all after a warm-up.",
        f"- A fresh probe process answers its first tools/call in {first_call[0]:.1f} ms on a fresh client session"
        f" (which lists the tools before checking the result: two requests), in {first_call[1]:.1f} ms when the"
        f" tools were listed first (a primed warm instance), and its second call in {first_call[2]:.1f} ms"
        " (median of 7 local processes each, same server code, on the host).",
    ]
    return "\n".join(lines)


def round_gaps(lived: list[float], warm: list[float]) -> list[float]:
    """Per round: the warm call minus the median of the same round's long-lived calls."""
    return [
        warm[index] - statistics.median(lived[index * LIVED_PER_ROUND : (index + 1) * LIVED_PER_ROUND])
        for index in range(min(len(warm), len(lived) // LIVED_PER_ROUND))
    ]


PHASES = ("created", "pod_created", "scheduled", "sandbox", "running", "attached", "initialized", "answered")
KUBELET_COLUMNS = ("run_podsandbox", "create_container", "start_container", "kubelet_pod_start_sli_duration_seconds")


def phases_report(
    cold: dict[str, dict[str, float]],
    kubelet: dict[str, dict[str, tuple[float, int]]],
    profile: dict[str, dict[str, float]],
    results: dict[str, list[float]],
) -> str:
    lines = [
        "### One cold call, phase by phase",
        "",
        "Median milliseconds from the call's start in the gateway to each phase (the audit record's"
        " `phases_ms`): `created` the API server accepted the Pod (or the Job), `pod_created` the Job's Pod"
        " appeared, `scheduled` the gateway's watch saw it bound, `sandbox` saw the kubelet report its sandbox"
        " ready, `running` saw the server container running, `attached` the attach stream is open,"
        " `initialized` the MCP handshake is done, `answered` the call's answer (the audit record's duration).",
        "",
        "| path | " + " | ".join(f"`{phase}`" for phase in PHASES) + " |",
        "|---|" + "---:|" * len(PHASES),
    ]
    for label, phases in cold.items():
        cells = [f"{phases[phase]:.0f}" if phase in phases else "-" for phase in PHASES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "The kubelet's own timings in the same calls (mean ms, from its histograms: the CRI's RunPodSandbox"
        " with the network set up, CreateContainer, StartContainer; its Pod start SLI from seeing the Pod to"
        " all containers running, image pulls excluded):",
        "",
        "| path | sandbox | create container | start container | Pod start SLI |",
        "|---|---:|---:|---:|---:|",
    ]
    for label in (COLD, JOB):
        means = kubelet.get(label, {})
        cells = [f"{means[key][0]:.0f} ({means[key][1]})" if key in means else "-" for key in KUBELET_COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Where a warm call's time goes",
        "",
        "Median milliseconds per call: on the client, in the gateway's span of the tools/call (its whole"
        " handling), and in its span of the request to the instance (sent over the attach stream, answered).",
        "",
        "| path | client p50 | gateway span p50 | instance request p50 | outside the gateway |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, spans in profile.items():
        client = statistics.median(results[label])
        lines.append(
            f"| {label} | {client:.1f} | {spans['gateway']:.1f} | {spans['backend']:.1f} |"
            f" {client - spans['gateway']:.1f} |"
        )
    return "\n".join(lines)


def rates_report(runs: list[kr.RateRun], spans: list[ReceivedSpan], seconds: float) -> str:
    lines = [
        "### Sustained call rates, warm pool sized to demand",
        "",
        f"A server with `warm: {{min: {RATED_WARM['min']}, max: {RATED_WARM['max']}}}` (no operator Pods: the"
        f" gateway starts its warm Pods itself), called at each rate for {seconds:.0f} s in a row, open loop"
        " (each call at its time, concurrently when earlier ones are still running). Served warm: the audit"
        " records' `warm`. The Pod start columns are the warm Pods the gateway started during the rate"
        " (from its spans), the kubelet columns its histograms over the same time.",
        "",
        *kr.sweep_table(runs, spans, RATED),
        "",
        *kr.failures_lines(runs),
    ]
    short = [run for run in runs if run.audited and run.warm / run.audited < 0.95]
    lines += [
        "",
        f"- First rate with less than 95% served warm: **{short[0].rate:g} calls/s**"
        if short
        else "- Every rate was served at least 95% warm.",
    ]
    return "\n".join(lines)


def write(section: str) -> None:
    block = f"{START}\n{section}\n{END}\n"
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    start, end = text.find(START), text.find(END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END) :].lstrip("\n")
    else:
        text = text.rstrip() + "\n\n" + block
    DOCS.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
