"""The topic explorer: pages of messages, filter, fields, live tail, detail, schema, groups.

A skin over :class:`~diaspora_notebook.explore.state.ExplorerState`: each control calls one of
its methods, which queues the read on the state's worker thread (a progress bar and Cancel while
it scans), and its ``on_change`` events, called on that worker, redraw the part that changed
from one snapshot of the state. Errors (access denied, a missing topic, a bad filter) show as
one line; server and payload text is always escaped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diaspora_notebook.explore.state import MAX_PAGE, ExplorerSnapshot, ExplorerState
from diaspora_notebook.filters import META
from diaspora_notebook.notebook.errors import widget_message
from diaspora_notebook.notebook.html import esc, grid, kv_table, status_line
from diaspora_notebook.notebook.widgets import ipywidgets
from diaspora_notebook.notebook.widgets.record import Companion

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

_CELL = 80  # characters of a value shown in the table
RECORD_ROWS = 20  # rows of the last page a record keeps (a record, not a copy of the topic)


def as_json(value: Any) -> Any:
    """A payload value for people: JSON for objects and lists (never a Python repr), text and
    numbers as they are, ``None`` for missing."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bytes):
        return value.hex()
    return value


def when(value: Any) -> str:
    """A timestamp as ``2026-12-07 03:13:50.928`` (UTC, to the millisecond)."""
    if value is None or value != value:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(value)


def shown_frame(frame: pd.DataFrame, *, fields_chosen: bool = False) -> pd.DataFrame:
    """The page's columns as shown: no topic or headers, no raw ``value`` once fields are
    chosen, values as JSON."""
    drop = ["topic", "headers"] + (["value"] if fields_chosen else [])
    shown = frame.drop(columns=[c for c in drop if c in frame.columns])
    for name in shown.columns:
        if shown[name].dtype == object:
            shown[name] = shown[name].map(as_json).astype(object)
    return shown


def page_table(frame: pd.DataFrame, *, fields_chosen: bool = False) -> Any:
    """The page as an Arrow table for the grid: typed columns stay typed (sortable numbers,
    times), a column Arrow cannot type becomes text."""
    from diaspora_notebook.kafka.arrow import frame_to_table

    return frame_to_table(shown_frame(frame, fields_chosen=fields_chosen))


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= _CELL else text[:_CELL - 1] + "\u2026"


