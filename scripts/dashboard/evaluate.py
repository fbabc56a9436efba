"""Every panel's queries asked of Prometheus the way Grafana asks them (`/api/v1/query_range` over the
time range, the step and `$__rate_interval` from the panel's width and the scrape interval, the
template variables from `label_values`), and what came back as series."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .grafana import Intervals, Panel, Variable, Variables, layout, legend, panels, query_variables, substitute
from .prometheus import Prometheus
from .render import PanelView, Series


@dataclass(frozen=True)
class Missing:
    """A query that Prometheus accepted but that gave no series, and no reason is known for it."""

    panel: str
    expr: str


def chosen_variables(dashboard: Mapping[str, Any], prometheus: Prometheus) -> Variables:
    """Each `label_values` variable as Grafana sets it on first load: "All" when offered, else every value."""
    chosen = []
    for name, metric, label, all_value in query_variables(dashboard):
        values = tuple(prometheus.label_values(label, metric))
        chosen.append(Variable(name, values, all_value))
    return Variables(tuple(chosen))


def series_of(answer: Mapping[str, Any], legend_format: str) -> list[Series]:
    found = []
    for result in answer["data"]["result"]:
        points = result.get("values") or ([result["value"]] if "value" in result else [])
        times = tuple(float(when) for when, _ in points)
        values = tuple(float(value) for _, value in points)  # "NaN" and "+Inf" parse as floats
        found.append(Series(legend(legend_format, result["metric"]), times, values))
    return found


def evaluate(
    dashboard: Mapping[str, Any],
    prometheus: Prometheus,
    start: float,
    end: float,
    *,
    width: int,
    scrape_interval: float,
    reasons: Mapping[str, str] | None = None,
) -> tuple[list[PanelView], list[Missing]]:
    """The panels with their series. A panel with none gets the reason of the first metric prefix in
    `reasons` that its empty queries read (why that part cannot have data here); every query with no
    series that reads none of those prefixes is returned as missing."""
    variables = chosen_variables(dashboard, prometheus)
    views: list[PanelView] = []
    missing: list[Missing] = []
    for panel in panels(dashboard):
        if panel.kind == "row" or not panel.targets:
            views.append(PanelView(panel))
            continue
        intervals = Intervals.of(start, end, layout(panel, width)[2], scrape_interval)
        found, errors, empty = _ask(panel, prometheus, variables.with_intervals(intervals), start, end, intervals)
        why = next((reason for prefix, reason in (reasons or {}).items() if any(prefix in e for e in empty)), "")
        missing.extend(Missing(panel.title, expr) for expr in empty if not any(p in expr for p in reasons or {}))
        views.append(PanelView(panel, tuple(found), note=why if not found else "", errors=tuple(errors)))
    return views, missing


def _ask(
    panel: Panel, prometheus: Prometheus, variables: Variables, start: float, end: float, intervals: Intervals
) -> tuple[list[Series], list[str], list[str]]:
    found: list[Series] = []
    errors: list[str] = []
    empty: list[str] = []
    for target in panel.targets:
        expr = substitute(target.expr, variables)
        answer = prometheus.query_range(expr, start, end, intervals.interval)
        if answer.get("status") != "success":
            errors.append(f"{target.ref}: Prometheus rejected {expr}: {answer.get('errorType')}: {answer.get('error')}")
            continue
        series = [s for s in series_of(answer, target.legend) if any(not math.isnan(v) for v in s.values)]
        if not series:
            empty.append(expr)
        found.extend(series)
    return found, errors, empty


def every_expression(dashboard: Mapping[str, Any], variables: Variables, intervals: Intervals) -> list[str]:
    """Each target's PromQL as sent to Prometheus (for checking them all at one instant)."""
    return [substitute(t.expr, variables.with_intervals(intervals)) for p in panels(dashboard) for t in p.targets]


def rejected(prometheus: Prometheus, expressions: Sequence[str], at: float) -> dict[str, str]:
    """The expressions `/api/v1/query` does not answer with status success, with Prometheus's error."""
    failed = {}
    for expr in expressions:
        answer = prometheus.query(expr, at)
        if answer.get("status") != "success":
            failed[expr] = f"{answer.get('errorType')}: {answer.get('error')}"
    return failed
