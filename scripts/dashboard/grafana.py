"""What Grafana does with a dashboard's JSON around its Prometheus queries: the panels and their grid,
template variables and built-in intervals substituted into the PromQL, legends from `legendFormat`, and
values formatted by unit. Pure functions, no I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GRID_COLUMNS = 24
CELL_HEIGHT = 30  # Grafana's grid: one `h` unit is 30 px plus an 8 px margin
CELL_MARGIN = 8
# Grafana rounds $__interval to one of these (seconds) before the data source's minimum applies.
NICE_INTERVALS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900,
    1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str
    ref: str


@dataclass(frozen=True)
class Panel:
    id: int
    kind: str  # timeseries, stat, row, ...
    title: str
    x: int
    y: int
    w: int
    h: int
    unit: str
    row: str  # the title of the row above it ("" at the top)
    targets: tuple[Target, ...] = ()
    legend_calcs: tuple[str, ...] = ()
    stat_calcs: tuple[str, ...] = ("lastNotNull",)


def panels(dashboard: Mapping[str, Any]) -> list[Panel]:
    """Every panel in grid order, rows included; a collapsed row's own panels follow it."""
    found: list[Panel] = []
    row = ""

    def add(raw: Mapping[str, Any]) -> None:
        nonlocal row
        grid = raw.get("gridPos", {})
        options = raw.get("options") or {}
        kind = str(raw.get("type", ""))
        if kind == "row":
            row = str(raw.get("title", ""))
        targets = tuple(
            Target(str(t["expr"]), str(t.get("legendFormat", "")), str(t.get("refId", "")))
            for t in raw.get("targets", [])
            if "expr" in t
        )
        found.append(
            Panel(
                id=int(raw.get("id", 0)),
                kind=kind,
                title=str(raw.get("title", "")),
                x=int(grid.get("x", 0)),
                y=int(grid.get("y", 0)),
                w=int(grid.get("w", 12)),
                h=int(grid.get("h", 8)),
                unit=str(raw.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")),
                row=row,
                targets=targets,
                legend_calcs=tuple(options.get("legend", {}).get("calcs", ())),
                stat_calcs=tuple(options.get("reduceOptions", {}).get("calcs", ("lastNotNull",))),
            )
        )
        for inner in raw.get("panels", []) if kind == "row" else []:
            add(inner)

    for raw in sorted(dashboard.get("panels", []), key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])):
        add(raw)
    return found


def layout(panel: Panel, width: int) -> tuple[int, int, int, int]:
    """Left, top, width and height in pixels of a panel on a page `width` pixels wide (Grafana's grid)."""
    column = width / GRID_COLUMNS
    left = round(panel.x * column)
    right = round((panel.x + panel.w) * column)
    top = panel.y * (CELL_HEIGHT + CELL_MARGIN)
    height = panel.h * (CELL_HEIGHT + CELL_MARGIN) - CELL_MARGIN
    return left, top, right - left - CELL_MARGIN, height


def round_interval(seconds: float) -> float:
    """The nice interval Grafana would use for `seconds` (the smallest listed one at least as long)."""
    return next((nice for nice in NICE_INTERVALS if nice >= seconds), NICE_INTERVALS[-1])


@dataclass(frozen=True)
class Intervals:
    """Grafana's built-in variables for one panel's query: `$__interval` (also the query step),
    `$__rate_interval` and `$__range`."""

    interval: float
    rate_interval: float
    range: float

    @classmethod
    def of(cls, start: float, end: float, max_points: int, scrape_interval: float) -> Intervals:
        """`max_points` is the panel's width in pixels (Grafana's default `maxDataPoints`);
        `scrape_interval` is the data source's setting, which is also the minimum interval."""
        span = end - start
        interval = max(round_interval(span / max(max_points, 1)), scrape_interval)
        rate_interval = max(interval + scrape_interval, 4 * scrape_interval)
        return cls(interval=interval, rate_interval=rate_interval, range=span)