def page_html(frame: pd.DataFrame, *, rows: int | None = None,
              fields_chosen: bool = False) -> str:
    """The page as an escaped table (long values cut; ``rows``: only the first ones)."""
    shown = shown_frame(frame, fields_chosen=fields_chosen)
    if rows is not None:
        shown = shown.head(rows)
    if "timestamp" in shown.columns:
        shown = shown.assign(timestamp=shown["timestamp"].map(when))
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
        self.table = w.HTML()  # the page as HTML: shown where perspective is not installed
        self.grid: Any = None  # the page on the live table's grid (made with the first page)
        self._retired: list[Any] = []
        self.table_slot = w.Box([self.table], layout=w.Layout(flex="1 1 auto", min_width="0",
                                                              overflow="visible"))
        self.row = w.Select(description="", options=[], rows=6,
                            layout=w.Layout(width="100%"))
        self.detail = w.HTML()
        self.export_what = w.Dropdown(options=[("this page", "page"),
                                               ("the whole range", "range")],
                                      layout=w.Layout(width="11em"),
                                      tooltip="the page shown, or every message from the "
                                      "chosen start with the filter and fields")
        self.schema_box, self.groups_box = w.HTML(), w.HTML()
        self.export_path = w.Text(value=f"{topic}.parquet", description="File:",
                                  layout=w.Layout(width="22em"))
        side = w.VBox([w.HTML("<b>Message</b> (newest first; click a row of the table or "
                              "pick one here for its detail)"),
                       self.row, self.detail],
                      layout=w.Layout(width="34em", flex="0 0 auto", overflow="auto"))
        tabs = w.Tab(children=[w.HBox([self.table_slot, side],
                                      layout=w.Layout(align_items="flex-start")),
                               w.VBox([b["schema"], self.schema_box]),
                               w.VBox([b["groups"], self.groups_box])])
        self.tabs = tabs
        for i, title in enumerate(("Messages", "Schema", "Consumer groups")):
            tabs.set_title(i, title)
        self.widget = w.VBox([
            w.HTML(f"<b>Explore {esc(topic)}</b>"),
            w.HBox([self.partitions, w.VBox([self.start, self.offset, self.time]),
                    self.fields]),
            w.HBox([self.filter, self.page_size]), self.filter_error,
            w.HBox([b["load"], b["previous"], b["next"], self.tail_toggle, self.pause_toggle,
                    b["cancel"], self.progress]),
            w.HBox([b["frame"], self.export_path, self.export_what, b["export"]]),
            self.message, tabs])
        actions = {"load": self.load, "previous": self.previous_page, "next": self.next_page,
                   "cancel": self.state.cancel, "schema": self.infer_schema,
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

    def infer_schema(self) -> None:
        """The schema of the range chosen (start, partitions, filter), sampled across it."""
        self._sync()
        self.state.load_schema()

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

    def clicked(self, partition: int, offset: int) -> None:
        """A row of the grid was clicked: its message's detail opens beside the table (and
        the list box picks it too)."""
        page = self.state.page
        if page is None:
            return
        frame = page.frame
        hits = ((frame["partition"] == partition) & (frame["offset"] == offset)).to_numpy()
        if hits.any():
            self.row.value = int(hits.argmax())  # its observer asks the state for the detail

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
        """Write the page (or the whole range, as chosen) to the File box's path (format from
        its suffix), and say which."""
        whole = self.export_what.value == "range"
        if whole:
            self._sync()
        try:
            path = self.state.export(self.export_path.value, whole=whole)
        except Exception as exc:  # shown inline
            self.message.value = status_line(widget_message(exc), kind="error")
            return
        if whole:
            self.message.value = status_line(
                f"wrote every message of the range chosen (from the start, with the filter and "
                f"fields) to {path}", kind="success")
            return
        page = self.state.page
        rows = 0 if page is None else len(page.frame)
        self.message.value = status_line(
            f"wrote {rows} row(s), this page only, to {path} (choose \u201cthe whole "
            "range\u201d to write every message from the start)", kind="success")

    def close(self) -> None:
        self.state.close()
        if self.grid is not None:
            self.grid.close()
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
            parts.append(page_html(page.frame, rows=RECORD_ROWS,
                                   fields_chosen=bool(self.state.query.fields)))
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
            fields = s.schema.fields.assign(examples=s.schema.fields["examples"].map(
                lambda xs: ", ".join(xs)))
            drift = "".join(f"<li>{esc(d.describe())}</li>" for d in s.schema.drift)
            self.schema_box.value = (f"<p>{esc(repr(s.schema))}</p>"
                                     + (f"<p><b>Drift</b></p><ul>{drift}</ul>" if drift else "")
                                     + grid(list(fields.columns),
                                            fields.itertuples(index=False)))
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
        chosen = bool(s.query.fields)
        self.table.value = page_html(page.frame, fields_chosen=chosen)
        self._draw_grid(page.frame, chosen)
        frame = page.frame
        self.row.options = [(f"{p}/{o}  {when(t)[11:]}  {'' if k is None else k}"[:60], i)
                            for i, (p, o, t, k) in enumerate(zip(
                                frame["partition"], frame["offset"], frame["timestamp"],
                                frame["key"], strict=True))]
        self.row.value = None
        self.detail.value = ""
        empty = page.extra.get("empty")
        # "nothing there yet" only when the read reached the end: a cancelled, timed-out or
        # budget-bound read says why it stopped instead
        if frame.empty and empty and page.stopped_by == "end":
            self.message.value = status_line(f"0 rows: {empty}", kind="info")
        else:
            self.message.value = status_line(page.summary(), kind="success")
        self.update_record()

    def _draw_grid(self, frame: pd.DataFrame, fields_chosen: bool) -> None:
        """The page on the live table's grid (Perspective), drawn anew in a new box (its
        front end opens a table when it draws); the HTML table where it is not installed."""
        from diaspora_notebook.notebook.widgets import grid as grids

        if not grids.grid_available():
            return
        w = ipywidgets()
        table = page_table(frame, fields_chosen=fields_chosen)
        old_slot = self.table_slot
        if self.grid is None:
            self.grid = grids.page_grid(table, title=self.state.topic)
            grids.on_row_click(self.grid, self.clicked)
        else:
            old_slot.children = ()
            self._retired.append(grids.load_page(self.grid, table))
            waiting = []
            for retired in self._retired[:-1]:
                try:
                    retired.delete()
                except Exception:  # still viewed: a later page deletes it
                    waiting.append(retired)
            self._retired = [*waiting, self._retired[-1]]
        self.table_slot = w.Box([self.grid], layout=old_slot.layout)
        messages = self.tabs.children[0]
        messages.children = (self.table_slot, *messages.children[1:])


def _detail_html(state: ExplorerSnapshot) -> str:
    d = state.detail
    assert d is not None
    stamp = f"{when(d.timestamp)} UTC" if isinstance(d.timestamp, dt.datetime) else d.timestamp
    pre = '<pre style="max-height:20em;overflow:auto;margin:0">'
    rows = [("partition / offset", f"{d.partition} / {d.offset}"), ("time", stamp),
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
    ("export", "Export", "write the page, or the whole range, with where it came from "
     "(parquet, csv, jsonl)"),
    ("schema", "Infer schema", "fields, types, null fraction, drift: sampled across the "
     "range chosen (from the start to the newest)"),
    ("groups", "Show groups", "consumer groups and their lag"),
)

__all__ = ["Explorer", "page_html"]
