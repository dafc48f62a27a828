"""``live.plot(...)`` with bqplot: the newest ``window`` of event time, one line per key (or per
a ``by=`` column), clock-time labels, hover, updated from a background thread.

The points come from :class:`~diaspora_notebook.stream.plotdata.PlotWindow` (no widgets: the
time window, the series, the downsampling that keeps each slice's minimum and maximum), which
reads the stream through its ``LiveFeed`` only, so any feed plots (a live aggregate too). Each
refresh sends at most about ``2 * buckets`` points per series, as binary buffers (bqplot's
serializer), in one message (``hold_sync``). While it runs, a companion record
(``record.Companion``: a static SVG chart with axes, labels, legend and the window, at most
every :attr:`LiveChart.record_interval` s) is what an export or a notebook reopened without
its kernel shows, since bqplot's JavaScript is not there. When the stream ends, the output
becomes that chart (``Recorded``).
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
from diaspora_notebook.notebook.widgets.renderers import COLORS, counters_html, plot_svg
from diaspora_notebook.stream.plotdata import PlotWindow

if TYPE_CHECKING:
    from diaspora_notebook.stream.views import LiveFeed

PALETTE = COLORS
#: most redraws of a chart per second: a chart redraws its axes and every line, and a person
#: watching a trend needs no more (the live table keeps the stream's own rate)
PLOT_HZ = 4.0


def _bqplot() -> Any:
    try:
        import bqplot
    except ImportError:
        raise DiasporaUsageError("the live chart needs bqplot",
                                 hint="pip install bqplot (then restart JupyterLab)") from None
    return bqplot


def tick_format(window: float) -> str:
    """d3's format of the time axis' ticks for a window of ``window`` seconds: clock times
    (d3's own picks read ".780 .800" for ticks under a second)."""
    if window <= 10:
        return "%H:%M:%S.%L"
    return "%H:%M" if window >= 2 * 3600 else "%H:%M:%S"


def legend_html(entries: Sequence[tuple[str, str]]) -> str:
    """The lines' names in their colors, on one wrapping line."""
    import html

    return "".join(f'<span style="color:{color};font-weight:bold;margin-right:1.5em;'
                   f'white-space:nowrap">\u2014 {html.escape(name)}</span>'
                   for name, color in entries)


class LiveChart(Companion):
    """A live line chart of numeric columns of a stream (bqplot).

    :param live: the stream to plot (read through its ``LiveFeed`` only)
    :param y: numeric columns
    :param x: x column (default: the event ``timestamp``, on a time axis)
    :param by: the column that splits each ``y`` into lines (default: the Kafka key, while
        there are few keys); ``False``: one line per column
    :param window: event time shown (``"60s"``, ``"5min"``, seconds); default from the rate
    :param buckets: slices of the window; at most two points per slice and line are sent
    :param autorefresh: start the refresher thread
    """

    #: a record redraws the whole window as SVG: rarely, never at the chart's rate
    record_interval = 5.0

    def __init__(self, live: LiveFeed, *, y: Sequence[str], x: str | None = None,
                 by: str | bool | None = None, window: Any = None, buckets: int = 500,
                 max_series: int = 12, autorefresh: bool = True) -> None:
        import ipywidgets as w

        bq = _bqplot()
        self.data = PlotWindow(live, y=y, x=x, by=by, window=window, buckets=buckets,
                               max_series=max_series)
        self.live, self.y, self.x = live, self.data.y, self.data.x
        self.record_title = f"Live plot of {', '.join(self.y)}"
        self._lock = threading.Lock()
        self._bq = bq
        self._drawn = False
        time_axis = self.data.time_axis
        self.x_scale = bq.DateScale() if time_axis else bq.LinearScale()
        self.y_scale = bq.LinearScale()
        self.lines: dict[str, Any] = {}
        self.x_axis = bq.Axis(scale=self.x_scale, grid_lines="solid", grid_color="#eee",
                              label="event time" if time_axis else self.x, num_ticks=6,
                              **({"tick_format": tick_format(self.data.window)}
                                 if time_axis else {}))
        axes = [self.x_axis,
                bq.Axis(scale=self.y_scale, orientation="vertical", grid_lines="dashed",
                        label=", ".join(self.y))]
        self.figure = bq.Figure(marks=[], axes=axes, legend_location="top-left",
                                animation_duration=0,
                                interaction=bq.interacts.PanZoom(scales={"y": [self.y_scale]}),
                                layout=w.Layout(width="100%", height="320px"),
                                fig_margin={"top": 20, "bottom": 45, "left": 65, "right": 45})
        self.legend = w.HTML()  # above the figure: bqplot's own legend hides lines under it
        self.note = w.HTML()
        self.counters = w.HTML()
        self.widget = w.VBox([self.legend, self.figure, self.note, self.counters])
        self.refresh()
        self.refresher = Refresher(live, self.refresh, min(live.refresh_hz, PLOT_HZ)) \
            if autorefresh else None

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _line(self, name: str) -> Any:
        line = self.lines.get(name)
        if line is None:
            bq = self._bq
            line = bq.Lines(x=np.array([], dtype="datetime64[ms]" if self.data.time_axis
                                       else float),
                            y=np.array([], dtype=float),
                            scales={"x": self.x_scale, "y": self.y_scale}, labels=[name],
                            colors=[PALETTE[len(self.lines) % len(PALETTE)]],
                            display_legend=False, stroke_width=1.5,
                            tooltip=bq.Tooltip(fields=["name"]))
            self.lines[name] = line
        return line

    def refresh(self) -> None:
        """Send the new points if events arrived; leave a record once the stream ended."""
        with self._lock:
            if self.counters.value != (text := counters_html(self.live.stats)):
                self.counters.value = text
            if self.data.update() or not self._drawn:
                self._drawn = True
                self._draw()
                self.update_record()
            if not self.live.running and self.live.state in ENDED and self.finished_html is None:
                if self.data.update():  # the last events, read after the stream ended
                    self._draw()
                self.finish(self.record_body())

    def _draw(self) -> None:
        series = self.data.series()
        known = len(self.lines)
        with self.figure.hold_sync():
            drawn = set()
            for s in series:
                line = self._line(s.name)
                drawn.add(s.name)
                with line.hold_sync():
                    line.x, line.y = s.x, s.y
            for name, line in self.lines.items():  # a line whose points left the window
                if name not in drawn and len(line.y):
                    line.x, line.y = line.x[:0], line.y[:0]
            if len(self.lines) != known:
                self.figure.marks = list(self.lines.values())
                self.legend.value = legend_html(
                    [(name, line.colors[0]) for name, line in self.lines.items()])
            span = self.data.span()
            if self.data.time_axis and span is not None:
                self.x_scale.min = np.datetime64(span[0], "ms").astype(object)
                self.x_scale.max = np.datetime64(span[1], "ms").astype(object)
                fmt = tick_format(self.data.window)
                if self.x_axis.tick_format != fmt:
                    self.x_axis.tick_format = fmt
        note = f'<span style="color:#57606a">{self.data.describe()}</span>'
        if self.note.value != note:
            self.note.value = note

    def record_body(self) -> str:
        """The last window as a static SVG chart (no JavaScript needed to read it)."""
        with_counters = f"<div>{self.counters.value}</div>"
        return (f"<div>{plot_svg(self.data, title=self.record_title, note=self.data.describe())}"
                f"{with_counters}</div>")

    def close(self) -> None:
        if self.refresher is not None:
            self.refresher.close()
        for widget in (*self.lines.values(), self.figure, self.legend, self.note,
                       self.counters, self.widget):
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
