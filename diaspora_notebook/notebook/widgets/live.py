"""The live views of a ``LiveDataFrame``: the table (a grid, counters, Pause and Stop) and the
SVG plot, and how the extension registers them.

These are skins: all state is in the stream, read only through its
:class:`~diaspora_notebook.stream.views.LiveFeed` (:class:`~.views.LiveControl` for the
buttons). A :class:`~diaspora_notebook.notebook.widgets.refresher.Refresher` per view refreshes
the widgets, only by setting widget values (ipywidgets 8 sends those as comm messages, which is
safe from a thread); the HTML and SVG come from :mod:`~.renderers`. ipywidgets is imported when
a view is built, not when this module is imported.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.notebook.widgets.grid import (
    GRID_HEIGHT,
    GRID_ROWS,
    LiveGrid,
    grid_available,
)
from diaspora_notebook.notebook.widgets.record import Companion
from diaspora_notebook.notebook.widgets.refresher import ENDED, Refresher
from diaspora_notebook.notebook.widgets.renderers import (
    counters_html,
    drift_html,
    error_html,
    plot_svg,
    table_html,
)

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.stream.live import LiveDataFrame
    from diaspora_notebook.stream.views import LiveControl, LiveFeed

#: rows of the static record (a stopped view, a reopened notebook), newest first like the grid,
#: scrolled in a box of the grid's height
RECORD_ROWS = 100


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:
        raise DiasporaUsageError(
            "the live view needs ipywidgets, which is not installed",
            hint="pip install ipywidgets; meanwhile use live.df and live.stats",
        ) from exc
    return ipywidgets


class LiveView(Companion):
    """A ``LiveDataFrame`` as a live grid, with counters, Pause and Stop.

    The grid is Perspective's datagrid (:class:`~diaspora_notebook.notebook.widgets.grid.
    LiveGrid`): newest rows first, sortable, scrollable through up to ``grid_rows`` rows, fed
    only the rows that arrived since the last refresh. Without perspective-python the view
    shows the newest ``rows`` as an HTML table instead.

    While the stream runs, a companion record (``Companion``: counters and the newest ``rows``
    rows, at most every 5 s) follows the view, hidden next to it; once the stream has stopped,
    the view's own output becomes that record. A saved notebook, reopened without its kernel or
    exported, shows the table, not "model not found". The record is ordered as the grid is
    (newest first), with the grid's columns, in a box of the grid's height.

    :param live: the stream to show
    :param rows: rows in the static record (and in the table without perspective-python)
    :param autorefresh: start the refresher thread (tests call ``refresh()`` themselves)
    :param max_cols: most columns in the static record
    :param grid_rows: most rows the grid holds (append mode)
    """

    def __init__(self, live: LiveControl, *, rows: int = RECORD_ROWS, autorefresh: bool = True,
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
        """The newest ``rows`` rows as static HTML, newest first as in the grid (the record,
        and the table without perspective-python)."""
        rows = newest_first(self.live.tail(self.rows))
        if self.grid is not None and self.grid.columns:  # what the grid showed
            rows = rows[[c for c in self.grid.columns if c in rows.columns]]
        return (f'<div style="max-height:{GRID_HEIGHT};overflow:auto">'
                f"{table_html(rows, max_cols=self.max_cols)}</div>")

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
            _set(self.counters, counters_html(stats))
            _set(self.errors, error_html(stats))
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


def newest_first(df: pd.DataFrame) -> pd.DataFrame:
    """The rows in the grid's order: newest event time first, then the highest offset."""
    keys = [c for c in ("timestamp", "offset") if c in df.columns]
    if not keys or not len(df):
        return df
    return df.sort_values(keys, ascending=False, kind="stable")


def _set(widget: Any, value: Any, name: str = "value") -> None:
    if getattr(widget, name) != value:
        setattr(widget, name, value)


class LivePlot:
    """A live line plot of a stream as an SVG chart in an HTML widget (where bqplot is not
    installed): the same points as the bqplot chart
    (:class:`~diaspora_notebook.stream.plotdata.PlotWindow`: a time window, a line per key,
    extremes kept), drawn with axes, clock times and a legend.

    :param live: the stream to plot (read through its ``LiveFeed`` only)
    :param y: numeric columns to draw (values that are not numbers are left out)
    :param x: x-axis column (default: the event ``timestamp``)
    :param by: the column that splits each ``y`` into lines (default: the key, while few)
    :param window: event time shown (``"60s"``...; default from the rate)
    :param buckets: slices of the window (two points each per line)
    :param autorefresh: start the refresher thread
    """

    def __init__(self, live: LiveFeed, *, y: Sequence[str], x: str | None = None,
                 by: str | bool | None = None, window: Any = None, buckets: int = 300,
                 max_series: int = 12, autorefresh: bool = True) -> None:
        from diaspora_notebook.stream.plotdata import PlotWindow

        w = _ipywidgets()
        self.data = PlotWindow(live, y=y, x=x, by=by, window=window, buckets=buckets,
                               max_series=max_series)
        self.live = live
        self.y, self.x = self.data.y, self.data.x
        self._drawn = False
        self._lock = threading.Lock()
        self.image = w.HTML()
        self.counters = w.HTML()
        self.widget = w.VBox([self.image, self.counters])
        self.refresh()
        self.refresher = Refresher(live, self.refresh, live.refresh_hz) if autorefresh else None

    def refresh(self) -> None:
        with self._lock:
            _set(self.counters, counters_html(self.live.stats))
            if self.data.update() or not self._drawn:
                self._drawn = True
                _set(self.image, plot_svg(self.data, title=f"Live plot of {', '.join(self.y)}",
                                          note=self.data.describe()))

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


def display_view(live: LiveControl, *, rows: int = RECORD_ROWS) -> LiveView | None:
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