def duration(seconds: float) -> str:
    """A PromQL duration: `4s`, `1500ms`, `2m`."""
    millis = round(seconds * 1000)
    if millis % 1000:
        return f"{millis}ms"
    whole = millis // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def regex_escape(value: str) -> str:
    """Grafana's escaping of a value inside a PromQL regex matcher."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


@dataclass(frozen=True)
class Variable:
    """A template variable with the values chosen for it; `all_value` when "All" is chosen."""

    name: str
    values: tuple[str, ...] = ()
    all_value: str | None = None

    def formatted(self) -> str:
        if self.all_value is not None:
            return self.all_value
        if len(self.values) == 1:
            return regex_escape(self.values[0])
        return "(" + "|".join(regex_escape(v) for v in self.values) + ")"


@dataclass(frozen=True)
class Variables:
    chosen: tuple[Variable, ...] = ()
    builtins: dict[str, str] = field(default_factory=dict)

    def with_intervals(self, intervals: Intervals) -> Variables:
        builtins = {
            "__interval": duration(intervals.interval),
            "__interval_ms": str(round(intervals.interval * 1000)),
            "__rate_interval": duration(intervals.rate_interval),
            "__range": duration(intervals.range),
            "__range_s": str(round(intervals.range)),
            "__range_ms": str(round(intervals.range * 1000)),
        }
        return Variables(self.chosen, {**self.builtins, **builtins})


_REFERENCE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def substitute(expr: str, variables: Variables) -> str:
    """`expr` with `$name`, `${name}` and `[[name]]` replaced as Grafana does for a Prometheus query
    (multiple values as a regex alternation); an unknown name is an error, not left in place."""
    known = {v.name: v.formatted() for v in variables.chosen} | variables.builtins

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in known:
            raise KeyError(f"{expr!r} uses ${name}, which the dashboard does not define")
        return known[name]

    return _REFERENCE.sub(replace, expr)


def query_variables(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str | None]]:
    """The dashboard's `label_values(metric, label)` variables: name, metric, label, allValue (when
    "All" is offered)."""
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        definition = str(variable.get("definition") or variable.get("query", {}).get("query", ""))
        match = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*", definition)
        if not match:
            raise ValueError(f"variable {variable['name']}: only label_values(metric, label) is supported")
        all_value = variable.get("allValue") if variable.get("includeAll") else None
        yield str(variable["name"]), match.group(1), match.group(2), all_value


def legend(format_: str, labels: Mapping[str, str]) -> str:
    """A series' name: `legendFormat` with `{{label}}` filled in, or the label set when there is none."""
    if format_ and format_ != "__auto":
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), format_)
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{labels.get('__name__', '')}{{{inner}}}"


def reduce(values: Sequence[float], calc: str) -> float:
    """A legend or stat calculation over a series' values: lastNotNull, last, max, min, mean."""
    present = [v for v in values if not math.isnan(v)]
    if not present:
        return math.nan
    if calc in ("lastNotNull", "last"):
        return present[-1]
    if calc == "max":
        return max(present)
    if calc == "min":
        return min(present)
    if calc == "mean":
        return sum(present) / len(present)
    raise ValueError(f"unsupported calculation {calc!r}")


CALC_NAMES = {"lastNotNull": "Last *", "last": "Last", "max": "Max", "min": "Min", "mean": "Mean"}


def _number(value: float) -> str:
    """Up to three significant digits, no trailing zeros: 0.125, 1.5, 12.3, 250."""
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(value: float, step: float, units: Sequence[str]) -> str:
    index = 0
    while abs(value) >= step and index < len(units) - 1:
        value /= step
        index += 1
    return f"{_number(value)}{units[index]}"


def format_value(value: float, unit: str) -> str:
    """A value as Grafana shows it for the panel's unit (the units this dashboard uses)."""
    if math.isnan(value):
        return "-"
    if unit == "percentunit":
        return f"{_number(value * 100)}%"
    if unit == "reqps":
        return f"{_number(value)} req/s"
    if unit == "ops":
        return f"{_number(value)} ops/s"
    if unit == "s":
        if value != 0 and abs(value) < 1:
            return f"{_number(value * 1000)} ms"
        if abs(value) < 60:
            return f"{_number(value)} s"
        return f"{_number(value / 60)} min"
    if unit == "bytes":
        return _scaled(value, 1024, (" B", " KiB", " MiB", " GiB", " TiB"))
    return _scaled(value, 1000, ("", " K", " Mil", " Bil"))
