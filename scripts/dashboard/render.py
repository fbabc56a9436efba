"""The dashboard as one static HTML page: the panels placed by their gridPos, time series drawn as inline
SVG lines with Grafana's legend table, stat panels as numbers. Nothing is fetched from anywhere."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .grafana import CALC_NAMES, CELL_HEIGHT, CELL_MARGIN, Panel, format_value, layout, reduce

# Grafana's classic palette, in its order.
COLORS = (
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0",
    "#37872d", "#fade2a", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62", "#584477",
)  # fmt: skip
TITLE_HEIGHT = 28
LEGEND_ROW = 17
AXIS_LEFT = 40  # at least; wider for longer tick labels
CHAR_WIDTH = 6.2  # of the axis font, roughly
AXIS_BOTTOM = 18
PAD = 8


@dataclass(frozen=True)
class Series:
    name: str
    times: tuple[float, ...]
    values: tuple[float, ...]  # NaN where Prometheus had no value


@dataclass(frozen=True)
class PanelView:
    """A panel with what its queries gave: series, or a note saying why there are none, or errors."""

    panel: Panel
    series: tuple[Series, ...] = ()
    note: str = ""
    errors: tuple[str, ...] = ()


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (at least two)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks: list[float] = []
    value = first
    while value < high + step * 0.999 and len(ticks) < 20:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _paths(series: Series, x: float, y: float, start: float, end: float, low: float, high: float,
           width: float, height: float, step: float) -> str:  # fmt: skip
    """SVG path data for one series; a gap (NaN, or a missing step) breaks the line."""
    parts: list[str] = []
    previous: float | None = None
    for when, value in zip(series.times, series.values, strict=True):
        if math.isnan(value) or math.isinf(value):
            previous = None
            continue
        px = x + (when - start) / (end - start) * width
        py = y + height - (value - low) / (high - low) * height
        joined = previous is not None and when - previous <= step * 1.5
        parts.append(f"{'L' if joined else 'M'}{px:.1f},{py:.1f}")
        previous = when
    return "".join(parts)


def timeseries_svg(view: PanelView, width: int, height: int, start: float, end: float, step: float) -> str:
    values = [v for s in view.series for v in s.values if math.isfinite(v)]
    low = min([0.0, *values])
    ticks = nice_ticks(low, max(values) if values else 1.0)
    low, high = ticks[0], ticks[-1]
    labels = [format_value(tick, view.panel.unit) for tick in ticks]
    plot_x = max(AXIS_LEFT, round(max(len(label) for label in labels) * CHAR_WIDTH) + 12)
    plot_w, plot_h = width - plot_x - PAD, height - AXIS_BOTTOM - 4
    out = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for tick, text in zip(ticks, labels, strict=True):
        ty = 4 + plot_h - (tick - low) / (high - low) * plot_h
        out.append(f'<line x1="{plot_x}" x2="{plot_x + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>')
        label = escape(text)
        out.append(f'<text x="{plot_x - 6}" y="{ty + 4:.1f}" class="axis" text-anchor="end">{label}</text>')
    for when in nice_ticks(start, end, 5):
        tx = plot_x + (when - start) / (end - start) * plot_w
        if plot_x + 24 <= tx <= plot_x + plot_w - 24:  # a label clipped at either edge is left out
            out.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="4" y2="{4 + plot_h}" class="grid"/>')
            out.append(f'<text x="{tx:.1f}" y="{height - 4}" class="axis" text-anchor="middle">{_clock(when)}</text>')
    for index, series in enumerate(view.series):
        path = _paths(series, plot_x, 4, start, end, low, high, plot_w, plot_h, step)
        color = COLORS[index % len(COLORS)]
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    out.append("</svg>")
    return "".join(out)


def legend_table(view: PanelView, rows: int) -> str:
    calcs = view.panel.legend_calcs
    head = "".join(f"<th>{escape(CALC_NAMES.get(c, c))}</th>" for c in calcs)
    body = []
    for index, series in enumerate(view.series[:rows]):
        color = COLORS[index % len(COLORS)]
        cells = "".join(f"<td>{escape(format_value(reduce(series.values, c), view.panel.unit))}</td>" for c in calcs)
        name = escape(series.name or "(empty)")
        body.append(f'<tr><td class="name"><i style="background:{color}"></i>{name}</td>{cells}</tr>')
    hidden = len(view.series) - rows
    if hidden > 0:
        body.append(f'<tr><td class="name more" colspan="{len(calcs) + 1}">and {hidden} more</td></tr>')
    return f'<table class="legend"><tr><th></th>{head}</tr>{"".join(body)}</table>'


def stat_body(view: PanelView) -> str:
    calc = view.panel.stat_calcs[0] if view.panel.stat_calcs else "lastNotNull"
    items = []
    for series in view.series:
        value = escape(format_value(reduce(series.values, calc), view.panel.unit))
        name = f'<div class="stat-name">{escape(series.name)}</div>' if len(view.series) > 1 else ""
        items.append(f'<div class="stat">{name}<div class="stat-value">{value}</div></div>')
    return f'<div class="stats">{"".join(items)}</div>'


def panel_html(view: PanelView, width: int, start: float, end: float, step: float) -> str:
    panel = view.panel
    left, top, w, h = layout(panel, width)
    box = f"left:{left}px;top:{top}px;width:{w}px;height:{h}px"
    if panel.kind == "row":
        return f'<div class="row" style="{box}">{escape(panel.title)}</div>'
    inner_h = h - TITLE_HEIGHT
    if view.errors:
        body = "".join(f'<div class="error">{escape(error)}</div>' for error in view.errors)
    elif not view.series:
        note = f'<div class="why">{escape(view.note)}</div>' if view.note else ""
        body = f'<div class="nodata">No data{note}</div>'
    elif panel.kind == "stat":
        body = stat_body(view)
    else:
        rows = max(1, min(len(view.series), (inner_h * 2 // 5) // LEGEND_ROW - 1))
        legend_h = (rows + 1 + (len(view.series) > rows)) * LEGEND_ROW + 4
        body = timeseries_svg(view, w - 2, inner_h - legend_h, start, end, step) + legend_table(view, rows)
    return (
        f'<section class="panel" style="{box}"><h2>{escape(panel.title)}</h2>'
        f'<div class="body" style="height:{inner_h}px">{body}</div></section>'
    )


STYLE = """
body{margin:0;background:#111217;color:#ccccdc;font:12px/1.4 Inter,Roboto,'DejaVu Sans',Helvetica,Arial,sans-serif}
header{padding:12px 16px 4px}
header h1{font-size:18px;font-weight:500;margin:0 0 4px;color:#d8d9da}
header p{margin:2px 0;color:#9fa7b3}
.grid-area{position:relative;margin:8px 16px 16px}
.panel{position:absolute;background:#181b1f;border:1px solid #2a2d33;border-radius:2px;overflow:hidden}
.panel h2{font-size:13px;font-weight:500;margin:0;padding:0 8px;height:28px;line-height:28px;color:#d8d9da;
  white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.row{position:absolute;font-size:15px;font-weight:500;color:#d8d9da;line-height:30px}
svg .grid{stroke:#2c3235;stroke-width:1}
svg .axis{fill:#9fa7b3;font-size:10.5px}
.legend{border-collapse:collapse;width:100%;font-size:11.5px;margin-top:2px}
.legend th{font-weight:500;white-space:nowrap;color:#6e9fff;text-align:right;padding:0 8px;height:17px;line-height:17px}
.legend td{text-align:right;padding:0 8px;height:17px;line-height:17px;white-space:nowrap}
.legend td.name{text-align:left;width:100%;overflow:hidden;text-overflow:ellipsis;max-width:1px}
.legend td.more{color:#9fa7b3}
.legend i{display:inline-block;width:14px;height:4px;border-radius:2px;margin:0 6px 3px 0;vertical-align:middle}
.nodata{height:100%;display:flex;flex-direction:column;align-items:center;justify-content:center;color:#9fa7b3;
  font-size:14px}
.nodata .why{font-size:12px;margin-top:4px}
.error{color:#f2495c;padding:8px}
.stats{display:flex;height:100%;align-items:center;justify-content:space-around}
.stat{text-align:center}
.stat-value{font-size:44px;font-weight:500;color:#73bf69;line-height:1.1}
.stat-name{color:#ccccdc;font-size:13px}
footer{padding:0 16px 12px;color:#9fa7b3}
"""


def page(title: str, views: Sequence[PanelView], start: float, end: float, step: float,
         header: Sequence[str] = (), footer: Sequence[str] = (), width: int = 1568) -> str:  # fmt: skip
    """The whole page; `width` is the grid's width in pixels, `header` and `footer` lines of plain text."""
    bottom = max((v.panel.y + v.panel.h for v in views), default=0) * (CELL_HEIGHT + CELL_MARGIN)
    panels_html = "".join(panel_html(view, width, start, end, step) for view in views)
    lines = "".join(f"<p>{escape(line)}</p>" for line in header)
    notes = "".join(f"<p>{escape(line)}</p>" for line in footer)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>{lines}</header>"
        f'<div class="grid-area" style="width:{width}px;height:{bottom}px">{panels_html}</div>'
        f"<footer>{notes}</footer></body></html>"
    )
