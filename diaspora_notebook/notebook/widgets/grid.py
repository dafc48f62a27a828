"""The live grid: a ``LiveDataFrame``'s window in Perspective's datagrid, fed only new rows.

Perspective was chosen over ipydatagrid by produce -> screen latency in a real JupyterLab and
Chromium (``benchmarks/live_grid.py``; every figure is in docs/performance.md): ipydatagrid's
only update is its whole frame, which it re-serializes on every change, and it draws on a
canvas.

How rows travel: the kernel holds a Perspective table of at most ``limit`` rows (append mode:
the newest rows, older ones roll over; ``latest_by_key``: one row per key, indexed by it). The
browser holds a replica (``binding_mode="client-server"``) that Perspective keeps in sync by
sending it, as Arrow, only the rows each update adds; sorting, scrolling and filtering then run
in the browser without asking the kernel. Each refresh hands Perspective the Arrow table of the
rows that arrived since the last one (:meth:`LiveDataFrame.rows_since`, never through pandas).
Perspective's front end opens its table once, when it draws, so the table's columns should be
right from the start: a view made on an empty window takes them from the topics' newest records
(:meth:`LiveDataFrame.sample_table`), and shows those records until the stream's own rows push
them out. The datagrid's first drawing of rows is slow (its row elements are made and styled);
drawn before the first events, it no longer delays them. A column that appears later (schema
drift, or the first payloads of a new topic) reloads the table once, with the new column, and
the grid is drawn again (the screen lags meanwhile).

One page, many grids: anywidget imports a widget's JavaScript from a new blob URL for every
model, so Perspective's 6 MB bundle would run once per grid, and its second run fails on a
custom element it defines without checking (``regular-layout``: "NotSupportedError: ... has
already been used"). Every grid is a :func:`perspective_widget`, whose JavaScript is a small
loader: it imports the bundle once per page and hands each model the same module (the viewer
elements, the WebAssembly client and worker are shared), and makes ``customElements.define``
skip a name already defined, so a page that also runs an unwrapped ``PerspectiveWidget`` keeps
working. Older grid models a reloaded page restores from the kernel share it too.

perspective-python is in the ``notebook`` extra; without it :func:`grid_available` is False and
the live view shows a plain HTML table of the newest rows instead.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from diaspora_notebook.stream.views import LiveFeed

log = logging.getLogger(__name__)

#: most rows the grid holds (and scrolls through) for an append-mode stream; it is also the
#: most rows one refresh sends, which bounds a refresh's cost at high rates (the whole window
#: stays in ``live.df``; measured in docs/performance.md)
GRID_ROWS = 2_000
GRID_HEIGHT = "340px"
_META = ("topic", "partition", "offset", "timestamp", "key")
#: newest first: by event time, then by offset (exact within a partition)
SORT = [["timestamp", "desc"], ["offset", "desc"]]


def sort_for(columns: Sequence[str]) -> list[list[str]]:
    """:data:`SORT` on the columns a table has (a live aggregate's rows have no offset, and
    Perspective refuses to sort on a missing column)."""
    return [s for s in SORT if s[0] in columns]
#: event times to the millisecond in UTC (Perspective's default shows whole seconds, local
#: time); offsets and partitions are identifiers, shown without thousands separators
COLUMNS_CONFIG: Final[dict[str, dict[str, Any]]] = {
    "timestamp": {"date_format": {
        "format": "custom", "timeZone": "UTC", "hour12": False, "year": "numeric",
        "month": "2-digit", "day": "2-digit", "hour": "2-digit", "minute": "2-digit",
        "second": "2-digit", "fractionalSecondDigits": 3}},
    "offset": {"number_format": {"useGrouping": False}},
    "partition": {"number_format": {"useGrouping": False}},
}


def grid_available() -> bool:
    """Whether perspective-python (the grid's engine) is installed."""
    return importlib.util.find_spec("perspective") is not None


#: the loader each grid model carries instead of Perspective's bundle (filled by
#: :func:`shared_esm`): the bundle is imported once per page, under a key of its content
_LOADER = """// diaspora-notebook: Perspective's widget bundle, imported once per page
const SOURCE = __SOURCE__;
const KEY = "__diaspora_perspective_" + __DIGEST__;

function defineOnce() {
  // a second copy of a custom element is skipped instead of throwing NotSupportedError
  const registry = globalThis.customElements;
  if (!registry || registry.__diasporaDefineOnce) return;
  const define = registry.define.bind(registry);
  registry.define = (name, constructor, options) => {
    if (registry.get(name) !== undefined) return undefined;
    return define(name, constructor, options);
  };
  registry.__diasporaDefineOnce = true;
}

function bundle() {
  defineOnce();
  if (!globalThis[KEY]) {
    const url = URL.createObjectURL(new Blob([SOURCE], { type: "text/javascript" }));
    globalThis[KEY] = import(/* webpackIgnore: true */ url)
      .catch((error) => { delete globalThis[KEY]; throw error; })
      .finally(() => URL.revokeObjectURL(url));
  }
  return globalThis[KEY];
}

// a click on a row tells the kernel which record it was (Perspective's widget sends none):
// the viewer's "perspective-click" event carries the row; its partition and offset go back
// as a custom message ("diaspora-click"), which Perspective's own handler ignores
function forwardClicks(widget) {
  if (!widget || typeof widget.render !== "function") return widget;
  return {
    ...widget,
    async render(context) {
      const { model, el } = context;
      const onClick = (event) => {
        const row = (event.detail && event.detail.row) || {};
        if (row.partition === undefined || row.offset === undefined) return;
        model.send({ type: "diaspora-click", partition: Number(row.partition),
                     offset: Number(row.offset) });
      };
      el.addEventListener("perspective-click", onClick);
      const cleanup = await widget.render(context);
      return () => {
        el.removeEventListener("perspective-click", onClick);
        if (typeof cleanup === "function") return cleanup();
      };
    },
  };
}

export default async () => {
  const module = await bundle();
  return forwardClicks(typeof module.default === "function" ? await module.default()
                       : module.default);
};
"""


@functools.cache
def shared_esm() -> str:
    """The grid models' JavaScript: a loader that imports Perspective's widget bundle once per
    page (the bundle is embedded as a string, run only by the first model)."""
    from perspective.widget import PerspectiveWidget

    source = str(PerspectiveWidget._esm)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return (_LOADER.replace("__SOURCE__", json.dumps(source))
            .replace("__DIGEST__", json.dumps(digest)))


@functools.cache
def _widget_class() -> type:
    from perspective.widget import PerspectiveWidget

    class SharedPerspectiveWidget(PerspectiveWidget):
        """A ``PerspectiveWidget`` whose bundle runs once per page (see the module doc)."""

        _esm = shared_esm()

    return SharedPerspectiveWidget


def perspective_widget(data: Any, **options: Any) -> Any:
    """A ``PerspectiveWidget`` that can share a page with other grids (any number of them, and
    the older ones a reloaded page restores): use it for every Perspective grid shown."""
    return _widget_class()(data, **options)


def arrow_ipc(table: Any) -> bytes:
    """A table as the Arrow IPC stream Perspective loads and updates from."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def displayable(table: Any) -> Any:
    """The table with only types Perspective shows: nested values (lists, structs), binary
    and all-null columns become text (the read path's one text fallback,
    :func:`~diaspora_notebook.kafka.arrow.as_text`); dictionaries are decoded."""
    import pyarrow as pa
    import pyarrow.types as pt

    from diaspora_notebook.kafka.arrow import as_text

    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pt.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = column.type
        if (pt.is_nested(kind) or pt.is_binary(kind) or pt.is_large_binary(kind)
                or pt.is_null(kind) or pt.is_decimal(kind) or pt.is_duration(kind)
                or pt.is_large_string(kind)):
            column = as_text(column)
        columns.append((name, column))
    return pa.table(dict(columns))


def shown_columns(names: Sequence[str], *, topics: int, keys_seen: bool) -> list[str]:
    """The grid's columns, in order: the topic only when there are several, the key only once a
    record has one, then Kafka's metadata and the payload's fields."""
    out = [c for c in _META if c in names and (c != "topic" or topics > 1)
           and (c != "key" or keys_seen)]
    return out + [c for c in names if c not in _META]


class LiveGrid:
    """A Perspective datagrid that follows a live stream (call :meth:`refresh`).

    ``widget`` is one ``PerspectiveWidget`` for the grid's life, made at once (its front end,
    6 MB of JavaScript and WebAssembly, loads while the stream waits for its first events).
    Perspective's front end opens its table once, when it draws, so a table with new columns
    (schema drift, the first payloads of a topic that had none) must be drawn again:
    :meth:`refresh` then returns ``True``, and whoever shows the widget draws it in a new box
    (no new widget, no 6 MB sent again). A grid made on an empty window starts with the
    columns of the topics' newest records, and shows those records (each topic-partition's
    newest) until newer rows push them out, so a topic with history needs no second draw and
    the first events land in rows already drawn. None is shown twice: a stream that reads one
    while it is shown drops it from its batch (by key, it simply replaces itself).

    :param live: the stream shown (read through its ``LiveFeed`` only)
    :param limit: most rows held in the grid (append mode)
    :param height: the grid's height (CSS)
    """

    def __init__(self, live: LiveFeed, *, limit: int = GRID_ROWS,
                 height: str = GRID_HEIGHT) -> None:
        self.live = live
        self.keyed = live.mode == "latest_by_key"
        self.limit = max(1, min(limit, live.max_rows))
        self.columns: list[str] = []
        self.reloads = 0
        self.sampled = False  # the first table's columns came from the topics' newest records
        self._keys_seen = False
        self._retired: list[Any] = []  # replaced tables, deleted once no view uses them
        # (topic, partition) -> offset of the sampled records shown, until the stream passes
        # them or newer rows overwrite them; ``_room``: rows the table takes before that
        self._sampled_at: dict[tuple[str, int], int] = {}
        self._room = 0
        shown = self._first_table()
        self._schema = shown.schema
        self.widget = perspective_widget(arrow_ipc(shown), binding_mode="client-server",
                                        plugin="Datagrid", settings=False, theme="Pro Light",
                                        title=", ".join(live.topics),
                                        sort=sort_for(self.columns),
                                        columns_config=copy.deepcopy(COLUMNS_CONFIG),
                                        **self._table_options())
        # in a box, Perspective's own "flex: 1" makes the height indefinite and its viewer
        # (height: 100%) collapses to nothing: the grid gets a fixed height instead
        self.widget.layout.flex = "0 0 auto"
        self.widget.layout.height = height
        self.widget.add_class("diaspora-live-grid")

    def _first_table(self) -> Any:
        """The window's newest rows; on an empty window, the topics' newest records, so the
        first payloads need no second draw and land in rows already drawn."""
        table, self._events = self.live.rows_since(0, self.limit)
        if len(table):
            return self._shown(table)
        sample = self.live.sample_table()
        self.sampled = len(sample) > 0
        if not self.sampled:
            return self._shown(table)
        if not self.keyed:  # by key, a record read again replaces itself
            self._sampled_at = {(t, p): o for t, p, o in zip(
                sample.column("topic").to_pylist(), sample.column("partition").to_pylist(),
                sample.column("offset").to_pylist(), strict=True)}
            self._room = self.limit - len(sample)
        return self._shown(sample)

    def _table_options(self) -> dict[str, Any]:
        return {"index": "key"} if self.keyed else {"limit": self.limit}

    def _wanted(self, table: Any) -> list[str]:
        if not self._keys_seen and len(table) and table.column("key").null_count < len(table):
            self._keys_seen = True
        return shown_columns(table.column_names, topics=len(self.live.topics),
                             keys_seen=self._keys_seen or self.keyed)

    def _shown(self, table: Any) -> Any:
        self.columns = self._wanted(table)
        return displayable(table.select(self.columns))

    def refresh(self, *, undraw: Callable[[], None] | None = None) -> bool:
        """Send the rows that arrived since the last refresh; ``True`` if the grid must be
        drawn again (its table was replaced).

        :param undraw: takes the grid out of the page before a new table is loaded. A view
            still drawn would take the new settings (columns, sort) for its old table, drop
            the columns it lacks and write its own, old columns back into the widget.
        """
        if self.live.events <= self._events:
            return False
        table, self._events = self.live.rows_since(self._events, self.limit)
        if self._sampled_at:
            table = self._without_sampled(table)
            if not len(table):
                return False
        batch = None
        if not set(self._wanted(table)) - set(self.columns):
            # None: a field changed type (an int became text), which needs a new table too
            batch = self._conform(displayable(table.select(
                [c for c in self.columns if c in table.column_names])))
        if batch is None:
            self.reload(undraw=undraw)
            return True
        self.widget.update(arrow_ipc(batch))
        return False

    def _without_sampled(self, table: Any) -> Any:
        """The batch without the sampled records the grid still shows (a stream that starts
        before them reads them too); a partition the stream has passed needs no more checks,
        and once newer rows overwrite the sampled ones (the table holds ``limit`` rows, the
        oldest added go first) the stream's own copies are shown."""
        import pyarrow.compute as pc

        self._room -= len(table)
        if self._room < 0:
            self._sampled_at = {}
            return table
        shown = None
        for (topic, partition), offset in list(self._sampled_at.items()):
            here = pc.and_(pc.equal(table.column("topic"), topic),
                           pc.equal(table.column("partition"), partition))
            offsets = table.column("offset").filter(here)
            if len(offsets) and pc.max(offsets).as_py() >= offset:
                del self._sampled_at[(topic, partition)]
            same = pc.and_(here, pc.equal(table.column("offset"), offset))
            shown = same if shown is None else pc.or_(shown, same)
        return table if shown is None else table.filter(pc.invert(shown))

    def _conform(self, batch: Any) -> Any:
        """The batch with the grid's column types, or ``None`` if a value cannot take one."""
        import pyarrow as pa

        columns = {}
        for field in self._schema:
            if field.name not in batch.column_names:
                continue
            column = batch.column(field.name)
            if column.type != field.type:
                try:
                    column = column.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    return None
            columns[field.name] = column
        return pa.table(columns)

    def reload(self, *, undraw: Callable[[], None] | None = None) -> None:
        """A new table of the window's newest rows with the current columns.

        :param undraw: as for :meth:`refresh`; called once the new table is ready (the grid is
            out of the page only while it loads)
        """
        table, self._events = self.live.rows_since(0, self.limit)
        self._sampled_at = {}  # the new table holds the window's rows only
        shown = self._shown(table)
        data = arrow_ipc(shown)
        if undraw is not None:
            undraw()
        self._schema = shown.schema
        self.reloads += 1
        old = self.widget.table
        self.widget.load(data, **self._table_options())
        # load() resets the columns and the sort (not columns_config): they are set again. Only
        # what load() reset is set: a change reaches the old view too, whose viewer then
        # writes its own, old columns back
        self.widget.columns = list(self.columns)
        self.widget.sort = sort_for(self.columns)
        self._retired.append(old)
        self._free_retired()

    def _free_retired(self) -> None:
        """Delete replaced tables that no view uses any more. A browser keeps a view on the
        old table until it has drawn the new one, so a table may wait for a later call
        (``delete(lazy=True)`` would block this thread until then)."""
        waiting = []
        for table in self._retired:
            try:
                table.delete()
            except Exception as exc:  # still viewed
                log.debug("a replaced grid table is still viewed: %s", exc)
                waiting.append(table)
        self._retired = waiting

    def close(self) -> None:
        self._retired.append(self.widget.table)
        self.widget.close()
        self._free_retired()


