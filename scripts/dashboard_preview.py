"""`make dashboard-preview`: the chart's Grafana dashboard with real data, as docs/dashboard.png.

    .venv/bin/python scripts/dashboard_preview.py [--seconds 90] [--png docs/dashboard.png] [--html FILE]

Starts a real `kubemcp gateway run` on loopback (three probe servers: long-lived, per call with at
most two instances, per call with a warm pool; an exec interceptor that denies and rewrites;
`--metrics-port`) and a real Prometheus (tests/cluster/build-prometheus.sh, built into the cache on
first use) scraping it every second, its storage in a temporary folder. Drives bounded MCP traffic
with the SDK client, then evaluates every panel's queries with Prometheus's `/api/v1/query_range` as
Grafana would, draws them as a static page (scripts/dashboard/render.py) and screenshots that with
Debian's headless Chromium. Every process it starts is stopped by its PID. Prints what the queries gave;
exits 1 when Prometheus rejected a query or a query of an exercised metric gave no series.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for folder in (REPO, REPO / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import anyio  # noqa: E402
from chromium import Chromium  # noqa: E402
from cluster import prereqs  # noqa: E402
from cluster import settings as cluster_settings  # noqa: E402

from scripts.dashboard.evaluate import evaluate  # noqa: E402
from scripts.dashboard.prometheus import Prometheus, ScrapeJob  # noqa: E402
from scripts.dashboard.render import page  # noqa: E402
from scripts.dashboard.traffic import PreviewGateway, drive, warm_ready  # noqa: E402

DASHBOARD = REPO / "charts" / "kubemcp" / "dashboards" / "kubemcp.json"
JOB = "kubemcp-gateway"
SCRAPE_INTERVAL = 2.0
SESSIONS = 3
WIDTH = 1600  # the browser window; the grid is 32 px narrower
# Why a query cannot have data here, by the metrics it reads.
REASONS = {
    "kubemcp_operator_": "operator not running in this preview",
    "kubemcp_replica_": "one gateway, no replicas in this preview",
}


def progress(text: str) -> None:
    print(f"[dashboard-preview {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="how long to send traffic (10..600)")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "dashboard.png")
    parser.add_argument("--html", type=Path, help="also keep the page here")
    args = parser.parse_args(argv)
    if not 10 <= args.seconds <= 600:
        parser.error("--seconds: expected 10..600")
    binary = prereqs.prometheus_path(build=True)
    dashboard = json.loads(DASHBOARD.read_text())
    with tempfile.TemporaryDirectory(prefix="kubemcp-dashboard-") as temporary, ExitStack() as stack:
        root = Path(temporary)
        gateway = stack.enter_context(PreviewGateway(root / "gateway"))
        progress(f"gateway serving {gateway.process.url}, metrics on {gateway.metrics}")
        job = ScrapeJob(JOB, (gateway.metrics,), {"pod": "kubemcp-gateway-preview"})
        prometheus = Prometheus(binary, root / "prometheus", [job], interval=SCRAPE_INTERVAL)
        version = prometheus.version()
        stack.enter_context(prometheus)
        progress(f"{version} on {prometheus.url}")
        start = time.time()
        if not anyio.run(warm_ready, gateway):
            progress("the warm pool had no ready instance after 60 s; sending traffic anyway")
        deadline = time.monotonic() + 30
        while not prometheus.scraped(JOB):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus did not scrape the gateway:\n{prometheus.log[-2000:]}")
            time.sleep(0.2)
        progress(f"sending traffic for {args.seconds:g}s")
        traffic = anyio.run(drive, gateway, args.seconds, 3 * SCRAPE_INTERVAL, SESSIONS)  # the last answers scraped
        end = traffic.end  # the sessions were still connected then
        time.sleep(2 * SCRAPE_INTERVAL)  # every sample up to `end` is in
        progress("calls seen by the client: " + ", ".join(f"{k} {v}" for k, v in sorted(traffic.counts.items())))
        views, missing = evaluate(
            dashboard, prometheus, start, end, width=WIDTH - 32, scrape_interval=SCRAPE_INTERVAL, reasons=REASONS
        )
        rejected = [error for view in views for error in view.errors]
        for view in views:
            if view.panel.kind != "row":
                state = f"{len(view.series)} series" if view.series else f"no data {view.note}".strip()
                print(f"{view.panel.title}: {'; '.join(view.errors) or state}")
        release = version.split("version ", 1)[-1].split()[0]
        header = [
            f"The chart's dashboard (charts/kubemcp/dashboards/kubemcp.json): each panel's queries evaluated by a real"
            f" Prometheus {release} (Go module {cluster_settings.PROMETHEUS_VERSION}) that scraped a real kubemcp"
            f" gateway every {SCRAPE_INTERVAL:g}s; drawn by scripts/dashboard_preview.py, since Grafana does not run"
            " in this offline environment (in Grafana it looks different).",
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(start))} to {time.strftime('%H:%M:%S', time.gmtime(end))}"
            f" UTC; job = All; {args.seconds:g}s of MCP calls from {SESSIONS} SDK client sessions"
            f" ({SESSIONS - 1} handshake-era, which the Sessions stat counts): ok, tool errors, crashes, interceptor"
            " denials, unknown tools; and bursts of slow calls to a server allowed two instances.",
        ]
        footer = [
            "Servers: search (long-lived), sandbox (per call, at most two instances), dice (per call, warm pool of 1"
            " to 3). A fourth server was added to the catalog, then the file was broken and put back (the fourth"
            " server gone again). The scrape job adds"
            " pod=kubemcp-gateway-preview, as the Prometheus Operator adds a pod label.",
            f"It ran on a shared {os.cpu_count()}-CPU machine with a load average of {os.getloadavg()[0]:.1f} at the"
            " end, so instance starts and latencies are slower than on a quiet one.",
        ]
        html = page(
            dashboard["title"], views, start, end, SCRAPE_INTERVAL, header=header, footer=footer, width=WIDTH - 32
        )
        page_file = root / "dashboard.html"
        page_file.write_text(html)
        if args.html:
            shutil.copy(page_file, args.html)
        with Chromium(root / "chromium-profile", width=WIDTH, height=1000) as browser:
            browser.navigate(page_file.as_uri())
            browser.screenshot(root / "dashboard.png")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "dashboard.png", args.png)
        progress(f"wrote {args.png}")
    for error in rejected:
        print(f"REJECTED {error}", file=sys.stderr)
    for item in missing:
        print(f"NO SERIES in {item.panel!r}: {item.expr}", file=sys.stderr)
    return 1 if rejected or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
