"""The topic explorer: pages of messages, filter, fields, live tail, detail, schema, groups.

A skin over :class:`~diaspora_notebook.explore.state.ExplorerState`: each control calls one of
its methods, which queues the read on the state's worker thread (a progress bar and Cancel while
it scans), and its ``on_change`` events, called on that worker, redraw the part that changed
from one snapshot of the state. Errors (access denied, a missing topic, a bad filter) show as
one line; server and payload text is always escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diaspora_notebook.explore.query import META
from diaspora_notebook.explore.state import MAX_PAGE, ExplorerSnapshot, ExplorerState
from diaspora_notebook.notebook.errors import widget_message
from diaspora_notebook.notebook.html import esc, grid, kv_table, status_line
from diaspora_notebook.notebook.widgets import ipywidgets
from diaspora_notebook.notebook.widgets.record import Companion

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

_CELL = 80  # characters of a value shown in the table
RECORD_ROWS = 20  # rows of the last page a record keeps (a record, not a copy of the topic)


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= _CELL else text[:_CELL - 1] + "\u2026"


def page_html(frame: pd.DataFrame, *, rows: int | None = None) -> str:
    """The page as an escaped table (long values cut; ``rows``: only the first ones)."""
    shown = frame.drop(columns=[c for c in ("topic", "headers") if c in frame.columns])
    if rows is not None:
        shown = shown.head(rows)
    columns = ["#", *[str(c) for c in shown.columns]]
    return grid(columns, ([i, *(_short(v) for v in row)] for i, row in
                          enumerate(shown.itertuples(index=False))))


class Explorer(Companion):
    """The ``%diaspora_explore`` widget.

    Displayed with a companion record (``record.Companion``): the topic, the query and the
    first :data:`RECORD_ROWS` rows last shown, updated at most every 2 s (the live tail reads
    every second), which is what a notebook reopened without its kernel shows.

    :param store: called with a DataFrame by "to DataFrame" (the magic's ``-o VAR``)
    """

    record_interval = 2.0

    def __init__(self, topic: str, *, client: Client, page_size: int = 50,
                 store: Callable[[pd.DataFrame], None] | None = None, load: bool = True,
                 engine: str = "auto") -> None:
        w = ipywidgets()
        self.state = ExplorerState(topic, client=client, page_size=page_size, engine=engine)
        self.record_title = f"Explore {topic}"
        self.store = store
        self.partitions = w.SelectMultiple(description="Partitions:", rows=3,
                                           layout=w.Layout(width="16em"))
        self.start = w.Dropdown(options=[("newest", "newest"), ("oldest", "oldest"),
                                         ("offset", "offset"), ("date-time", "time")],
                                description="Start:", layout=w.Layout(width="14em"))
        self.offset = w.IntText(description="Offset:", layout=w.Layout(width="12em"))
        self.time = w.Text(placeholder="2026-12-01T10:00 (UTC)", description="Time:",
                           layout=w.Layout(width="18em"))
        self.filter = w.Text(placeholder='value.temp > 30 and key == "s1"',
                             description="Filter:", continuous_update=False,
                             layout=w.Layout(width="40em"))
        self.filter_error = w.HTML()
        self.fields = w.SelectMultiple(description="Fields:", rows=4,
                                       layout=w.Layout(width="22em"))
        self.page_size = w.BoundedIntText(value=page_size, min=1, max=MAX_PAGE,
                                          description="Page size:", layout=w.Layout(width="12em"))
        b = self.buttons = {name: w.Button(description=label, tooltip=tip)
                            for name, label, tip in _BUTTONS}
        self.tail_toggle = w.ToggleButton(description="Live tail", tooltip="follow the newest")
        self.pause_toggle = w.ToggleButton(description="Pause", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="14em"))
        self.message = w.HTML()
        self.table = w.HTML()
        self.row = w.Dropdown(description="Message:", options=[], layout=w.Layout(width="16em"))
        self.detail = w.HTML()
        self.schema_box, self.groups_box = w.HTML(), w.HTML()
        self.export_path = w.Text(value=f"{topic}.parquet", description="File:",
                                  layout=w.Layout(width="22em"))
        tabs = w.Tab(children=[w.VBox([self.table, self.row, self.detail]),
                               w.VBox([b["schema"], self.schema_box]),
                               w.VBox([b["groups"], self.groups_box])])
        for i, title in enumerate(("Messages", "Schema", "Consumer groups")):
            tabs.set_title(i, title)
        self.widget = w.VBox([
            w.HTML(f"<b>Explore {esc(topic)}</b>"),
            w.HBox([self.partitions, w.VBox([self.start, self.offset, self.time]),
                    self.fields]),
            w.HBox([self.filter, self.page_size]), self.filter_error,
            w.HBox([b["load"], b["previous"], b["next"], self.tail_toggle, self.pause_toggle,
                    b["cancel"], self.progress]),
            w.HBox([b["frame"], self.export_path, b["export"]]),
            self.message, tabs])
        actions = {"load": self.load, "previous": self.previous_page, "next": self.next_page,
                   "cancel": self.state.cancel, "schema": self.state.load_schema,
                   "groups": self.state.load_groups, "frame": self.to_dataframe,
                   "export": self.export}
        for name, button in b.items():
            button.on_click(lambda _b, act=actions[name]: act())
        self.filter.observe(lambda ch: self._set_filter(ch["new"]), names="value")
        self.row.observe(lambda ch: self._select(ch["new"]), names="value")
        self.tail_toggle.observe(lambda ch: self.tail(ch["new"]), names="value")
        self.pause_toggle.observe(lambda ch: self.state.pause(ch["new"]), names="value")
        self.state.on_change(self._redraw)
        if load:
            self.load()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # --- what the controls do (each one short; the work is in the state) -------------------

    def _sync(self) -> None:
        self.state.configure(partitions=list(self.partitions.value) or None,
                             start=self.start.value, start_offset=self.offset.value,
                             start_time=self.time.value,
                             fields=list(self.fields.value) or None,
                             page_size=int(self.page_size.value))

    def load(self) -> None:
        """Read the first page from the chosen start."""
        self._sync()
        self.state.load()

    def next_page(self) -> None:
        self._sync()
        self.state.next_page()

    def previous_page(self) -> None:
        self._sync()
        self.state.previous_page()

    def tail(self, on: bool) -> None:
        self._sync()
        self.pause_toggle.disabled, self.pause_toggle.value = not on, False
        self.state.tail(on)

    def _set_filter(self, text: str) -> None:
        error = self.state.check_filter(text)
        self.filter_error.value = "" if error is None else \
            f'<pre style="color:#cf222e;margin:0">{esc(error)}</pre>'

    def _select(self, row: int | None) -> None:
        if row is not None:
            self.state.select(row)

    def to_dataframe(self) -> pd.DataFrame | None:
        """Hand the page to ``store`` (the magic's ``-o VAR``) and return it."""
        try:
            frame = self.state.to_frame()
        except Exception as exc:  # shown inline
            self.message.value = status_line(widget_message(exc), kind="error")
            return None
        if self.store is not None:
            self.store(frame)
        self.message.value = status_line(f"{len(frame)} row(s) as a DataFrame", kind="success")
        return frame

    def export(self) -> None:
        """Write the page to the File box's path (format from its suffix)."""
        try:
            path = self.state.export(self.export_path.value)
        except Exception as exc:  # shown inline
            self.message.value = status_line(widget_message(exc), kind="error")
            return
        self.message.value = status_line(f"wrote {path}", kind="success")

    def close(self) -> None:
        self.state.close()
        self.widget.close()

    # --- the record -----------------------------------------------------------------------

    def query_rows(self) -> list[tuple[str, Any]]:
        """What the last page was read with: start, partitions, filter, fields."""
        s = self.state.snapshot()
        q = s.query
        start = {"offset": f"offset {q.start_offset}", "time": f"time {q.start_time}"}.get(
            q.start, q.start)
        rows: list[tuple[str, Any]] = [("Topic", self.state.topic), ("Start", start)]
        if q.partitions:
            rows.append(("Partitions", ", ".join(str(p) for p in q.partitions)))
        if q.filter:
            rows.append(("Filter", q.filter))
        if q.fields:
            rows.append(("Fields", ", ".join(q.fields)))
        if s.tailing:
            rows.append(("Live tail", "paused" if s.paused else "on"))
        return rows

    def record_body(self) -> str:
        page = self.state.page
        parts = [kv_table(self.query_rows()), self.message.value]
        if page is not None:
            shown = min(len(page.frame), RECORD_ROWS)
            if shown < len(page.frame):
                parts.append(status_line(f"the first {shown} of {len(page.frame)} rows"))
            parts.append(page_html(page.frame, rows=RECORD_ROWS))
        return "".join(parts)

    def record_text(self) -> str:
        page = self.state.page
        lines = [self.record_title, *(f"{k}: {v}" for k, v in self.query_rows())]
        if page is not None:
            lines.append(page.summary())
        return "\n".join(lines)

    # --- drawing (called on the state's worker thread, one snapshot per change) ------------

    def _redraw(self, what: str) -> None:
        s = self.state.snapshot()
        if what == "error" and s.error is not None:
            self.message.value = status_line(widget_message(s.error), kind="error")
            self.update_record()
        elif what == "progress":
            done, total = s.progress
            self.progress.max, self.progress.value = max(total, 1), min(done, max(total, 1))
        elif what == "busy":
            self.buttons["cancel"].disabled = not s.busy
        elif what == "page" and s.page is not None:
            self._draw_page(s)
        elif what == "detail" and s.detail is not None:
            self.detail.value = _detail_html(s)
        elif what == "schema" and s.schema is not None:
            self.schema_box.value = f"<p>{esc(repr(s.schema))}</p>" + grid(
                list(s.schema.fields.columns), s.schema.fields.itertuples(index=False))
        elif what == "groups" and s.groups is not None:
            self.groups_box.value = grid(list(s.groups.columns),
                                         s.groups.itertuples(index=False)) \
                if len(s.groups) else status_line("no consumer groups you may see")

    def _draw_page(self, s: ExplorerSnapshot) -> None:
        page = s.page
        assert page is not None
        if s.all_partitions and not self.partitions.options:
            self.partitions.options = s.all_partitions
        names = [c for c in page.frame.columns if c not in META]
        if set(names) - set(self.fields.options):
            self.fields.options = sorted(set(self.fields.options) | set(names))
        self.table.value = page_html(page.frame)
        self.row.options = [(f"{i}: {p}/{o}", i) for i, (p, o) in
                            enumerate(zip(page.frame["partition"], page.frame["offset"],
                                          strict=True))]
        self.row.value = None
        self.message.value = status_line(page.summary(), kind="success")
        self.update_record()


def _detail_html(state: ExplorerSnapshot) -> str:
    d = state.detail
    assert d is not None
    when = d.timestamp.isoformat() if isinstance(d.timestamp, dt.datetime) else d.timestamp
    pre = '<pre style="max-height:20em;overflow:auto;margin:0">'
    rows = [("partition / offset", f"{d.partition} / {d.offset}"), ("time", when),
            ("key", d.key), ("headers", ", ".join(f"{k}={v}" for k, v in d.headers.items()))]
    parts = [kv_table(rows)]
    if d.json is not None:
        parts.append(f"<b>JSON</b>{pre}{esc(d.json)}</pre>")
    parts.append(f"<b>text</b>{pre}{esc(d.text)}</pre>")
    parts.append(f"<b>hex</b>{pre}{esc(d.hex)}</pre>")
    return "".join(parts)


_BUTTONS = (
    ("load", "Go", "read from the chosen start"),
    ("previous", "< Previous", "older messages"),
    ("next", "Next >", "newer messages"),
    ("cancel", "Cancel", "stop the scan in progress"),
    ("frame", "to DataFrame", "the page as a DataFrame (-o VAR)"),
    ("export", "Export", "write the page with where it came from (parquet, csv, jsonl)"),
    ("schema", "Infer schema", "fields, types, null fraction, drift"),
    ("groups", "Show groups", "consumer groups and their lag"),
)

__all__ = ["Explorer", "page_html"]
