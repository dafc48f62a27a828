"""``live.plot(...)`` with bqplot: a time axis from the events' timestamps, several series, hover
and zoom, updated from a background thread.

Each refresh sends at most ``2 * buckets`` points per series whatever the window holds: the
window is decimated min/max per bucket (peaks survive, a 100k-point window costs what 2,000
points cost), and the arrays go as binary buffers (bqplot's serializer), in one message per
refresh (``hold_sync``). While it runs, a companion record (``record.Companion``: a static SVG
of the window and the counters, at most every :attr:`LiveChart.record_interval` s) is what an
export or a notebook reopened without its kernel shows, since bqplot's JavaScript is not there
(nbconvert's HTML loads it from a CDN, so an offline export showed nothing, and without widget
state it showed the figure's ``repr``). When the stream ends, the output becomes the static SVG
(``Recorded``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.notebook.widgets.live import LivePlot
from diaspora_notebook.notebook.widgets.record import Companion, Recorded
from diaspora_notebook.notebook.widgets.refresher import ENDED, Refresher
from diaspora_notebook.notebook.widgets.renderers import COLORS, counters_html, svg_lines

if TYPE_CHECKING:
    from diaspora_notebook.stream.views import LiveFeed

PALETTE = COLORS


def decimate(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """The min and max of ``y`` in each of ``buckets`` equal slices, in order (NaN skipped).

    Short series come back unchanged; a long one keeps its peaks, which a plain stride loses.
    """
    n = len(y)
    if n <= 2 * buckets:
        return x, y
    width = n // buckets
    usable = width * buckets
    block = y[n - usable:].reshape(buckets, width)  # the newest points, in full buckets
    filled = np.where(np.isnan(block), np.inf, block)
    lows = filled.argmin(axis=1)
    filled = np.where(np.isnan(block), -np.inf, block)
    highs = filled.argmax(axis=1)
    first, second = np.minimum(lows, highs), np.maximum(lows, highs)
    offsets = np.arange(buckets) * width + (n - usable)
    picks = np.column_stack([offsets + first, offsets + second]).ravel()
    return x[picks], y[picks]


def _bqplot() -> Any:
    try:
        import bqplot
    except ImportError:
        raise DiasporaUsageError("the live chart needs bqplot",
                                 hint="pip install bqplot (then restart JupyterLab)") from None
    return bqplot


class LiveChart(Companion):
    """A live line chart of numeric columns of a ``LiveDataFrame`` (bqplot).

    :param live: the stream to plot
    :param y: numeric columns, one line each
    :param x: x column (default: the event ``timestamp``, on a time axis)
    :param last: newest rows plotted (the window)
    :param buckets: at most ``2 * buckets`` points per line are sent per refresh
    :param autorefresh: start the refresher thread
    """

    #: a record redraws the whole window as SVG: rarely, never at the chart's rate
    record_interval = 5.0

    def __init__(self, live: LiveFeed, *, y: Sequence[str], x: str | None = None,
                 last: int = 100_000, buckets: int = 1_000, autorefresh: bool = True) -> None:
        if not y:
            raise DiasporaUsageError("plot needs at least one y column",
                                     hint="e.g. live.plot(y=['temperature'])")
        import ipywidgets as w

        bq = _bqplot()
        self.live, self.y, self.x = live, list(y), x or "timestamp"
        self.record_title = f"Live chart of {', '.join(self.y)}"
        self.last, self.buckets = last, buckets
        self._lock = threading.Lock()
        self._shown_version = -1
        time_axis = self.x == "timestamp"
        self.x_scale = bq.DateScale() if time_axis else bq.LinearScale()
        self.y_scale = bq.LinearScale()
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.lines = [
            bq.Lines(x=np.array([], dtype="datetime64[ms]" if time_axis else float),
                     y=np.array([], dtype=float), scales=scales, labels=[name],
                     colors=[PALETTE[i % len(PALETTE)]], display_legend=True,
                     tooltip=bq.Tooltip(fields=["name"]))
            for i, name in enumerate(self.y)]
        axes = [bq.Axis(scale=self.x_scale, label="event time" if time_axis else self.x,
                        grid_lines="none",
                        # readable clock times, not d3's ".780 .800" for sub-second ticks
                        **({"tick_format": "%H:%M:%S"} if time_axis else {})),
                bq.Axis(scale=self.y_scale, orientation="vertical", grid_lines="dashed")]
        self.figure = bq.Figure(marks=self.lines, axes=axes, legend_location="top-left",
                                interaction=bq.interacts.PanZoom(
                                    scales={"x": [self.x_scale], "y": [self.y_scale]}),
                                layout=w.Layout(width="100%", height="300px"),
                                fig_margin={"top": 20, "bottom": 40, "left": 60, "right": 20})
        self.counters = w.HTML()
        self.widget = w.VBox([self.figure, self.counters])
        self.refresh()
        self.refresher = Refresher(live, self.refresh, live.refresh_hz) if autorefresh else None

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def series(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """x and every y column of the window, as arrays (NaN where a value is not a number)."""
        import pandas as pd

        df = self.live.tail(self.last)
        if self.x == "timestamp":
            xs = df["timestamp"].to_numpy(dtype="datetime64[ms]") if len(df) else \
                np.array([], dtype="datetime64[ms]")
        else:
            column = df[self.x] if self.x in df.columns else pd.Series(np.nan, index=df.index)
            xs = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        ys = {name: (pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
                     if name in df.columns else np.full(len(df), np.nan))
              for name in self.y}
        return xs, ys

    def refresh(self) -> None:
        """Send the decimated window if rows arrived; leave a record once the stream ended."""
        with self._lock:
            if self.counters.value != (text := counters_html(self.live.stats)):
                self.counters.value = text
            version = self.live.version
            if version != self._shown_version:
                self._shown_version = version
                xs, ys = self.series()
                with self.figure.hold_sync():
                    for line, name in zip(self.lines, self.y, strict=True):
                        x, y = decimate(xs, ys[name], self.buckets)
                        with line.hold_sync():
                            line.x, line.y = x, y
                self.update_record()
            if not self.live.running and self.live.state in ENDED and self.finished_html is None:
                self.finish(self.record_body())

    def record_body(self) -> str:
        """The last state as a static SVG (no JavaScript needed to read it)."""
        xs, ys = self.series()
        if self.x == "timestamp" and len(xs):
            seconds = (xs - xs[0]).astype("timedelta64[ms]").astype(float) / 1000.0
        else:
            seconds = xs.astype(float)
        step = max(1, len(seconds) // 1_000)  # a record, not a chart: one shared x is enough
        svg = svg_lines(seconds[::step].tolist(), {n: v[::step].tolist() for n, v in ys.items()})
        return f"<div>{svg}<div>{self.counters.value}</div></div>"

    def close(self) -> None:
        if self.refresher is not None:
            self.refresher.close()
        for widget in (*self.lines, self.figure, self.counters, self.widget):
            widget.close()


class RecordedPlot(Recorded, LivePlot):
    """The SVG plot (where bqplot is not installed), which leaves its last SVG as a record
    when the stream ends, as :class:`LiveChart` does."""

    def refresh(self) -> None:
        super().refresh()
        # the refresher's last call waits for the thread to say how the stream ended
        if not self.live.running and self.live.state in ENDED and self.finished_html is None:
            self.finish(self.record_html())

    def record_html(self) -> str:
        """The last SVG and counters (no JavaScript needed to read it)."""
        return f"<div>{self.image.value}{self.counters.value}</div>"


def live_plot(live: LiveFeed, **options: Any) -> Any:
    """The ``"plot"`` view: the bqplot chart, or the SVG plot where bqplot is not installed."""
    try:
        import bqplot  # noqa: F401
    except ImportError:
        return RecordedPlot(live, **options)
    return LiveChart(live, **options)


def register_chart() -> None:
    """Make ``LiveDataFrame.plot()`` draw with bqplot (the extension calls this when it loads)."""
    from diaspora_notebook.stream.views import register_view

    register_view("plot", live_plot)
