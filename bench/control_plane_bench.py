"""The control plane at scale: N MCPServers and M MCPGateways created at once against the operator.

    .venv/bin/python bench/control_plane_bench.py [--servers 500] [--gateways 50]   (make bench-control-plane)

On the real test cluster (tests/cluster, started if needed; `KUBEMCP_CLUSTER_INSTANCE` picks the instance)
the operator runs on this machine (`kubemcp operator`, as in the operator's cluster tests), sampled by
py-spy. Every MCPServer is a remote server (`tests/peers/wide_server.py` on loopback, one process for all):
discovery connects to it instead of starting a Pod, so the figures are the control plane's own (API requests,
reconciles, status writes), not N server Pods starting on one node. Each of the M gateways selects its share
of the servers by label and runs `--gateway-replicas` Pods; one more gateway, `all`, selects every server
and runs here (replicas 0 in the cluster) with its own ServiceAccount's token, to show that one gateway
serves every server's tools.

Measured: seconds until every MCPServer is Ready and every gateway is Ready (`Reconciled` with its servers,
for 0 replicas), API requests per second (the API server's `apiserver_request_total`, every client)
during that time and at rest afterwards, the operator's CPU seconds and peak RSS (/proc), and the
`all` gateway's tools/list. Results go to docs/benchmarks.md between the `control-plane-bench` markers.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import product_images  # noqa: E402
from cluster import harness  # noqa: E402
from cluster.common import ClusterError  # noqa: E402
from support import KUBEMCP, GatewayProcess, RemoteServer  # noqa: E402

from reliability.report import write  # noqa: E402

DOCS = REPO / "docs" / "benchmarks.md"
START, END = "<!-- control-plane-bench:start -->", "<!-- control-plane-bench:end -->"
ALL = "all"
CLK = os.sysconf("SC_CLK_TCK")
METRIC = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$", re.M)
Obj = dict[str, Any]


def api_requests(cluster: harness.Cluster) -> collections.Counter[str]:
    """apiserver_request_total by `VERB resource[/subresource]` (every client of the API server)."""
    text = cluster.kubectl("get", "--raw", "/metrics", timeout=60).stdout
    found: collections.Counter[str] = collections.Counter()
    for labels, value in METRIC.findall(text):
        parsed = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        what = parsed.get("resource", "") + (f"/{parsed['subresource']}" if parsed.get("subresource") else "")
        found[f"{parsed.get('verb', '')} {what}"] += int(float(value))
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def resource(kind: str, name: str, spec: Obj, labels: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "kubemcp.dev/v1alpha1", "kind": kind, "metadata": {"name": name, "labels": labels or {}},
            "spec": spec}  # fmt: skip


def manifests(servers: int, gateways: int, replicas: int, remote: Obj) -> list[Obj]:
    objects = [
        resource("MCPServer", f"s{i:04d}", {"inline": remote}, {"bench": "cp", "share": str(i % gateways)})
        for i in range(servers)
    ]
    small = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}  # 2 CPUs, many Pods
    for g in range(gateways):
        spec = {"replicas": replicas, "imagePullPolicy": "Never", "resources": small,
                "serverSelector": {"matchLabels": {"bench": "cp", "share": str(g)}}}  # fmt: skip
        objects.append(resource("MCPGateway", f"g{g:03d}", spec))
    objects.append(resource("MCPGateway", ALL, {"replicas": 0, "serverSelector": {"matchLabels": {"bench": "cp"}}}))
    return objects


def conditions(cluster: harness.Cluster, namespace: str, kind: str) -> dict[str, Obj]:
    items = json.loads(cluster.kubectl("get", kind, "-n", namespace, "-o", "json", timeout=120).stdout)["items"]
    found: dict[str, Obj] = {}
    for item in items:
        status = item.get("status") or {}
        states = {c["type"]: c["status"] for c in status.get("conditions") or []}
        found[item["metadata"]["name"]] = {"conditions": states, "servers": len(status.get("servers") or [])}
    return found


def discovery_refs(cluster: harness.Cluster, namespace: str, gateway: str) -> int:
    out = cluster.kubectl("get", "configmap", f"{gateway}-kubemcp-gateway", "-n", namespace, "-o", "json",
                          check=False)  # fmt: skip
    if out.returncode != 0:
        return 0
    data = json.loads(out.stdout).get("data") or {}
    return len((yaml.safe_load(data.get("discovery.yaml") or "{}") or {}).get("servers") or {})


@dataclass
class Run:
    servers: int
    gateways: int
    replicas: int
    applied: float = 0.0
    servers_ready: float | None = None
    gateways_ready: float | None = None
    all_named: float | None = None
    done: float | None = None
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    rest_requests: int = 0
    rest_seconds: float = 0.0
    rest_cpu: float = 0.0
    cpu: float = 0.0
    peak_rss: float = 0.0
    reconciles: dict[str, float] = field(default_factory=dict)
    tools: int = 0
    listed_after: float = 0.0
    configmap_bytes: int = 0
    ready_counts: str = ""
    profile_self: list[tuple[str, float]] = field(default_factory=list)
    profile_under: list[tuple[str, float]] = field(default_factory=list)
    load: str = ""


def operator_metrics(port: int) -> dict[str, float]:
    """The operator's reconciles by kind (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found: dict[str, float] = collections.defaultdict(float)
    for kind, value in re.findall(r'kubemcp_operator_reconciles_total\{kind="(\w+)",[^}]*\} ([0-9.e+]+)', text):
        found[kind] += float(value)
    return dict(found)


