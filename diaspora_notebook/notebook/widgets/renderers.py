"""The live views' renderers: rows, counters, errors, schema drift and lines as HTML and SVG.

Pure functions of a DataFrame or a ``StreamStats`` snapshot, so a view's record (what a
notebook reopened without its kernel shows) is drawn by the same code as the view. No widgets.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.stream.plotdata import PlotWindow
    from diaspora_notebook.stream.stats import StreamStats

_CELL_CHARS = 60
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_STATE_COLORS = {"running": "#2ca02c", "paused": "#ff9800", "retrying": "#d62728",
                 "starting": "#888", "stopped": "#555", "failed": "#d62728"}


def _cell(value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        text = value if isinstance(value, str) else repr(value)
        return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "\u2026"
    return value


def table_html(df: pd.DataFrame, *, max_cols: int = 20) -> str:
    """The rows as an HTML table: cells shortened and escaped, newest last."""
    shown = df.copy()
    for column in shown.columns:
        if shown[column].dtype == object or str(shown[column].dtype) in ("str", "string"):
            shown[column] = shown[column].map(_cell).astype(object)
    if "timestamp" in shown.columns:
        shown["timestamp"] = shown["timestamp"].dt.strftime("%H:%M:%S.%f").str[:-3]
    return shown.to_html(index=False, escape=True, na_rep="", max_cols=max_cols, border=0,
                         classes="diaspora-live-table")


def counters_html(s: StreamStats) -> str:
    """One line: the state (colored), events, rate, lag, rows held and errors."""
    lag = s.total_lag
    color = _STATE_COLORS.get(s.state, "#888")
    parts = [
        f'<b style="color:{color}">\u25cf {html.escape(s.state)}</b>',
        f"<b>{s.events:,}</b> events",
        f"{s.rate:,.1f}/s",
        f"lag {'?' if lag is None else f'{lag:,}'}",
        f"rows {s.rows:,}/{s.max_rows:,}" + (f" ({s.rows_dropped:,} dropped)"
                                              if s.rows_dropped else ""),
        f"errors {s.errors:,}",
    ]
    return '<span style="font-family:monospace">' + " | ".join(parts) + "</span>"


def error_html(s: StreamStats) -> str:
    """What is wrong now, callback errors and undecodable payloads (empty when none)."""
    lines = []
    if s.error:
        lines.append(f"\u26a0 {html.escape(s.error)}")
    if s.callback_errors:
        last = (s.last_callback_error or "").strip().splitlines()
        lines.append(f"\u26a0 {s.callback_errors:,} on_batch callback error(s); last: "
                     f"{html.escape(last[-1] if last else '')}")
    if s.decode_errors:
        lines.append(f"{s.decode_errors:,} payload(s) could not be decoded (see the _error "
                     "column)")
    if not lines:
        return ""
    return '<div style="color:#b00020">' + "<br>".join(lines) + "</div>"


def drift_html(stats: Any, *, most: int = 3) -> str:
    """Schema drift, flagged: ``new field `x` since offset N`` for the newest few fields."""
    fields = list(getattr(stats, "new_fields", {}).items())
    if not fields:
        return ""
    parts = []
    for name, where in fields[-most:]:
        spot = (f"offset {where.offset:,} (partition {where.partition})"
                if hasattr(where, "offset") else str(where))
        parts.append(f"new field <code>{html.escape(str(name))}</code> since {spot}")
    more = f" and {len(fields) - most} more" if len(fields) > most else ""
    return ('<div style="color:#8a5a00">\u2691 ' + "; ".join(parts) + more +
            f" ({stats.schema_changes:,} schema change(s))</div>")




def svg_lines(x: Sequence[float], ys: Mapping[str, Sequence[float]], *, width: int = 640,
              height: int = 220) -> str:
    """A minimal SVG line plot (no plotting library needed); NaNs break the line."""
    pad_l, pad_r, pad_t, pad_b = 56, 10, 10, 22
    finite_x = [v for v in x if math.isfinite(v)]
    finite_y = [v for col in ys.values() for v in col if math.isfinite(v)]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'style="font:11px sans-serif;background:#fff">']
    if not finite_x or not finite_y:
        out.append(f'<text x="{pad_l}" y="{height // 2}">waiting for numeric data\u2026</text>')
        return "".join(out) + "</svg>"
    x0, x1 = min(finite_x), max(finite_x)
    y0, y1 = min(finite_y), max(finite_y)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    sx = (width - pad_l - pad_r) / (x1 - x0)
    sy = (height - pad_t - pad_b) / (y1 - y0)
    out.append(f'<rect x="{pad_l}" y="{pad_t}" width="{width - pad_l - pad_r}" '
               f'height="{height - pad_t - pad_b}" fill="none" stroke="#ccc"/>')
    out.append(f'<text x="{pad_l - 4}" y="{pad_t + 9}" text-anchor="end">{y1:.4g}</text>')
    out.append(f'<text x="{pad_l - 4}" y="{height - pad_b}" text-anchor="end">{y0:.4g}</text>')
    for i, (name, col) in enumerate(ys.items()):
        color = COLORS[i % len(COLORS)]
        segments: list[list[str]] = [[]]
        for xv, yv in zip(x, col, strict=False):
            if math.isfinite(xv) and math.isfinite(yv):
                px = pad_l + (xv - x0) * sx
                py = height - pad_b - (yv - y0) * sy
                segments[-1].append(f"{px:.1f},{py:.1f}")
            elif segments[-1]:
                segments.append([])
        for seg in segments:
            if seg:
                out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                           f'points="{" ".join(seg)}"/>')
        out.append(f'<text x="{pad_l + 8 + 110 * i}" y="{height - 6}" fill="{color}">'
                   f"\u2014 {html.escape(name)}</text>")
    return "".join(out) + "</svg>"


def nice_step(span: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(ticks, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next((m * power for m in (1, 2, 5, 10) if m * power >= raw), 10 * power)


#: steps of a time axis, in seconds: ticks fall on round clock times
_TIME_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
               10800, 21600, 43200, 86400)


def time_ticks(start_ms: float, end_ms: float, ticks: int = 6) -> tuple[list[float], str]:
    """Round clock times between ``start_ms`` and ``end_ms`` and their format (``%H:%M:%S``,
    with milliseconds below a second, without seconds above ten minutes)."""
    span = (end_ms - start_ms) / 1000
    step = next((s for s in _TIME_STEPS if span / s <= ticks), _TIME_STEPS[-1])
    first = math.ceil(start_ms / (step * 1000)) * step * 1000
    out = []
    at = first
    while at <= end_ms + 1e-6:
        out.append(at)
        at += step * 1000
    fmt = "%H:%M:%S.%f" if step < 1 else ("%H:%M" if step >= 600 else "%H:%M:%S")
    return out, fmt


def _clock(ms: float, fmt: str) -> str:
    import datetime as dt

    text = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime(fmt)
    return text[:-3] if fmt.endswith("%f") else text


def _number(value: float, step: float) -> str:
    if step >= 1 and abs(value) < 1e15:
        return f"{value:,.0f}"
    digits = max(0, -math.floor(math.log10(step))) if step > 0 else 2
    return f"{value:,.{min(digits, 6)}f}"


def svg_chart(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], *,
              x_range: tuple[float, float] | None = None, time_axis: bool = True,
              x_label: str = "event time (UTC)", y_label: str = "", title: str = "",
              note: str = "", width: int = 720, height: int = 300) -> str:
    """A line chart as SVG, readable without JavaScript: axes with ticks and labels (clock
    times on a time axis), a grid, a legend, one colored line per series.

    :param series: ``(name, x, y)`` each; x in ms since the epoch on a time axis
    :param x_range: the x axis' extent (default: the points'); a live plot's window
    :param note: a line under the title (the window, the counters)
    """
    pad_l, pad_r, pad_b = 64, 16, 44
    rows = max(1, math.ceil(len(series) / 4)) if series else 0
    pad_t = 10 + (18 if title else 0) + (16 if note else 0) + 16 * rows
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" style="font:11px sans-serif;background:#fff" '
           'class="diaspora-chart">']
    top = 14
    if title:
        out.append(f'<text x="{pad_l}" y="{top}" font-weight="bold" font-size="12">'
                   f"{html.escape(title)}</text>")
        top += 18
    if note:
        out.append(f'<text x="{pad_l}" y="{top}" fill="#57606a">{html.escape(note)}</text>')
        top += 16
    xs_all = [v for _, xs, _ in series for v in xs if math.isfinite(v)]
    ys_all = [v for _, _, ys in series for v in ys if math.isfinite(v)]
    if not xs_all or not ys_all:
        out.append(f'<text x="{pad_l}" y="{height // 2}">waiting for numeric data\u2026</text>')
        return "".join(out) + "</svg>"
    x0, x1 = x_range if x_range is not None else (min(xs_all), max(xs_all))
    if x1 <= x0:
        x1 = x0 + (1000 if time_axis else 1)
    y0, y1 = min(ys_all), max(ys_all)
    if y1 <= y0:
        y0, y1 = y0 - 1, y1 + 1
    y_step = nice_step(y1 - y0)
    y0, y1 = math.floor(y0 / y_step) * y_step, math.ceil(y1 / y_step) * y_step
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    sx, sy = inner_w / (x1 - x0), inner_h / (y1 - y0)
    bottom = height - pad_b

    def px(v: float) -> float:
        return pad_l + (v - x0) * sx

    def py(v: float) -> float:
        return bottom - (v - y0) * sy

    # legend: colored swatches and names, four a row, above the plot
    for i, (name, _, _) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        lx, ly = pad_l + (i % 4) * ((width - pad_l) // 4), top + 16 * (i // 4)
        out.append(f'<text x="{lx}" y="{ly}" fill="{color}" font-weight="bold">'
                   f"\u2014 {html.escape(_cut(name, 28))}</text>")
    out.append('<g stroke="#e1e4e8">')
    value = y0
    labels = []
    while value <= y1 + y_step / 2:
        out.append(f'<line x1="{pad_l}" y1="{py(value):.1f}" x2="{width - pad_r}" '
                   f'y2="{py(value):.1f}"/>')
        labels.append(f'<text x="{pad_l - 6}" y="{py(value) + 4:.1f}" text-anchor="end">'
                      f"{_number(value, y_step)}</text>")
        value += y_step
    if time_axis:
        ticks, fmt = time_ticks(x0, x1)
        tick_labels = [_clock(t, fmt) for t in ticks]
    else:
        x_step = nice_step(x1 - x0, 6)
        ticks = [math.ceil(x0 / x_step) * x_step + i * x_step
                 for i in range(int((x1 - x0) / x_step) + 2)]
        ticks = [t for t in ticks if x0 <= t <= x1]
        tick_labels = [_number(t, x_step) for t in ticks]
    for t in ticks:
        out.append(f'<line x1="{px(t):.1f}" y1="{pad_t}" x2="{px(t):.1f}" y2="{bottom}"/>')
        labels.append(f'<text x="{px(t):.1f}" y="{bottom + 14}" text-anchor="middle">'
                      f"{html.escape(tick_labels[ticks.index(t)])}</text>")
    out.append("</g>")
    out.append(f'<rect x="{pad_l}" y="{pad_t}" width="{inner_w}" height="{inner_h}" '
               'fill="none" stroke="#8c959f"/>')
    out.extend(labels)
    out.append(f'<text x="{pad_l + inner_w / 2:.0f}" y="{height - 8}" text-anchor="middle" '
               f'fill="#57606a">{html.escape(x_label)}</text>')
    if y_label:
        out.append(f'<text transform="translate(14,{pad_t + inner_h / 2:.0f}) rotate(-90)" '
                   f'text-anchor="middle" fill="#57606a">{html.escape(y_label)}</text>')
    for i, (_, xs, ys) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        points = [f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs, ys, strict=False)
                  if math.isfinite(a) and math.isfinite(b) and x0 <= a <= x1]
        if len(points) == 1:
            a, b = points[0].split(",")
            out.append(f'<circle cx="{a}" cy="{b}" r="2" fill="{color}"/>')
        elif points:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.2" '
                       f'stroke-linejoin="round" points="{" ".join(points)}"/>')
    return "".join(out) + "</svg>"


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def plot_svg(data: PlotWindow, *, title: str, note: str = "") -> str:
    """A live plot's points as a static SVG chart: axes, labels, legend, the whole window."""
    series = [(s.name, s.t.astype(float).tolist() if data.time_axis else s.x.tolist(),
               s.y.tolist()) for s in data.series()]
    span = data.span() if data.time_axis else None
    x_range = (float(span[0]), float(span[1])) if span is not None else None
    return svg_chart(series, x_range=x_range, time_axis=data.time_axis,
                     x_label="event time (UTC)" if data.time_axis else data.x,
                     y_label=", ".join(data.y), title=title, note=note)
