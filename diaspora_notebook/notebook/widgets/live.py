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
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.notebook.widgets.grid import GRID_ROWS, LiveGrid, grid_available
from diaspora_notebook.notebook.widgets.record import Companion

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.stream.live import LiveDataFrame

log = logging.getLogger(__name__)

_CELL_CHARS = 60
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
#: states a stream ends in (its thread records one when it is done)
ENDED = ("stopped", "failed")
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
    """Calls ``refresh`` at most ``hz`` times a second until the stream stops or ``close()``,
    slower when refreshing is expensive or the kernel is busy (an adaptive throttle).

    Like Perspective's throttle, the period is at least a multiple of what refreshes cost, so
    views never take more than a fraction of a core. The cost is the mean of the last few
    refreshes (Perspective's moving window): one slow refresh, such as the first (8,000 rows at
    once, code paths run for the first time) must not stretch the next wait to half a second
    while events pile up. When the refresher wakes up late (the kernel's main thread holds the
    GIL doing the user's work), the period grows, then decays back to ``1/hz`` once wake-ups are
    on time again. Refreshes start a period apart (not a period after the last one ended), so a
    refresh's cost is not added to every event's wait. When a period passes with no new rows,
    the refresher waits for the next ones (up to ``IDLE_S``, so counters stay current) and
    refreshes as they land: the first event after a quiet spell, and every event of a slow
    stream, is shown at once instead of on the next tick (up to a period later).

    :param live: the stream watched (its end ends the refresher after one last refresh)
    :param refresh: what to call; exceptions are logged at debug level, never printed
    :param hz: most calls per second
    """

    COST_FACTOR = 5.0  # refresh at most 1/5 of the time: views stay a small share of a core
    # waking up this late means the process is starved (the kernel's cell or the stream itself
    # holds the GIL); below it is scheduling noise on a loaded machine, not worth slowing for
    LATE_S = 0.25
    MAX_PERIOD_S = 1.0
    COST_WINDOW = 5  # refreshes whose mean cost sets the floor (Perspective averages 5 renders)
    IDLE_S = 0.25  # most time between refreshes while no rows arrive (counters, state)

    def __init__(self, live: LiveDataFrame, refresh: Callable[[], None], hz: float,
                 *, start: bool = True) -> None:
        self.live = live
        self.refresh = refresh
        self.base = 1.0 / hz
        self.period = self.base
        # counted as cheap until measured: the first refreshes alone do not set the floor
        self.costs: deque[float] = deque([0.0] * self.COST_WINDOW, maxlen=self.COST_WINDOW)
        self.late = 0.0
        self.refreshes = 0
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, name="diaspora-live-view", daemon=True)
        if start:
            self.thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        planned = last + self.period
        seen = self.live.version
        while True:
            if self.closed.wait(max(planned - time.monotonic(), 0.0)):
                return
            self.late = max(time.monotonic() - planned, 0.0)
            if self.live.running:  # nothing new yet: refresh when the next rows land
                self.live.wait_changed(seen, max(last + self.IDLE_S - time.monotonic(), 0.0))
                if self.closed.is_set():
                    return
            version = self.live.version
            had_rows, seen = version != seen, version
            done = not self.live.running
            if done:  # the last refresh must show how it ended, not a stale "running"
                self._settle()
            started = time.monotonic()
            try:
                self.refresh()
            except Exception:  # a view must never break the kernel or print from a thread
                log.debug("live view refresh failed", exc_info=True)
            self.costs.append(time.monotonic() - started)
            self.refreshes += 1
            self.period = self.next_period(self.period, sum(self.costs) / len(self.costs),
                                           self.late)
            if done:
                return
            # the period spaces refreshes that carry rows; after one that only updated the
            # counters, the next rows are shown as they land
            last = started
            planned = started + self.period if had_rows else started

    def _settle(self, timeout: float = 5.0) -> None:
        """Wait until the consumer thread has recorded how it ended (stopped or failed)."""
        deadline = time.monotonic() + timeout
        while self.live.state not in ENDED and time.monotonic() < deadline:
            if self.closed.wait(0.05):
                return

    def next_period(self, period: float, cost: float, late: float) -> float:
        """The time from one refresh's start to the next, from the mean cost of the last
        refreshes and how late the refresher woke up."""
        if late > self.LATE_S:
            wanted = min(period * 1.5, self.MAX_PERIOD_S)
        else:
            wanted = max(self.base, period * 0.5)
        return min(max(wanted, cost * self.COST_FACTOR), self.MAX_PERIOD_S)

    def close(self) -> None:
        self.closed.set()
        self.live.wake_waiters()  # a refresher waiting for rows ends now


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