def gateway_done(found: Obj | None, share: int, replicas: int) -> bool:
    """Reconciled with all its servers, and (with replicas) Ready."""
    if found is None:
        return False
    served = found["conditions"].get("Reconciled") == "True" and found["servers"] == share
    return bool(served and (replicas == 0 or found["conditions"].get("Ready") == "True"))


def wait_ready(cluster: harness.Cluster, namespace: str, run: Run, started: float, cap: float) -> None:
    gateway_names = {f"g{g:03d}" for g in range(run.gateways)}
    share = {f"g{g:03d}": len(range(g, run.servers, run.gateways)) for g in range(run.gateways)}
    while time.monotonic() - started < cap:
        now = time.monotonic() - started
        try:
            servers = conditions(cluster, namespace, "mcpservers")
            gateways = conditions(cluster, namespace, "mcpgateways")
        except ClusterError as exc:  # an API server too busy to answer a list in time: ask again
            print(f"{now:7.1f}s {exc}"[:300], file=sys.stderr, flush=True)
            time.sleep(3)
            continue
        ready = sum(1 for s in servers.values() if s["conditions"].get("Ready") == "True")
        if run.servers_ready is None and ready == run.servers:
            run.servers_ready = now

        done = sum(1 for name in gateway_names if gateway_done(gateways.get(name), share[name], run.replicas))
        if run.gateways_ready is None and done == run.gateways:
            run.gateways_ready = now
        named = discovery_refs(cluster, namespace, ALL) if run.servers_ready is not None else 0
        if run.all_named is None and named == run.servers:
            run.all_named = now
        run.ready_counts = (
            f"{ready}/{run.servers} servers Ready, {done}/{run.gateways} gateways, {named} named by `all`"
        )
        print(f"{now:7.1f}s {run.ready_counts}", file=sys.stderr, flush=True)
        if None not in (run.servers_ready, run.gateways_ready, run.all_named):
            run.done = time.monotonic() - started
            return
        time.sleep(3)


def _frame(frame: str) -> str:
    """`fn (path/to/module.py:123)` -> `fn (to/module.py)`: one name per function, whatever the line."""
    return re.sub(r" \((.*?)(:\d+)?\)$", lambda m: f" ({'/'.join(Path(m.group(1)).parts[-2:])})", frame)


def profile_summary(raw: Path, top: int = 10) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """From py-spy's collapsed stacks (on-CPU samples only): the share of samples spent in each function
    itself (any module), and under each of the operator's own functions (inclusive, the event loop's
    outer frames left out)."""
    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        samples += int(count)
        frames = stack.split(";")
        own[_frame(frames[-1])] += int(count)
        for name in {_frame(frame) for frame in frames if "kubemcp/" in frame}:
            under[name] += int(count)
    if not samples:
        return [], []

    def shares(counter: collections.Counter[str], limit: float) -> list[tuple[str, float]]:
        found = [(name, 100 * count / samples) for name, count in counter.most_common()]
        return [(name, share) for name, share in found if share < limit][:top]

    return shares(own, 100.0), shares(under, 90.0)