def page_grid(table: Any, *, title: str, height: str = GRID_HEIGHT) -> Any:
    """A Perspective datagrid of a fixed table (the explorer's page), drawn as the live grid
    is (same column formats, newest first) and sortable by a click on a column's header in the
    browser. Give it a new table with :func:`load_page`."""
    shown = displayable(table)
    widget = perspective_widget(arrow_ipc(shown), binding_mode="client-server",
                                plugin="Datagrid", settings=False, theme="Pro Light",
                                title=title, sort=SORT, columns=list(shown.column_names),
                                columns_config=copy.deepcopy(COLUMNS_CONFIG))
    widget.layout.flex = "0 0 auto"  # see LiveGrid: a fixed height, or the viewer collapses
    widget.layout.height = height
    widget.add_class("diaspora-page-grid")
    return widget


def on_row_click(widget: Any, callback: Callable[[int, int], Any]) -> None:
    """Call ``callback(partition, offset)`` when a row of a grid is clicked in the browser
    (the loader forwards Perspective's ``perspective-click`` events; rows without a partition
    and an offset column send nothing)."""

    def handle(_widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "diaspora-click":
            try:
                partition, offset = int(content["partition"]), int(content["offset"])
            except (KeyError, TypeError, ValueError):
                return
            callback(partition, offset)

    widget.on_msg(handle)


def load_page(widget: Any, table: Any) -> Any:
    """Give a :func:`page_grid` a new table (its columns may differ); returns the replaced
    Perspective table, to delete once the browser has drawn the new one. As for
    :meth:`LiveGrid.reload`, the caller draws the widget again in a new box."""
    shown = displayable(table)
    old = widget.table
    widget.load(arrow_ipc(shown))
    widget.columns = list(shown.column_names)
    widget.sort = SORT
    return old
