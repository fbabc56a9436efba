"""The Grafana dashboard shipped with the chart: every PromQL expression parses, and every metric it
reads is one the gateway or the operator exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import promql_parser
import pytest
from kubemcp.controller.metrics import REGISTRY as OPERATOR
from kubemcp.gateway.observe.state_metrics import described
from kubemcp.telemetry.metrics import REGISTRY as GATEWAY
from prometheus_client.metrics_core import Metric
from support import REPO

from scripts.dashboard.grafana import Intervals, Variable, Variables, substitute

DASHBOARD = REPO / "charts" / "kubemcp" / "dashboards" / "kubemcp.json"
# The dashboard's variables as Grafana fills them in: job "All", a one-hour range on a 30 s scrape interval.
AS_GRAFANA = Variables((Variable("job", all_value=".*"),)).with_intervals(Intervals.of(0, 3600, 800, 30))
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"), "gauge": ("",)}


def exported() -> set[str]:
    """The series names the gateway's and the operator's registries can give."""
    families: list[Metric] = [*GATEWAY.collect(), *described(), *OPERATOR.collect()]
    names = set()
    for family in families:
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def metric_names(expression: str) -> list[str]:
    tree = promql_parser.parse(substitute(expression, AS_GRAFANA))  # an unknown $variable raises KeyError
    found: list[str] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.append(node.name)
        return True

    promql_parser.walk(tree, visit)
    return found


def test_every_expression_parses_and_reads_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = list(expressions(dashboard["panels"]))
    assert len(queries) >= 20
    known = exported()
    read: set[str] = set()
    for query in queries:
        names = metric_names(query)  # raises on a syntax error
        assert names, f"no metric in {query!r}"
        missing = [name for name in names if name not in known]
        assert not missing, f"{query!r} reads metrics nobody exports: {missing}"
        read.update(names)
    # the variable's query names an exported metric too
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["definition"].split("(", 1)[1].split(",")[0] in known
    # the headline metrics of the issue are on the dashboard
    for wanted in (
        "kubemcp_tool_calls_total",
        "kubemcp_tool_call_duration_seconds_bucket",
        "kubemcp_instance_start_phase_seconds_bucket",
        "kubemcp_warm_pool_takes_total",
        "kubemcp_warm_pool_ready",
        "kubemcp_backend_queue_depth",
        "kubemcp_sessions",
        "kubemcp_replica_forwarded_total",
        "kubemcp_operator_reconciles_total",
        "kubemcp_operator_reconcile_duration_seconds_bucket",
    ):
        assert wanted in read


def test_the_check_catches_a_metric_nobody_exports() -> None:
    assert metric_names('sum(rate(kubemcp_tool_calls_total{job=~"$job"}[$__rate_interval]))') == [
        "kubemcp_tool_calls_total"
    ]
    assert "kubemcp_tool_call_total" not in exported()  # a typo'd name would fail the test above
    with pytest.raises(ValueError, match="parenthesis"):
        metric_names("sum(rate(kubemcp_tool_calls_total[5m])")
    with pytest.raises(KeyError, match="jobs"):
        metric_names('sum(kubemcp_sessions{job=~"$jobs"})')  # a variable the dashboard does not define