async def list_all(gateway: GatewayProcess, want: int, cap: float) -> int:
    """The gateway's tools/list count (every page), asked again until it has `want` or `cap` seconds pass."""
    tools = 0
    with anyio.move_on_after(cap):
        while True:
            tools = 0
            async with gateway.client() as client:
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools += len(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
            if tools >= want:
                return tools
            await anyio.sleep(2)
    return tools


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--gateways", type=int, default=50)
    parser.add_argument("--gateway-replicas", type=int, default=1, help="Pods per share gateway (0: none run)")
    parser.add_argument("--tools", type=int, default=2, help="tools per server")
    parser.add_argument("--schema-bytes", type=int, default=300, help="size of each tool's input schema")
    parser.add_argument("--interval", type=float, default=10.0, help="the operator's resync interval")
    parser.add_argument("--timeout", type=float, default=1200.0, help="give up waiting after this many seconds")
    parser.add_argument("--rest", type=float, default=60.0, help="seconds measured at rest after everything is Ready")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    run = Run(args.servers, args.gateways, args.gateway_replicas)
    harness.register_user()
    cluster = harness.up()
    harness.apply_crds(cluster)  # a cluster that never saw kubemcp has none
    namespace = f"bench-cp-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="cp-bench-"))
    processes: list[subprocess.Popen[bytes]] = []
    spy: subprocess.Popen[bytes] | None = None
    wide = RemoteServer("streamable-http", "--tools", str(args.tools), "--schema-bytes", str(args.schema_bytes),
                        script="wide_server.py")  # fmt: skip
    try:
        image = product_images.build_kubemcp() if args.gateway_replicas > 0 else "kubemcp/kubemcp:not-run"
        cluster.kubectl("create", "namespace", namespace)
        wide.start()
        port = free_port()
        argv = [str(KUBEMCP), "operator", "--namespace", namespace, "--kubeconfig", str(cluster.kubeconfig),
                "--gateway-image", image, "--image-pull-policy", "Never", "--interval", str(args.interval),
                "--liveness", f"http://127.0.0.1:{port}/healthz"]  # fmt: skip
        with (work / "operator.log").open("wb") as log:
            operator = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=cluster.env())
        processes.append(operator)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not run.reconciles:
            time.sleep(1)
            try:
                run.reconciles = operator_metrics(port) or {"started": 0.0}
            except OSError:
                continue
        spy_bin = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        raw = work / "operator.prof.txt"
        if Path(spy_bin).exists():
            spy = subprocess.Popen([spy_bin, "record", "--pid", str(operator.pid), "--format", "raw", "--rate", "50",
                                    "--nonblocking", "--output", str(raw)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        (work / "objects.yaml").write_text(
            yaml.safe_dump_all(manifests(args.servers, args.gateways, args.gateway_replicas, wide.entry()))
        )
        before, cpu_before = api_requests(cluster), cpu_seconds(operator.pid)
        started = time.monotonic()
        cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(work / "objects.yaml"), timeout=900)
        run.applied = time.monotonic() - started
        wait_ready(cluster, namespace, run, started, args.timeout)
        elapsed = time.monotonic() - started
        run.cpu = cpu_seconds(operator.pid) - cpu_before
        after = api_requests(cluster)
        run.requests = after - before
        run.reconciles = operator_metrics(port)
        run.load = " ".join(f"{value:.2f}" for value in os.getloadavg())
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
            spy = None
            if raw.exists():
                run.profile_self, run.profile_under = profile_summary(raw)
        rest_cpu = cpu_seconds(operator.pid)
        rest_started = time.monotonic()
        time.sleep(args.rest)
        run.rest_seconds = time.monotonic() - rest_started
        run.rest_requests = sum((api_requests(cluster) - after).values())
        run.rest_cpu = cpu_seconds(operator.pid) - rest_cpu
        run.peak_rss = peak_rss_mib(operator.pid)
        print(f"reconcile phase {elapsed:.0f}s; rest {run.rest_requests} requests", file=sys.stderr)

        if run.all_named is not None:  # the `all` gateway, here, with its own ServiceAccount's token
            token = cluster.kubectl("create", "token", f"{ALL}-kubemcp-gateway", "--duration", "30m",
                                    namespace=namespace).stdout.strip()  # fmt: skip
            account = cluster.user_kubeconfig(f"{namespace}-{ALL}", token, namespace)
            data = json.loads(cluster.kubectl("get", "configmap", f"{ALL}-kubemcp-gateway", "-n", namespace,
                                              "-o", "json").stdout)["data"]  # fmt: skip
            run.configmap_bytes = sum(len(text.encode()) for text in data.values())
            gateway = GatewayProcess(
                ["--runtime", "kubernetes", "--namespace", namespace, "--from-configmap", f"{ALL}-kubemcp-gateway",
                 "--transport", "streaming", "--port", "0", "--kubeconfig", str(account)],
                work / "gateway.log",
            )  # fmt: skip
            listed = time.monotonic()
            gateway.start(timeout=300)
            try:
                run.tools = anyio.run(list_all, gateway, args.servers * args.tools, 300.0)
                run.listed_after = time.monotonic() - listed
            finally:
                gateway.stop()
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        for process in processes:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        wide.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        harness.unregister_user()
        print(f"work folder: {work}", file=sys.stderr)
    section = report(run, args)
    print(section)
    if not args.no_write:
        write(DOCS, section, START, END)
    return 0 if run.done is not None else 1


def _seconds(value: float | None, cap: float) -> str:
    return f"{value:.0f} s" if value is not None else f"not within {cap:.0f} s"


def report(run: Run, args: argparse.Namespace) -> str:
    window = run.done if run.done is not None else args.timeout
    total = sum(run.requests.values())
    top = ", ".join(f"{what} {count}" for what, count in run.requests.most_common(8))
    reconciles = ", ".join(f"{kind} {count:.0f}" for kind, count in sorted(run.reconciles.items()))
    lines = [
        START,
        "## Control plane at scale (real test node)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `.venv/bin/python"
        f" bench/control_plane_bench.py --servers {run.servers} --gateways {run.gateways}"
        f" --gateway-replicas {run.replicas}` (`make bench-control-plane`), {os.cpu_count()} CPUs shared with"
        f" other work (load average {run.load} at the end of the reconcile phase), Kubernetes single node"
        " (tests/cluster). The operator runs on the host (`kubemcp operator`, resync every"
        f" {args.interval:g} s), sampled by py-spy; the MCPServers are remote servers (one loopback process,"
        f" {args.tools} tools of ~{args.schema_bytes} B schema each), so discovery connects instead of starting"
        f" a Pod. {run.gateways} MCPGateways each select {run.servers // max(run.gateways, 1)} servers by label"
        f" ({run.replicas} Pod each); `all` selects every server and is run on the host with its ServiceAccount's"
        " token.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| objects created (`kubectl apply --server-side`, one file) | {run.servers + run.gateways + 1}"
        f" in {run.applied:.0f} s |",
        f"| every MCPServer Ready (discovered) | {_seconds(run.servers_ready, args.timeout)} |",
        f"| every share MCPGateway {'Ready' if run.replicas else 'reconciled'} | "
        f"{_seconds(run.gateways_ready, args.timeout)} |",
        f"| `all` names every server's discovery | {_seconds(run.all_named, args.timeout)} |",
        f"| API requests until then (every client) | {total} ({total / window:.1f}/s) |",
        f"| API requests at rest ({run.rest_seconds:.0f} s after) |"
        f" {run.rest_requests / max(run.rest_seconds, 1):.1f}/s |",
        f"| operator CPU until then | {run.cpu:.1f} s ({100 * run.cpu / window:.0f}% of one core) |",
        f"| operator CPU at rest | {100 * run.rest_cpu / max(run.rest_seconds, 1):.0f}% of one core |",
        f"| operator peak RSS | {run.peak_rss:.0f} MiB |",
        f"| `all`: ConfigMap size | {run.configmap_bytes / 1024:.0f} KiB |",
        f"| `all`: tools/list (host gateway, from start) | {run.tools} tools in {run.listed_after:.0f} s |",
        "",
        f"- Last count: {run.ready_counts}.",
        f"- Requests by verb and resource: {top}.",
        f"- Operator reconciles: {reconciles}.",
    ]
    if run.profile_self:
        lines.append(
            "- Operator profile (py-spy, on-CPU samples of the reconcile phase), most time in the function itself:"
        )
        lines += [f"  - {share:.1f}% `{name}`" for name, share in run.profile_self]
        lines.append("- ... and under each of the operator's functions (inclusive):")
        lines += [f"  - {share:.1f}% `{name}`" for name, share in run.profile_under]
    lines.append(END)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
