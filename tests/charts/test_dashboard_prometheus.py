"""Every query of the chart's Grafana dashboard is accepted by a real Prometheus (the pinned build
tests/cluster/build-prometheus.sh makes) that scraped a real gateway after real MCP calls, and the
tool-call panels have series. Skipped where that binary is not built: its cold build takes minutes, so
it is not part of CI's setup (`make dashboard-preview` builds it into the cache)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cluster import settings
from mcp.shared.exceptions import MCPError
from support import REPO, tool_value, until

from scripts.dashboard.evaluate import chosen_variables, every_expression, rejected
from scripts.dashboard.grafana import Intervals
from scripts.dashboard.prometheus import Prometheus, ScrapeJob
from scripts.dashboard.traffic import PreviewGateway

PROMETHEUS = settings.prometheus_path()
DASHBOARD = json.loads((REPO / "charts" / "kubemcp" / "dashboards" / "kubemcp.json").read_text())

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not PROMETHEUS.is_file(),
        reason=f"no Prometheus at {PROMETHEUS}: build it with `bash tests/cluster/build-prometheus.sh` "
        "(a few minutes cold; not in CI's setup)",
    ),
]


async def test_every_dashboard_query_is_accepted_by_prometheus_scraping_a_gateway(tmp_path: Path) -> None:
    with PreviewGateway(tmp_path / "gateway") as gateway:
        async with gateway.process.client() as client:
            assert tool_value(await client.call_tool("search__echo", {"text": "hello"})) == "hello"
            with pytest.raises(MCPError):
                await client.call_tool("search__echo", {"text": "forbidden"})  # the interceptor denies it
        job = ScrapeJob("kubemcp-gateway", (gateway.metrics,), {"pod": "gateway-0"})
        with Prometheus(PROMETHEUS, tmp_path / "prometheus", [job], interval=1.0) as prometheus:

            def scraped_twice() -> bool:
                answer = prometheus.query("count_over_time(kubemcp_tool_calls_total[1m])")
                return any(float(r["value"][1]) >= 2 for r in answer["data"]["result"])

            assert await until(scraped_twice, timeout=60), prometheus.log[-2000:]
            now = time.time()
            variables = chosen_variables(DASHBOARD, prometheus)
            assert variables.chosen[0].values == ("kubemcp-gateway",)  # label_values found the job
            expressions = every_expression(DASHBOARD, variables, Intervals.of(now - 600, now, 600, 1.0))
            assert len(expressions) >= 20
            assert rejected(prometheus, expressions, now) == {}
            calls = [e for e in expressions if "kubemcp_tool_calls_total" in e]
            assert calls
            for expr in calls:  # the calls above are there, so these panels have series
                assert prometheus.query(expr, now)["data"]["result"], expr
            # and the check does catch what Prometheus refuses
            broken = 'sum(rate(kubemcp_tool_calls_total{job=~".*"}[4s])'
            assert "bad_data" in rejected(prometheus, [broken], now)[broken]
