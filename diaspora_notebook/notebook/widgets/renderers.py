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
