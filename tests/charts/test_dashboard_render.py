"""The dashboard preview's page (scripts/dashboard): Grafana's grid, variable and interval substitution,
legends, units, and the static HTML it draws, without Prometheus."""

from __future__ import annotations

import json
import math
import re

import pytest
from support import REPO

from scripts.dashboard.grafana import (
    Intervals,
    Panel,
    Target,
    Variable,
    Variables,
    duration,
    format_value,
    layout,
    legend,
    panels,
    query_variables,
    substitute,
)
from scripts.dashboard.render import PanelView, Series, nice_ticks, page

DASHBOARD = json.loads((REPO / "charts" / "kubemcp" / "dashboards" / "kubemcp.json").read_text())


def panel(kind: str = "timeseries", title: str = "Calls", unit: str = "reqps", **grid: int) -> Panel:
    place = {"x": 0, "y": 0, "w": 12, "h": 8} | grid
    return Panel(
        id=1, kind=kind, title=title, unit=unit, row="", x=place["x"], y=place["y"], w=place["w"], h=place["h"],
        targets=(Target("up", "{{job}}", "A"),), legend_calcs=("lastNotNull", "max"),
    )  # fmt: skip


def test_panels_are_placed_on_grafanas_grid() -> None:
    # 24 columns over the width; a height unit is 30 px plus an 8 px margin
    assert layout(panel(x=8, w=8, y=1, h=8), 2400) == (800, 38, 792, 296)
    assert layout(panel(x=0, w=24, y=0, h=1), 1200) == (0, 0, 1192, 30)
    found = panels(DASHBOARD)
    assert len(found) == len(DASHBOARD["panels"])
    assert [p.title for p in found if p.kind == "row"] == ["Tool calls", "Instances and warm pools",
                                                           "Sessions and replicas", "Operator"]  # fmt: skip
    assert {p.row for p in found if p.targets and "kubemcp_operator_" in p.targets[0].expr} == {"Operator"}


def test_variables_and_intervals_are_substituted_as_grafana_does() -> None:
    expr = 'sum(rate(kubemcp_tool_calls_total{job=~"$job"}[$__rate_interval])) / ${job} [[job]]'
    everything = Variables((Variable("job", ("a", "b"), all_value=".*"),))
    one, two = Variables((Variable("job", ("gw.one",)),)), Variables((Variable("job", ("a", "b|c")),))
    quick = Intervals.of(0, 120, 500, 1.0)  # 0.24 s per pixel: the 1 s scrape interval is the minimum
    assert (quick.interval, quick.rate_interval, quick.range) == (1.0, 4.0, 120)
    assert substitute(expr, everything.with_intervals(quick)) == (
        'sum(rate(kubemcp_tool_calls_total{job=~".*"}[4s])) / .* .*'
    )
    assert 'job=~"gw\\\\.one"' in substitute(expr, one.with_intervals(quick))  # a regex-escaped value
    assert 'job=~"(a|b\\\\|c)"' in substitute(expr, two.with_intervals(quick))  # several: an alternation
    hour = Intervals.of(0, 3600, 1000, 30.0)  # 3.6 s per pixel rounds to 5 s, below the 30 s minimum
    assert (hour.interval, hour.rate_interval) == (30.0, 120.0)
    assert substitute("[$__interval] $__range_s $__interval_ms", Variables().with_intervals(hour)) == "[30s] 3600 30000"
    with pytest.raises(KeyError, match="nope"):
        substitute("up{job=~'$nope'}", everything)
    assert [duration(s) for s in (4, 0.5, 120, 90, 7200)] == ["4s", "500ms", "2m", "90s", "2h"]
    assert list(query_variables(DASHBOARD)) == [("job", "kubemcp_tool_calls_total", "job", ".*")]


def test_legends_and_units() -> None:
    assert legend("{{server}}/{{ tool }}", {"server": "a", "tool": "b"}) == "a/b"
    assert legend("{{pod}}", {}) == ""
    assert legend("", {"__name__": "up", "job": "x", "a": "1"}) == 'up{a="1", job="x"}'
    assert format_value(0.256, "percentunit") == "25.6%"
    assert format_value(0.0123, "s") == "12.3 ms"
    assert format_value(2.5, "s") == "2.5 s"
    assert format_value(1.5, "reqps") == "1.5 req/s"
    assert format_value(95 * 1024 * 1024, "bytes") == "95 MiB"
    assert format_value(12500, "short") == "12.5 K"
    assert format_value(math.nan, "short") == "-"
    assert nice_ticks(0, 0.9) == [0, 0.25, 0.5, 0.75, 1.0]


def test_the_page_draws_series_legends_stats_and_empty_panels_with_nothing_external() -> None:
    times = (100.0, 101.0, 102.0, 110.0, 111.0)  # a gap after 102: the line breaks there
    series = (
        Series("ok", times, (1.0, 2.0, 3.0, 2.0, 0.5)),
        Series("<error>", times, (0.0, math.nan, 0.25, 0.25, 0.25)),
    )
    views = [
        PanelView(panel("row", "Tool calls", h=1, w=24)),
        PanelView(panel(title="Calls <per second>", y=1), series),
        PanelView(panel("stat", "Sessions", "short", x=12, y=1, w=6, h=6), (Series("sessions", times, (3,) * 5),)),
        PanelView(panel(title="Reconciles", x=18, y=1, w=6), note="operator not running in this preview"),
        PanelView(panel(title="Broken", y=9), errors=("A: Prometheus rejected up[: bad_data: parse error",)),
    ]
    html = page("kubemcp", views, 100.0, 111.0, 1.0, header=["a <b> line"], width=2400)
    assert "left:0px;top:38px;width:1192px;height:296px" in html  # the time series, on the grid
    assert "left:1200px;top:38px;width:592px;height:220px" in html  # the stat
    for escaped in ("Calls &lt;per second&gt;", "&lt;error&gt;", "a &lt;b&gt; line"):
        assert escaped in html
    paths = re.findall(r'<path d="([^"]*)"', html)
    assert len(paths) == 2
    assert (paths[0].count("M"), paths[0].count("L")) == (2, 3)  # 3 points, a gap, 2 points
    assert paths[1].count("M") == 3  # NaN and the gap each break the line
    legend_rows = re.findall(r'<td class="name">.*?</tr>', html)
    assert "ok</td><td>0.5 req/s</td><td>3 req/s</td>" in legend_rows[0]  # last and max
    assert '<div class="stat-value">3</div>' in html
    assert 'No data<div class="why">operator not running in this preview</div>' in html
    assert "Prometheus rejected up[: bad_data" in html
    assert ">Tool calls</div>" in html
    for external in ("<script", "<link", "src=", "href=", "url("):
        assert external not in html