def counters_html(live: LiveDataFrame, stats: Any = None) -> str:
    s = stats if stats is not None else live.stats
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


def error_html(live: LiveDataFrame, stats: Any = None) -> str:
    s = stats if stats is not None else live.stats
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


class LiveView(Companion):
    """A ``LiveDataFrame`` as a live grid, with counters, Pause and Stop.

    The grid is Perspective's datagrid (:class:`~diaspora_notebook.notebook.widgets.grid.
    LiveGrid`): newest rows first, sortable, scrollable through up to ``grid_rows`` rows, fed
    only the rows that arrived since the last refresh. Without perspective-python the view
    shows the newest ``rows`` as an HTML table instead.

    While the stream runs, a companion record (``Companion``: counters and the newest ``rows``
    rows, at most every 5 s) follows the view, hidden next to it; once the stream has stopped,
    the view's own output becomes that record. A saved notebook, reopened without its kernel or
    exported, shows the table, not "model not found".

    :param live: the stream to show
    :param rows: rows in the static record (and in the table without perspective-python)
    :param autorefresh: start the refresher thread (tests call ``refresh()`` themselves)
    :param max_cols: most columns in the static record
    :param grid_rows: most rows the grid holds (append mode)
    """

    def __init__(self, live: LiveDataFrame, *, rows: int = 10, autorefresh: bool = True,
                 max_cols: int = 20, grid_rows: int = GRID_ROWS) -> None:
        w = _ipywidgets()
        self._w = w
        self.live = live
        self.rows = rows
        self.max_cols = max_cols
        self._shown_version = -1
        self._lock = threading.Lock()
        self.title = w.HTML(
            f"<b>LiveDataFrame</b> <code>{html.escape(', '.join(live.topics))}</code>"
        )
        self.counters = w.HTML()
        self.errors = w.HTML()
        self.drift = w.HTML()
        self.grid: LiveGrid | None = LiveGrid(live, limit=grid_rows) if grid_available() else None
        self.table: Any = self.grid.widget if self.grid is not None else w.HTML(
            layout=w.Layout(overflow="auto"))
        self.pause_button = w.Button(description="Pause", icon="pause",
                                     tooltip="stop adding rows; nothing is lost")
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip="close the consumer; the rows stay in .df")
        self.pause_button.on_click(self._on_pause)
        self.stop_button.on_click(self._on_stop)
        self.widget = w.VBox([
            w.HBox([self.title, self.pause_button, self.stop_button]),
            self.counters, self.errors, self.drift, self._holder(),
        ])
        self.widget.add_class("diaspora-live")
        self.refresh()
        self.refresher: Refresher | None = None
        if autorefresh:
            self.start_refresher()

    def _holder(self) -> Any:
        """A new box around the table. Perspective's front end opens its table when it draws,
        so a grid with a new table must be drawn anew, and a box the browser has never seen
        is drawn anew for sure (taking the grid out and back in can be merged into no change
        when both updates arrive together)."""
        return self._w.Box([self.table], layout=self._w.Layout(overflow="visible"))

    def start_refresher(self) -> Refresher:
        """Refresh in a background thread from now on (adaptive rate, see ``Refresher``)."""
        if self.refresher is None:
            self.refresher = Refresher(self.live, lambda: self.refresh(), self.live.refresh_hz)
        return self.refresher

    def _on_pause(self, _button: Any) -> None:
        if self.live.stats.paused:
            self.live.resume()
        else:
            self.live.pause()
        self.refresh()

    def _on_stop(self, _button: Any) -> None:
        self.live.stop(timeout=3.0)  # the thread finishes on its own if it takes longer
        self.refresh()

    def table_html(self) -> str:
        """The newest ``rows`` rows as static HTML (the record, and the table without
        perspective-python)."""
        return table_html(self.live.tail(self.rows), max_cols=self.max_cols)

    def refresh(self) -> None:
        """Bring the widgets up to date (the grid gets only the new rows)."""
        with self._lock:
            live = self.live
            version = live.version
            if version != self._shown_version:
                self._shown_version = version
                if self.grid is not None:
                    *head, old = self.widget.children
                    try:
                        redraw = self.grid.refresh(undraw=lambda: setattr(old, "children", ()))
                    except Exception:
                        redraw = not old.children  # taken out, then loading failed: show it
                        raise
                    finally:
                        if redraw:  # a new table: the browser draws the grid again, anew
                            self.widget.children = (*head, self._holder())
                            old.close()
                else:
                    _set(self.table, self.table_html())
            stats = live.stats  # after the rows: their decode errors are counted by now
            _set(self.counters, counters_html(live, stats))
            _set(self.errors, error_html(live, stats))
            _set(self.drift, drift_html(stats))
            paused = stats.paused
            _set(self.pause_button, "Resume" if paused else "Pause", "description")
            _set(self.pause_button, "play" if paused else "pause", "icon")
            stopped = not live.running
            _set(self.pause_button, stopped, "disabled")
            _set(self.stop_button, stopped, "disabled")
            # the record waits for the thread to say how it ended (never a frozen "running")
            if stopped and stats.state in ENDED and self.finished_html is None:
                self.finish(self.record_body())
            else:
                self.update_record()

    record_title = "Live table"
    record_interval = 5.0

    def record_body(self) -> str:
        """The view's last state as static HTML (what a reopened notebook shows)."""
        return (f"<div>{self.title.value}<br>{self.counters.value}{self.errors.value}"
                f"{self.drift.value}{self.table_html()}</div>")

    def close(self) -> None:
        """Stop refreshing and close the widgets (the stream keeps running)."""
        if self.refresher is not None:
            self.refresher.close()
        if self.grid is not None:
            self.grid.close()
        else:
            self.table.close()
        for widget in (self.title, self.counters, self.errors, self.drift, self.pause_button,
                       self.stop_button, *self.widget.children, self.widget):
            widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _set(widget: Any, value: Any, name: str = "value") -> None:
    if getattr(widget, name) != value:
        setattr(widget, name, value)


def svg_lines(x: Sequence[float], ys: Mapping[str, Sequence[float]], *, width: int = 640,
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


def show_live(live: LiveDataFrame) -> None:
    """How IPython displays a ``LiveDataFrame``: in a kernel the live table under a display id
    (so it can turn into a record when the stream stops), elsewhere the text/HTML summary."""
    from IPython.display import display

    if _in_kernel():
        LiveView(live)._ipython_display_()
    else:
        display({"text/plain": repr(live), "text/html": live._repr_html_()}, raw=True)


def register_views() -> None:
    """Give every ``LiveDataFrame`` these views (the extension calls this when it loads)."""
    from diaspora_notebook.stream.live import LiveDataFrame
    from diaspora_notebook.stream.views import register_view

    register_view("table", LiveView)
    register_view("plot", LivePlot)
    register_view("display", display_view)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:  # displaying goes through the view's display id (see Recorded)
        shell.display_formatter.ipython_display_formatter.for_type(LiveDataFrame, show_live)
