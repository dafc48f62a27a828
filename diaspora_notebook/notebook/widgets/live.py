"""ipywidgets views of a ``LiveDataFrame``: a live table with counters, Pause/Stop, a live plot.

These are skins: all state is in the ``LiveDataFrame``. A small daemon thread per view refreshes
the widgets at most ``refresh_hz`` times a second, only by setting widget values (ipywidgets 8
sends those as comm messages, which is safe from a thread); it never prints. ipywidgets is
imported when a view is built, not when this module is imported.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.stream.live import LiveDataFrame

log = logging.getLogger(__name__)

_CELL_CHARS = 60
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_STATE_COLORS = {"running": "#2ca02c", "paused": "#ff9800", "retrying": "#d62728",
                 "starting": "#888", "stopped": "#555", "failed": "#d62728"}


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:
        raise DiasporaUsageError(
            "the live view needs ipywidgets, which is not installed",
            hint="pip install ipywidgets; meanwhile use live.df and live.stats",
        ) from exc
    return ipywidgets


class Refresher:
    """Calls ``refresh`` at most ``hz`` times a second until the stream stops or ``close()``.

    :param live: the stream watched (its end ends the refresher after one last refresh)
    :param refresh: what to call; exceptions are logged at debug level, never printed
    :param hz: most calls per second
    """

    def __init__(self, live: LiveDataFrame, refresh: Callable[[], None], hz: float) -> None:
        self.live = live
        self.refresh = refresh
        self.period = 1.0 / hz
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, name="diaspora-live-view", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.closed.wait(self.period):
            done = not self.live.running
            try:
                self.refresh()
            except Exception:  # a view must never break the kernel or print from a thread
                log.debug("live view refresh failed", exc_info=True)
            if done:
                return

    def close(self) -> None:
        self.closed.set()


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


def counters_html(live: LiveDataFrame) -> str:
    s = live.stats
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


def error_html(live: LiveDataFrame) -> str:
    s = live.stats
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


class LiveView:
    """The newest rows of a ``LiveDataFrame`` as a table, with counters, Pause and Stop.

    :param live: the stream to show
    :param rows: rows shown in the table
    :param autorefresh: start the refresher thread (tests call ``refresh()`` themselves)
    """

    def __init__(self, live: LiveDataFrame, *, rows: int = 10, autorefresh: bool = True) -> None:
        w = _ipywidgets()
        self.live = live
        self.rows = rows
        self._shown_version = -1
        self._lock = threading.Lock()
        self.title = w.HTML(
            f"<b>LiveDataFrame</b> <code>{html.escape(', '.join(live.topics))}</code>"
        )
        self.counters = w.HTML()
        self.errors = w.HTML()
        self.table = w.HTML(layout=w.Layout(overflow="auto", min_height="2em"))
        self.pause_button = w.Button(description="Pause", icon="pause",
                                     tooltip="stop adding rows; nothing is lost")
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip="close the consumer; the rows stay in .df")
        self.pause_button.on_click(self._on_pause)
        self.stop_button.on_click(self._on_stop)
        self.widget = w.VBox([
            w.HBox([self.title, self.pause_button, self.stop_button]),
            self.counters, self.errors, self.table,
        ])
        self.refresh()
        self.refresher = Refresher(live, self.refresh, live.refresh_hz) if autorefresh else None

    def _on_pause(self, _button: Any) -> None:
        if self.live.stats.paused:
            self.live.resume()
        else:
            self.live.pause()
        self.refresh()

    def _on_stop(self, _button: Any) -> None:
        self.live.stop(timeout=3.0)  # the thread finishes on its own if it takes longer
        self.refresh()

    def refresh(self) -> None:
        """Bring the widgets up to date (only values that changed are sent)."""
        with self._lock:
            live = self.live
            _set(self.counters, counters_html(live))
            _set(self.errors, error_html(live))
            version = live.version
            if version != self._shown_version:
                self._shown_version = version
                _set(self.table, table_html(live.tail(self.rows)))
            paused = live.stats.paused
            _set(self.pause_button, "Resume" if paused else "Pause", "description")
            _set(self.pause_button, "play" if paused else "pause", "icon")
            stopped = not live.running
            _set(self.pause_button, stopped, "disabled")
            _set(self.stop_button, stopped, "disabled")

    def close(self) -> None:
        """Stop refreshing and close the widgets (the stream keeps running)."""
        if self.refresher is not None:
            self.refresher.close()
        for widget in (self.title, self.counters, self.errors, self.table, self.pause_button,
                       self.stop_button, *self.widget.children, self.widget):
            widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _set(widget: Any, value: Any, name: str = "value") -> None:
    if getattr(widget, name) != value:
        setattr(widget, name, value)


def svg_lines(x: Sequence[float], ys: dict[str, Sequence[float]], *, width: int = 640,
              height: int = 220) -> str:
    """A minimal SVG line plot (no plotting library needed); NaNs break the line."""
    import math

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
        color = _COLORS[i % len(_COLORS)]
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


class LivePlot:
    """A live line plot of numeric columns of a ``LiveDataFrame`` (SVG in an HTML widget).

    :param live: the stream to plot
    :param y: numeric columns to draw (non-numeric values become gaps)
    :param x: x-axis column (default ``timestamp``, in seconds since the first row shown)
    :param last: newest rows drawn
    :param autorefresh: start the refresher thread
    """

    def __init__(self, live: LiveDataFrame, *, y: Sequence[str], x: str | None = None,
                 last: int = 500, autorefresh: bool = True) -> None:
        if not y:
            raise DiasporaUsageError("plot needs at least one y column",
                                     hint="e.g. live.plot(y=['temperature'])")
        w = _ipywidgets()
        self.live = live
        self.y = list(y)
        self.x = x
        self.last = last
        self._shown_version = -1
        self._lock = threading.Lock()
        self.image = w.HTML()
        self.counters = w.HTML()
        self.widget = w.VBox([self.image, self.counters])
        self.refresh()
        self.refresher = Refresher(live, self.refresh, live.refresh_hz) if autorefresh else None

    def refresh(self) -> None:
        import pandas as pd

        with self._lock:
            _set(self.counters, counters_html(self.live))
            version = self.live.version
            if version == self._shown_version:
                return
            self._shown_version = version
            df = self.live.tail(self.last)
            if self.x is None or self.x == "timestamp":
                stamps = df["timestamp"]
                base = stamps.min() if len(df) else None
                xs = ((stamps - base).dt.total_seconds() if base is not None
                      else pd.Series(dtype=float))
            else:
                xs = pd.to_numeric(df.get(self.x, pd.Series(index=df.index, dtype=float)),
                                   errors="coerce")
            ys = {
                name: pd.to_numeric(df[name], errors="coerce").astype(float).tolist()
                if name in df.columns else [float("nan")] * len(df)
                for name in self.y
            }
            _set(self.image, svg_lines(xs.astype(float).tolist(), ys))

    def close(self) -> None:
        if self.refresher is not None:
            self.refresher.close()
        for widget in (self.image, self.counters, self.widget):
            widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def display_view(live: LiveDataFrame, *, rows: int = 10) -> LiveView | None:
    """What displaying a ``LiveDataFrame`` shows: the live table in a kernel, else nothing."""
    return LiveView(live, rows=rows) if _in_kernel() else None


def register_views() -> None:
    """Give every ``LiveDataFrame`` these views (the extension calls this when it loads)."""
    from diaspora_notebook.stream.views import register_view

    register_view("table", LiveView)
    register_view("plot", LivePlot)
    register_view("display", display_view)
