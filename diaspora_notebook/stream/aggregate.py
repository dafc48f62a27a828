"""Live analytics: running and windowed group-by aggregates over a ``LiveDataFrame``.

::

    live = LiveDataFrame("ns-1234.sensors", start="earliest")
    means = live.window("10s", by="sensor", grace="2s").agg(mean=("reading.temp", "mean"),
                                                              n=("reading.temp", "count"))
    means.df            # one row per sensor and window, updated as events arrive
    means.final().df    # closed windows only
    means.view()        # the live grid; means.plot() one line per sensor
    means.when("mean > 30", lambda row: ...)   # once per crossing
    means.to_topic("sensor-means")             # each closed window, keyed by sensor

Incremental and columnar: the stream hands each decoded batch (an Arrow table per batch of one
partition, :meth:`LiveDataFrame._subscribe`) to :class:`AggregateState`, which groups it with
numpy (window x key codes, ``bincount`` / ``ufunc.at``) and merges the groups into per-window
state: count, sum, Welford's M2 (std, var), min, max, first and last merge exactly; ``nunique``
keeps a set and quantiles keep the values (exact, bounded by ``max_values``). Memory is bounded
by the open windows x keys (``max_groups``, a clear error past it) plus the ``keep`` newest
closed rows. Window rules: :mod:`~diaspora_notebook.stream.windows`.

Exactly once: the stream's window skips records it has seen (a retry, a broker restart), and
only fresh records reach the aggregate, so no window counts an event twice.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError, LiveStreamTimeoutError
from diaspora_notebook.kafka.arrow import Chunk
from diaspora_notebook.stream.aggstate import (
    EXTRA_COLUMNS,
    MESSAGE_KEY,
    WINDOW_COLUMNS,
    AggregateError,
    AggregateState,
    AggSpec,
)
from diaspora_notebook.stream.views import require_view, view_factory
from diaspora_notebook.stream.windows import Windows

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.stream.stats import StreamStats



class LiveDataFrame(Protocol):
    """What an aggregate uses of its ``LiveDataFrame`` (not imported: ``live`` imports this
    module)."""

    topics: list[str]
    engine: str
    refresh_hz: float

    @property
    def events(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def running(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def stats(self) -> StreamStats: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def wait(self, n: int | None = None, timeout: float = 30.0) -> Any: ...
    def _subscribe(self, on_chunk: Callable[[Chunk], None],
                   on_replay: Callable[[list[Chunk], int], None] | None = None,
                   ) -> Callable[[], None]: ...
    def _writer_client(self, engine: str) -> Any: ...

log = logging.getLogger(__name__)
UpdateCallback = Callable[["pd.DataFrame"], Any]

# --- the live object --------------------------------------------------------------------------


class Plan:
    """What ``live.groupby(by)`` / ``live.window(...)`` return: call :meth:`agg`."""

    def __init__(self, live: LiveDataFrame, by: str | Sequence[str] | None,
                 windows: Windows | None) -> None:
        if by is None:
            by_list: list[str] = []
        elif isinstance(by, str):
            by_list = [by]
        else:
            by_list = list(by)
        if not all(isinstance(b, str) and b for b in by_list):
            raise DiasporaUsageError(f"by must be a column name or a list of them, not {by!r}",
                                     hint='e.g. by="sensor" or by=["site", "key"]')
        self.live = live
        self.by = by_list
        self.windows = windows

    def agg(self, *, max_groups: int = 200_000, max_values: int = 10_000_000,
            keep: int = 10_000, **named: Any) -> LiveAggregate:
        """Named aggregations, pandas style: ``mean=("reading.temp", "mean")``.

        Functions: count (non-null values), size (events), sum, min, max, mean, std, var,
        first, last, nunique, median, quantiles as ``p99`` / ``q0.99`` / ``("quantile", q)``.

        :param max_groups: most open (window, key) groups (memory bound; a clear error past it)
        :param max_values: most values kept for exact quantiles (over the open groups)
        :param keep: closed windows kept in ``df`` and the grid (the newest)
        """
        if not named:
            raise DiasporaUsageError("agg() needs at least one named aggregation",
                                     hint='e.g. agg(mean=("reading.temp", "mean"), n="size")')
        specs = [AggSpec.parse(name, spec) for name, spec in named.items()]
        taken = set(self.by) | set(WINDOW_COLUMNS) | set(EXTRA_COLUMNS) | {"key", "timestamp"}
        for spec in specs:
            if spec.name in taken:
                raise DiasporaUsageError(f"aggregation name {spec.name!r} is taken by a column "
                                         "of the result", hint="give it another name")
        state = AggregateState(self.by, specs, self.windows, max_groups=max_groups,
                               max_values=max_values, keep=keep)
        return LiveAggregate(self.live, _Core(self.live, state))


class _Core:
    """The state and the subscription shared by an aggregate and its ``final()`` view."""

    def __init__(self, live: LiveDataFrame, state: AggregateState) -> None:
        self.live = live
        self.state = state
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.version = 0
        self.error: str | None = None
        self.stopped = False
        self.missed = 0  # events the stream had dropped before the aggregate started
        self.done_events = 0  # events aggregated whose callbacks have run
        self.listeners: list[Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]] = []
        self.callback_errors = 0
        self.last_callback_error: str | None = None
        self.unsubscribe = live._subscribe(self._on_chunk, self._on_replay)

    def _on_replay(self, chunks: list[Chunk], missed: int) -> None:
        with self.lock:
            self.missed = missed
        for chunk in chunks:
            self._on_chunk(chunk)

    def _on_chunk(self, chunk: Chunk) -> None:
        """A decoded batch of fresh events (the consumer thread)."""
        with self.lock:
            if self.stopped or self.error is not None:
                return
            try:
                slots, changed_closed = self.state.feed(chunk)
                # the updated rows before their windows close (closing frees the slots)
                updated = self.state.rows(np.array(slots, np.int64)) if self.listeners else []
                closed = self.state.close_due()
            except Exception as exc:  # never aggregate on past a batch it could not take
                self.error = (f"{exc}" if isinstance(exc, AggregateError)
                              else f"{type(exc).__name__}: {exc}")
                hint = getattr(exc, "hint", None)
                if hint:
                    self.error += f" ({hint})"
                self.version += 1
                self.changed.notify_all()
                return
            late_rows = [dict(self.state.closed[i]) for i in changed_closed
                         if i in self.state.closed]
            self.version += 1
            listeners = list(self.listeners)
            if not listeners:
                self.done_events = self.state.events
            self.changed.notify_all()
        if listeners:
            self._tell(listeners, updated, closed, late_rows)
            with self.lock:  # wait() returns once the callbacks saw the batch
                self.done_events = self.state.events
                self.changed.notify_all()

    def _tell(self, listeners: list[Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]],
              updated: list[dict[str, Any]], closed: list[dict[str, Any]],
              late_rows: list[dict[str, Any]]) -> None:
        if updated or closed or late_rows:
            current = updated + late_rows
            if closed:  # rows that closed in this batch show as closed
                closing = {(r["window_start"], tuple(r.get(b) for b in self.state.by))
                           for r in closed}
                current = [r for r in current if (r.get("window_start"), tuple(
                    r.get(b) for b in self.state.by)) not in closing] + closed
            for listener in listeners:
                try:
                    listener(current, closed)
                except Exception as exc:  # user code: counted, never fatal
                    import traceback

                    self.callback_errors += 1
                    self.last_callback_error = "".join(traceback.format_exception(exc))

    def add_listener(self, fn: Callable[[list[dict[str, Any]], list[dict[str, Any]]], None],
                     remove: bool = False) -> None:
        with self.lock:
            listeners = [f for f in self.listeners if f is not fn]
            if not remove:
                listeners.append(fn)
            self.listeners = listeners


def _public(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


class LiveAggregate:
    """A live group-by aggregate of a ``LiveDataFrame`` (made by ``live.groupby(by).agg(...)``
    or ``live.window(...).agg(...)``).

    ``df`` holds one row per key (and window), updated as events arrive; :meth:`final` is the
    same aggregate showing closed windows only, :meth:`current` every update. It is a
    :class:`~diaspora_notebook.stream.views.LiveControl`, so the live table shows it
    (:meth:`view`), one row per key and window; :meth:`plot` draws one line per key.
    """

    def __init__(self, live: LiveDataFrame, core: _Core, *, final: bool = False) -> None:
        self._live = live
        self._core = core
        self._final = final
        self._writers: list[_TopicWriter] = []

    # --- the result ---------------------------------------------------------------------

    @property
    def by(self) -> list[str]:
        """The key columns."""
        return list(self._core.state.by)

    @property
    def windows(self) -> Windows | None:
        """The windows (``None``: running aggregates, one row per key)."""
        return self._core.state.windows

    @property
    def names(self) -> list[str]:
        """The aggregations' names (the result's value columns)."""
        return [s.name for s in self._core.state.specs]

    def final(self) -> LiveAggregate:
        """The same aggregate showing closed windows only (each exactly once, final values):
        ``df``, views, ``on_update``, ``when`` and ``to_topic`` then see closed windows."""
        if self.windows is None:
            raise DiasporaUsageError("running aggregates have no windows to close",
                                     hint="live.window(size, ...).agg(...).final()")
        return LiveAggregate(self._live, self._core, final=True)

    def current(self) -> LiveAggregate:
        """The same aggregate showing every update (open and closed windows)."""
        return LiveAggregate(self._live, self._core, final=False)

    @property
    def is_final(self) -> bool:
        return self._final

    def _row_dicts(self) -> list[dict[str, Any]]:
        core = self._core
        with core.lock:
            closed = [dict(r) for r in core.state.closed.values()]
            opened = [] if self._final else core.state.open_rows()
        return closed + opened

    def _frame(self, rows: list[dict[str, Any]], *, grid: bool = False) -> pd.DataFrame:
        import pandas as pd

        state = self._core.state
        windows = state.windows
        cols = list(state.by)
        if windows is not None:
            cols += list(WINDOW_COLUMNS)
        cols += [s.name for s in state.specs]
        if windows is not None:
            cols += list(EXTRA_COLUMNS)
        df = pd.DataFrame(_public(rows), columns=cols)
        if windows is not None and windows.time:
            for name in WINDOW_COLUMNS:
                df[name] = pd.to_datetime(df[name].astype("int64"), unit="ms", utc=True)
        for spec in state.specs:
            if spec.func in ("count", "size", "nunique"):
                df[spec.name] = df[spec.name].astype("int64")
            elif spec.func not in ("first", "last"):
                df[spec.name] = df[spec.name].astype("float64")
        if windows is not None:
            df["closed"] = df["closed"].astype(bool)
            df["late"] = df["late"].astype("int64")
        if grid:
            if "key" in df.columns:  # "key" is the grid's row id: the Kafka key is renamed
                df = df.rename(columns={"key": MESSAGE_KEY})
            df.insert(0, "key", [self._row_id(r) for r in rows])
            if windows is not None and windows.time:
                df.insert(1, "timestamp", df.pop("window_start"))
            else:
                stamps = [r["_time"] for r in rows]
                df.insert(1, "timestamp", pd.to_datetime(
                    pd.Series(stamps, dtype="int64").where(
                        pd.Series(stamps) != np.iinfo(np.int64).min), unit="ms", utc=True))
        out: pd.DataFrame = df
        return out

    def _row_id(self, row: dict[str, Any]) -> str:
        key = " / ".join("∅" if row.get(b) is None else str(row.get(b)) for b in self.by) or "*"
        if self.windows is None:
            return key
        start = row["window_start"]
        if self.windows.time:
            import pandas as pd

            start = pd.Timestamp(start, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return f"{key} @ {start}"

    @property
    def df(self) -> pd.DataFrame:
        """One row per key (and window), ordered by window then key: the key columns,
        ``window_start``/``window_end``, the aggregations, ``closed`` and ``late`` (events
        that came after the window closed: counted, never merged). A copy."""
        rows = self._row_dicts()
        if self.windows is not None:
            rows.sort(key=lambda r: (r["window_start"], _sortable(tuple(r.get(b)
                                                                        for b in self.by))))
        else:
            rows.sort(key=lambda r: _sortable(tuple(r.get(b) for b in self.by)))
        return self._frame(rows)

    @property
    def counts(self) -> dict[str, Any]:
        """Events aggregated, late ones (and those for windows no longer kept), events
        without a time, open groups, closed windows, the watermark."""
        core = self._core
        state = core.state
        with core.lock:
            return {"events": state.events, "late_events": state.late_events,
                    "late_dropped": state.late_dropped, "no_time": state.no_time,
                    "open_groups": state.open_groups, "closed_windows": state.closed_total,
                    "kept_values": state.kept_values, "missed_before_start": core.missed,
                    "watermark": state.watermark, "error": core.error,
                    "callback_errors": core.callback_errors}

    @property
    def late(self) -> int:
        """Events that came after their window had closed (counted, never merged)."""
        with self._core.lock:
            return self._core.state.late_events

    # --- callbacks, alerts, writing back ------------------------------------------------

    def on_update(self, callback: UpdateCallback, *, remove: bool = False) -> UpdateCallback:
        """Call ``callback(rows_df)`` after each batch with the rows it changed (``final()``:
        the windows it closed), in the consumer thread. Exceptions are counted in
        ``counts["callback_errors"]``, never fatal. Usable as a decorator."""
        key = ("update", id(callback), self._final)

        def listener(current: list[dict[str, Any]], closed: list[dict[str, Any]]) -> None:
            rows = closed if self._final else current
            if rows:
                callback(self._frame(rows))
        listener._diaspora_key = key  # type: ignore[attr-defined]
        core = self._core
        with core.lock:
            listeners = [f for f in core.listeners
                         if getattr(f, "_diaspora_key", None) != key]
            if not remove:
                listeners.append(listener)
            core.listeners = listeners
        return callback

    def when(self, condition: str, callback: Callable[[Any], Any]) -> Any:
        """Call ``callback(row)`` once each time ``condition`` becomes true for a key (a
        crossing: it must be false, or not yet seen, for that key's previous row), with the
        row (a ``pandas.Series``) that made it true. The condition is a filter over the
        result's columns (``"mean > 30"``, ``"n >= 100 and sensor == 's1'"``), checked by the
        filter parser (nothing is ``eval``-ed).

        :returns: the alert (``alert.fired`` counts; ``alert.cancel()`` stops it)
        """
        from diaspora_notebook.stream.alerts import Alert

        names = [*self.by, *self.names, *(WINDOW_COLUMNS + EXTRA_COLUMNS
                                           if self.windows is not None else ())]
        alert = Alert(condition, callback, by=self.by, columns=names)

        def listener(current: list[dict[str, Any]], closed: list[dict[str, Any]]) -> None:
            rows = closed if self._final else current
            if rows:
                alert.feed(self._frame(rows))
        alert.cancel = lambda: self._core.add_listener(listener, remove=True)
        self._core.add_listener(listener)
        return alert

    def to_topic(self, topic: str, *, updates: bool = False, client: Any = None,
                 engine: str | None = None) -> _TopicWriter:
        """Produce each closed window (``updates=True``: every update) to ``topic``, one JSON
        message per row keyed by the first ``by`` column, through the write path (in a
        background thread; failures are counted in ``writer.errors``).

        :param client: who writes (default: the stream's client)
        :param engine: the write engine (default: the stream's)
        """
        if not updates and self.windows is None:
            raise DiasporaUsageError("running aggregates never close a window",
                                     hint="to_topic(topic, updates=True) writes every update")
        writer = _TopicWriter(self, topic, updates=updates, client=client,
                              engine=engine or self._live.engine)
        self._writers.append(writer)
        return writer

    # --- life ---------------------------------------------------------------------------

    def pause(self) -> None:
        """Pause the stream it reads (every view of it pauses; nothing is lost)."""
        self._live.pause()

    def resume(self) -> None:
        """Resume the stream it reads."""
        self._live.resume()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop aggregating (the stream goes on; the rows stay readable) and the writers."""
        core = self._core
        with core.lock:
            core.stopped = True
            core.version += 1
            core.changed.notify_all()
        core.unsubscribe()
        for writer in self._writers:
            writer.close(timeout)

    def wait(self, n: int | None = None, timeout: float = 30.0) -> LiveAggregate:
        """Block until ``n`` events were aggregated (``None``: until the stream has caught up
        with the topics and every event it read is aggregated).

        :raises LiveStreamTimeoutError: not in time; :class:`AggregateError` if it failed
        """
        deadline = time.monotonic() + timeout
        core = self._core
        if n is None:
            self._live.wait(None, timeout=timeout)
            target = self._live.events
        else:
            target = n
        with core.lock:
            while True:
                if core.error is not None:
                    raise AggregateError(f"the aggregate stopped: {core.error}")
                done = core.done_events + (core.missed if n is None else 0)
                if done >= target:
                    return self
                left = deadline - time.monotonic()
                if left <= 0 or core.stopped:
                    break
                core.changed.wait(min(left, 0.1))
        raise LiveStreamTimeoutError(
            f"waited {timeout:g} s for {target:,} aggregated events "
            f"({core.state.events:,} so far)",
            hint="check that events are being produced; live.stats says what the stream does")

    # --- the LiveControl contract (what the grid and chart read) -------------------------

    @property
    def topics(self) -> list[str]:
        return list(self._live.topics)

    @property
    def mode(self) -> str:
        return "latest_by_key"  # one row per key and window: an update replaces its row

    @property
    def max_rows(self) -> int:
        return max(self._core.state.keep, 1)

    @property
    def refresh_hz(self) -> float:
        return self._live.refresh_hz

    @property
    def events(self) -> int:
        """Rows changed so far (``final()``: windows closed): a view's change counter."""
        with self._core.lock:
            state = self._core.state
            return state.closed_total if self._final else state.seq

    @property
    def version(self) -> int:
        return self._core.version

    @property
    def error(self) -> str | None:
        return self._core.error or self._live.error

    @property
    def state(self) -> str:
        core = self._core
        if core.error is not None:
            return "failed"
        if core.stopped:
            return "stopped"
        return self._live.state

    @property
    def running(self) -> bool:
        core = self._core
        return self._live.running and not core.stopped and core.error is None

    @property
    def stats(self) -> StreamStats:
        """The stream's counters, with the aggregate's rows and error."""
        stats = self._live.stats
        core = self._core
        with core.lock:
            rows = len(core.state.closed) + (0 if self._final else core.state.open_groups)
            error = core.error
            callback_errors = core.callback_errors
        changes: dict[str, Any] = {"rows": rows, "max_rows": self.max_rows,
                                   "state": self.state,
                                   "callback_errors": stats.callback_errors + callback_errors}
        if error is not None:
            changes["error"] = error
        return dataclasses.replace(stats, **changes)

    def _changed_rows(self, seen: int, most: int) -> tuple[list[dict[str, Any]], int]:
        core = self._core
        state = core.state
        with core.lock:
            if self._final:
                total = state.closed_total
                rows = [dict(r) for r in state.closed.values() if r["_closed"] > seen]
                return rows[-most:] if most else [], total
            total = state.seq
            rows = [dict(r) for r in state.closed.values() if r["_upd"] > seen]
            rows += state.open_rows(since=seen)
        rows.sort(key=lambda r: r["_upd"])
        return (rows[-most:] if most else []), total

    def tail(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` newest rows (by window start, then key) with the grid's ``key`` (row id)
        and ``timestamp`` (window start) columns, oldest first (what the chart draws)."""
        rows = self._row_dicts()
        rows.sort(key=lambda r: (r.get("window_start", r["_time"]),
                                 _sortable(tuple(r.get(b) for b in self.by))))
        return self._frame(rows[-n:] if n > 0 else [], grid=True)

    def rows_since(self, seen: int, most: int) -> tuple[Any, int]:
        """The rows changed after the first ``seen`` changes (at most ``most``, the newest)
        as a ``pyarrow.Table``, and the count to pass next time (the grid's refresh)."""
        from diaspora_notebook.kafka.arrow import frame_to_table

        rows, total = self._changed_rows(seen, most)
        return frame_to_table(self._frame(rows, grid=True)), total

    def sample_table(self) -> Any:
        """The result's columns, no rows (the grid's first table)."""
        from diaspora_notebook.kafka.arrow import frame_to_table

        return frame_to_table(self._frame([], grid=True)).slice(0, 0)

    def wait_changed(self, version: int, timeout: float) -> bool:
        core = self._core
        with core.lock:
            if core.version == version and timeout > 0:
                core.changed.wait(timeout)
            return core.version != version

    def wake_waiters(self) -> None:
        with self._core.lock:
            self._core.changed.notify_all()

    # --- views --------------------------------------------------------------------------

    def view(self, *, rows: int = 10) -> Any:
        """The live grid: one row per key and window (newest windows first), counters,
        Pause and Stop."""
        return require_view("table")(self, rows=rows)

    def plot(self, y: str | list[str] | None = None, *, current: bool = False,
             **options: Any) -> Any:
        """A live chart of the aggregations, one line per key (the first ``by`` column), over
        the windows' starts (running aggregates: over the events' times).

        A windowed aggregate draws its closed windows (each once, final values) unless
        ``current=True``: then every update is a point, and the open window shows the lowest
        and highest value it had so far.

        :param y: aggregation name(s) (default: the numeric ones)
        :param options: passed to the live chart (``window="5min"``, ``buckets``...)
        """
        state = self._core.state
        if y is None:
            y = [s.name for s in state.specs if s.func not in ("first", "last")]
        ys = [y] if isinstance(y, str) else list(y)
        unknown = [v for v in ys if v not in self.names]
        if unknown:
            raise DiasporaUsageError(f"no aggregation named {', '.join(map(repr, unknown))}",
                                     hint=f"plot one of {', '.join(self.names)}")
        if self.windows is not None and not self.windows.time:
            raise DiasporaUsageError("windows on a numeric field have no time axis to plot",
                                     hint="agg.df holds the rows; plot them with pandas")
        feed = self if (self.windows is None or self._final or current) else self.final()
        by: str | bool = False
        if self.by:
            by = MESSAGE_KEY if self.by[0] == "key" else self.by[0]
        return require_view("plot")(feed, y=ys, by=by, **options)

    def __repr__(self) -> str:
        what = self.windows.describe() if self.windows is not None else "running"
        counts = self.counts
        return (f"<LiveAggregate {what} by {self.by or '(all)'}"
                f"{' (final)' if self._final else ''}: {counts['events']:,} events, "
                f"{counts['open_groups']:,} open groups, {counts['closed_windows']:,} closed, "
                f"{counts['late_events']:,} late>")

    def _repr_html_(self) -> str:
        import html

        table: str = self.df.tail(20).to_html(max_cols=30, show_dimensions=False)
        return f"<div>{html.escape(repr(self))}</div>{table}"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        factory = view_factory("display")
        if factory is not None:
            try:
                view = factory(self)
            except (ImportError, DiasporaUsageError):
                view = None
            if view is not None:
                bundle: dict[str, Any] = view._repr_mimebundle_(include=include,
                                                                exclude=exclude)
                return bundle
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


def _sortable(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, str(type(v).__name__), v if v is not None else 0) for v in key)


class _TopicWriter:
    """Writes an aggregate's rows to a topic from a background thread (``to_topic``)."""

    def __init__(self, agg: LiveAggregate, topic: str, *, updates: bool, client: Any,
                 engine: str) -> None:
        self.topic = topic
        self.updates = updates
        self.engine = engine
        self.client = client if client is not None else agg._live._writer_client(engine)
        self.key = agg.by[0] if agg.by else None
        self.written = 0
        self.errors = 0
        self.last_error: str | None = None
        self._agg = agg
        self._queue: queue.Queue[pd.DataFrame | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"diaspora-to-{topic}",
                                        daemon=True)
        self._thread.start()
        self._listener = self._enqueue
        agg._core.add_listener(self._listener)

    def _enqueue(self, current: list[dict[str, Any]], closed: list[dict[str, Any]]) -> None:
        rows = current if self.updates else closed
        if rows:
            self._queue.put(self._agg._frame(rows))

    def _run(self) -> None:
        while True:
            df = self._queue.get()
            try:
                if df is None:
                    return
                produce_rows(self.client, self.topic, df, key=self.key, engine=self.engine)
                self.written += len(df)
            except Exception as exc:  # counted and shown; the aggregate goes on
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.debug("to_topic(%s) failed: %s", self.topic, exc)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 30.0) -> _TopicWriter:
        """Wait (at most ``timeout`` s) until every row queued so far is written."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop writing after the rows queued so far."""
        self._agg._core.add_listener(self._listener, remove=True)
        self._queue.put(None)
        self._thread.join(timeout)

    def __repr__(self) -> str:
        return (f"<to_topic {self.topic}: {self.written:,} rows written, "
                f"{self.errors} errors>")


def produce_rows(client: Any, topic: str, df: pd.DataFrame, *, key: str | None,
                 engine: str) -> Any:
    """The one place an aggregate writes: rows as JSON messages keyed by ``key`` (a column),
    through the write path of ``topics.produce`` (:func:`diaspora_notebook.kafka.write.write`;
    the stream layer cannot import ``topics``)."""
    from diaspora_notebook.kafka.write import Options, column, write

    out = df.copy()
    for name in WINDOW_COLUMNS:
        if name in out.columns and hasattr(out[name], "dt"):
            out[name] = out[name].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.replace(
                r"(\.\d{3})\d{3}Z$", r"\1Z", regex=True)
    opts = Options(key=column(key) if key is not None else None)
    return write(client, topic, out, opts, engine=engine, progress=False)
