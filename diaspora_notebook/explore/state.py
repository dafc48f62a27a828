"""The explorer's state, without Jupyter: what is shown, and the background work behind it.

``%diaspora_explore``'s widget is a skin over :class:`ExplorerState`: every button calls one
method here, and ``on_change(callback)`` hears when something changed (``"page"``, ``"detail"``,
``"schema"``, ``"groups"``, ``"progress"``, ``"error"``, ``"busy"``). Memory holds one page (at
most :data:`MAX_PAGE` rows), one message's detail and the last schema and groups tables.

Who does what, on which thread:

- The state owns ONE worker thread (``diaspora-explore``, started on the first action, ended
  by :meth:`~ExplorerState.close`). Actions queue their reads on it and return at once (the
  kernel never blocks); they run one at a time, in the order asked. The live tail's reads run
  on the same worker, whenever it has nothing queued.
- One lock guards everything shared between the caller's thread and the worker: the query
  (:class:`ExploreQuery`, set with :meth:`~ExplorerState.configure`), the results (page,
  detail, schema, groups, error, progress), the busy/tail flags and the listeners. Reads from
  Kafka run without it.
- Listeners are called on the worker thread, one at a time and in order, never while the lock
  is held; :meth:`~ExplorerState.snapshot` gives them every field at once, consistently. Only
  the worker writes results, so what a listener reads does not change while it runs. A
  listener may call any method (``cancel()``, ``load()``...) except :meth:`~ExplorerState.wait`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.browse import read
from diaspora_notebook.explore.describe import describe_topic
from diaspora_notebook.explore.groups import groups
from diaspora_notebook.explore.result import ReadResult
from diaspora_notebook.explore.schema import Schema, schema
from diaspora_notebook.explore.snapshot import export
from diaspora_notebook.filters import parse_filter

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

log = logging.getLogger(__name__)

MAX_PAGE = 1000
#: most rows "export the whole range" writes
EXPORT_MOST = 1_000_000
STARTS = ("newest", "oldest", "offset", "time")
Listener = Callable[[str], None]


@dataclass(frozen=True)
class MessageDetail:
    """One message, every way of looking at it."""

    partition: int
    offset: int
    timestamp: Any
    key: str | None
    headers: dict[str, str]
    json: str | None  #: pretty-printed, when the payload is JSON
    text: str  #: the payload as UTF-8 (invalid bytes replaced)
    hex: str  #: the payload's bytes in hex, 16 per line


def _raw(payload: bytes) -> bytes:
    return payload


def detail_of(row: dict[str, Any]) -> MessageDetail:
    """A :class:`MessageDetail` from a row read with the raw decoder."""
    raw: bytes = row["value"] if isinstance(row["value"], bytes) else b""
    try:
        pretty: str | None = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        pretty = None
    hexed = "\n".join(raw[i:i + 16].hex(" ") for i in range(0, len(raw), 16))
    return MessageDetail(int(row["partition"]), int(row["offset"]), row["timestamp"],
                         row["key"], dict(row["headers"] or {}), pretty,
                         raw.decode("utf-8", errors="replace"), hexed)


def empty_reason(start: Any, direction: str, query: ExploreQuery) -> str:
    """Why a page is empty, in one line (nothing after where it starts, yet)."""
    with_filter = f" matching {query.filter!r}" if query.filter else ""
    if direction == "backward":
        return (f"no events{with_filter} before this page" if isinstance(start, dict)
                else f"no events{with_filter} in this topic yet")
    if isinstance(start, dict) and start:
        spots = ", ".join(f"offset {off - 1:,} in partition {p}" if off else
                          f"the start of partition {p}" for p, off in sorted(start.items()))
        return f"no events{with_filter} after {spots} yet (this is the newest page)"
    if isinstance(start, int):
        return f"no events{with_filter} at or after offset {start:,} yet"
    if isinstance(start, str) and start not in ("earliest", "latest"):
        return f"no events{with_filter} at or after {start} yet (a time in the future?)"
    return f"no events{with_filter} in this topic yet"


@dataclass(frozen=True)
class ExploreQuery:
    """What the explorer reads (its controls): taken when an action is asked for."""

    partitions: list[int] | None = None  #: ``None``: all
    start: str = "newest"  #: one of :data:`STARTS`
    start_offset: int = 0  #: for ``start="offset"``
    start_time: str = ""  #: for ``start="time"``: ISO text (naive is UTC)
    filter: str = ""
    fields: list[str] | None = None  #: ``None``: all
    page_size: int = 50

    def begin(self) -> tuple[Any, str]:
        """The reader's ``start`` and direction for the first page."""
        if self.start == "newest":
            return "latest", "backward"
        if self.start == "oldest":
            return "earliest", "forward"
        if self.start == "offset":
            return int(self.start_offset), "forward"
        if self.start == "time":
            if not self.start_time.strip():
                raise DiasporaUsageError("no time given",
                                         hint="e.g. 2026-12-01T10:00 (UTC) or with +02:00")
            return self.start_time.strip(), "forward"
        raise DiasporaUsageError(f"unknown start {self.start!r}", hint=f"one of {STARTS}")


@dataclass(frozen=True)
class ExplorerSnapshot:
    """Everything the explorer shows, at one moment (see :meth:`ExplorerState.snapshot`)."""

    query: ExploreQuery
    page: ReadResult | None
    detail: MessageDetail | None
    schema: Schema | None
    groups: pd.DataFrame | None
    all_partitions: list[int] = field(default_factory=list)
    error: BaseException | None = None
    filter_error: str | None = None
    progress: tuple[int, int] = (0, 0)
    busy: bool = False
    tailing: bool = False
    paused: bool = False


def _guarded(name: str, doc: str) -> Any:
    """A property read and written under the state's lock."""
    def get(self: ExplorerState) -> Any:
        with self._lock:
            return getattr(self, f"_{name}")
    return property(get, doc=doc)


def _setting(name: str) -> Any:
    """A field of the query, read under the lock and set through ``configure``."""
    def get(self: ExplorerState) -> Any:
        with self._lock:
            return getattr(self._query, name)

    def set_(self: ExplorerState, value: Any) -> None:
        self.configure(**{name: value})
    return property(get, set_, doc=f"``query.{name}`` (setting it calls ``configure``)")


class _Job:
    """One action queued on the worker."""

    def __init__(self, what: str, work: Callable[[], None]) -> None:
        self.what, self.work, self.future = what, work, Future[None]()


_WAKE = object()  # queued to make the worker look at the tail's schedule again
_STOP = object()  # queued by close(): the worker ends


class ExplorerState:
    """What the explorer of ``topic`` shows, and the calls that change it.

    Each action (``load``, ``next_page``, ``select``...) queues its read on the state's one
    worker thread and returns a ``Future`` that completes when the read is done (the results
    also arrive through ``on_change``); see the module's docstring for the threads.

    :param page_size: rows per page (at most :data:`MAX_PAGE`)
    :param tail_interval: seconds between two reads of the live tail
    """

    def __init__(self, topic: str, *, client: Client, page_size: int = 50,
                 engine: str = "auto", tail_interval: float = 1.0) -> None:
        self.topic = topic
        self.client = client
        self.engine = engine
        #: read by the worker before each wait of the live tail
        self.tail_interval = tail_interval
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when an action is done
        self._query = ExploreQuery(page_size=page_size)
        self._page: ReadResult | None = None
        self._detail: MessageDetail | None = None
        self._schema: Schema | None = None
        self._groups: pd.DataFrame | None = None
        self._all_partitions: list[int] = []
        self._error: BaseException | None = None
        self._filter_error: str | None = None
        self._progress: tuple[int, int] = (0, 0)
        self._tailing = False
        self._paused = False
        self._next_tail: float | None = None  # time.monotonic() of the tail's next read
        self._cancel = threading.Event()  # the running read's
        self._listeners: tuple[Listener, ...] = ()
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._queued = 0  # actions asked for and not yet finished (busy)
        self._unfinished = 0  # ... and whose listeners have not all been called (wait)
        self._worker: threading.Thread | None = None
        self._closed = False

    # --- what is shown (each read under the lock) ------------------------------------------

    query = _guarded("query", "What the next action reads (an :class:`ExploreQuery`).")
    page = _guarded("page", "The page shown (newest first), or ``None``.")
    detail = _guarded("detail", "The message shown in detail, or ``None``.")
    schema = _guarded("schema", "The last schema inferred, or ``None``.")
    groups = _guarded("groups", "The last consumer groups table, or ``None``.")
    all_partitions = _guarded("all_partitions", "The topic's partitions (after the first load).")
    error = _guarded("error", "What went wrong in the last action (``None``: it worked).")
    filter_error = _guarded("filter_error", "Why the filter is not valid (``None``: it is).")
    progress = _guarded("progress", "``(scanned, total)`` of the read in progress.")
    tailing = _guarded("tailing", "Whether the live tail is on.")
    paused = _guarded("paused", "Whether the live tail is paused.")

    partitions = _setting("partitions")
    start = _setting("start")
    start_offset = _setting("start_offset")
    start_time = _setting("start_time")
    filter = _setting("filter")
    fields = _setting("fields")
    page_size = _setting("page_size")

    @property
    def busy(self) -> bool:
        """Whether an action is queued or running, or the live tail is on."""
        with self._lock:
            return self._busy()

    def _busy(self) -> bool:
        return self._queued > 0 or self._tailing

    def snapshot(self) -> ExplorerSnapshot:
        """Everything shown, read at once under the lock (what a listener draws)."""
        with self._lock:
            return ExplorerSnapshot(
                query=self._query, page=self._page, detail=self._detail, schema=self._schema,
                groups=self._groups, all_partitions=list(self._all_partitions),
                error=self._error, filter_error=self._filter_error, progress=self._progress,
                busy=self._busy(), tailing=self._tailing, paused=self._paused)

    def configure(self, **changes: Any) -> ExploreQuery:
        """Change what the next actions read (fields of :class:`ExploreQuery`); returns it."""
        for name in ("partitions", "fields"):
            if changes.get(name) is not None:
                changes[name] = list(changes[name])
        with self._lock:
            self._query = replace(self._query, **changes)
            return self._query

    # --- listeners and the worker ----------------------------------------------------------

    def on_change(self, callback: Listener, remove: bool = False) -> None:
        """Call ``callback(what)`` after each change, on the worker thread (``remove``: stop
        calling it). Read what changed with :meth:`snapshot` (or the properties)."""
        with self._lock:
            if remove:
                listeners = list(self._listeners)
                listeners.remove(callback)
                self._listeners = tuple(listeners)
            else:
                self._listeners = (*self._listeners, callback)

    def _changed(self, what: str) -> None:
        """Tell the listeners (on the worker, without the lock); a failing one is logged."""
        with self._lock:
            listeners = self._listeners
        for callback in listeners:
            try:
                callback(what)
            except Exception:  # a view's bug must not stop the worker (nor print from it)
                log.debug("explorer listener failed on %r", what, exc_info=True)

    def _submit(self, what: str, work: Callable[[], None]) -> Future[None]:
        job = _Job(what, work)
        with self._lock:
            if self._closed:
                raise DiasporaUsageError("this explorer is closed", hint="open a new one")
            self._queued += 1
            self._unfinished += 1
            self._ensure_worker()
        self._jobs.put(job)
        return job.future

    def _post(self) -> None:
        """Make the worker look at the tail's schedule (and announce ``busy``) again."""
        with self._lock:
            if self._closed:
                return
            self._ensure_worker()
        self._jobs.put(_WAKE)

    def _ensure_worker(self) -> None:  # with the lock held
        if self._worker is None:
            self._worker = threading.Thread(target=self._serve, name="diaspora-explore",
                                            daemon=True)
            self._worker.start()

    def _serve(self) -> None:
        """The worker: queued actions first, the live tail's reads when nothing is queued."""
        while True:
            with self._lock:
                due = self._next_tail
            timeout = None if due is None else max(due - time.monotonic(), 0.0)
            try:
                item = self._jobs.get(timeout=timeout)
            except queue.Empty:
                self._tail_read()
                continue
            if item is _STOP:
                return
            if item is _WAKE:
                self._changed("busy")
            else:
                self._do(item)

    def _do(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():  # cancelled while queued
            with self._idle:
                self._queued -= 1
                self._unfinished -= 1
                self._idle.notify_all()
            return
        self._changed("busy")
        try:
            with self._lock:
                self._cancel = threading.Event()
            job.work()
        except Exception as exc:  # shown as one line by the widget, never raised there
            with self._lock:
                self._error = exc
            self._changed("error")
            job.future.set_exception(exc)
        else:
            with self._lock:
                self._error = None
            job.future.set_result(None)
        finally:
            with self._lock:
                self._queued -= 1
            self._changed("busy")
            with self._idle:
                self._unfinished -= 1
                self._idle.notify_all()

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the actions asked for so far are done and their listeners called (for
        scripts and tests); the live tail does not count. Returns at once on the worker."""
        if threading.current_thread() is self._worker:
            return
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._unfinished and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)

    def cancel(self) -> None:
        """Stop the scan in progress (its rows so far are shown)."""
        with self._lock:
            self._cancel.set()

    # --- what to read ---------------------------------------------------------------------

    def check_filter(self, text: str) -> str | None:
        """Set the filter; returns the error text for a bad expression (``None``: fine)."""
        text = text.strip()
        try:
            if text:
                parse_filter(text)
            problem = None
        except DiasporaUsageError as exc:
            problem = str(exc)
        with self._lock:
            self._query = replace(self._query, filter=text)
            self._filter_error = problem
        return problem

    def _plan(self) -> tuple[ExploreQuery, str | None]:
        with self._lock:
            return self._query, self._filter_error

    def _read(self, query: ExploreQuery, bad_filter: str | None, start: Any,
              direction: str) -> None:
        """Read a page (on the worker) and show it."""
        if bad_filter:
            raise DiasporaUsageError(bad_filter)
        size = max(1, min(int(query.page_size), MAX_PAGE))
        with self._lock:
            cancel = self._cancel
            self._progress = (0, 0)

        def progress(done: int, total: int) -> None:
            with self._lock:
                self._progress = (done, total)
            self._changed("progress")

        page = read(self.topic, partitions=query.partitions, start=start, direction=direction,
                    limit=size, filter=query.filter or None, fields=query.fields,
                    progress=progress, cancel=cancel, engine=self.engine, client=self.client)
        if direction == "forward":  # a page is shown newest first, however it was read
            page.frame = page.frame.iloc[::-1].reset_index(drop=True)
        if page.frame.empty:
            page.extra["empty"] = empty_reason(start, direction, query)
        with self._lock:
            self._page, self._detail = page, None
        self._changed("page")

    def load(self) -> Future[None]:
        """Read the first page from the chosen start (in the background)."""
        query, bad = self._plan()

        def work() -> None:
            with self._lock:
                known = bool(self._all_partitions)
            if not known:
                found = [p.partition for p in
                         describe_topic(self.topic, client=self.client).partition_details]
                with self._lock:
                    self._all_partitions = found
            self._read(query, bad, *query.begin())
        return self._submit("load", work)

    def next_page(self) -> Future[None]:
        """The page after the current one (newer messages)."""
        page = self.page
        if page is None:
            return self.load()
        query, bad = self._plan()
        return self._submit("next", lambda: self._read(query, bad, dict(page.after), "forward"))

    def previous_page(self) -> Future[None]:
        """The page before the current one (older messages)."""
        page = self.page
        if page is None:
            return self.load()
        query, bad = self._plan()
        return self._submit("previous",
                            lambda: self._read(query, bad, dict(page.before), "backward"))

    def select(self, row: int) -> Future[None]:
        """Show row ``row`` of the page in detail (read again with its raw bytes)."""
        page = self.page
        if page is None or not 0 <= row < len(page.frame):
            raise DiasporaUsageError(f"no row {row} on this page",
                                     hint="pick one of the rows shown")
        p, off = int(page.frame["partition"][row]), int(page.frame["offset"][row])

        def work() -> None:
            got = read(self.topic, partitions=[p], start={p: off}, direction="forward",
                       limit=1, fields=[], decoder=_raw, engine=self.engine,
                       client=self.client)
            if got.frame.empty:
                raise DiasporaUsageError(f"message {p}/{off} is gone (retention)")
            detail = detail_of({str(k): v for k, v in got.frame.iloc[0].items()})
            with self._lock:
                self._detail = detail
            self._changed("detail")
        return self._submit("detail", work)

    def load_schema(self, sample: int = 1000) -> Future[None]:
        """Infer the schema from ``sample`` messages spread over the range chosen: from the
        chosen start (oldest, an offset, a time; "newest": the whole topic) to the newest, in
        the chosen partitions, with the filter."""
        query, bad = self._plan()

        def work() -> None:
            if bad:
                raise DiasporaUsageError(bad)
            start, direction = query.begin()
            found = schema(self.topic, sample=sample, partitions=query.partitions,
                           start=start if direction == "forward" else "earliest",
                           filter=query.filter or None, engine=self.engine,
                           client=self.client)
            with self._lock:
                self._schema = found
            self._changed("schema")
        return self._submit("schema", work)

    def load_groups(self) -> Future[None]:
        """The topic's consumer groups with their lag."""
        def work() -> None:
            found = groups(self.topic, client=self.client)
            with self._lock:
                self._groups = found
            self._changed("groups")
        return self._submit("groups", work)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the page's rows."""
        page = self.page
        if page is None:
            raise DiasporaUsageError("nothing read yet", hint="load a page first")
        frame: pd.DataFrame = page.frame.copy()
        return frame

    def export(self, path: str | Path, format: str | None = None, *,
               whole: bool = False) -> Path:
        """Write the page as a snapshot (see :func:`~diaspora_notebook.explore.export`), or,
        with ``whole``, every message of the range chosen (from the chosen start, "newest":
        the whole topic, with the filter and fields; at most :data:`EXPORT_MOST` rows).

        :raises DiasporaUsageError: the file cannot be written (a folder that cannot be made,
            no permission), said in one line
        """
        page = self.page
        if page is None and not whole:
            raise DiasporaUsageError("nothing read yet", hint="load a page first")
        query, bad = self._plan()
        if whole and bad:
            raise DiasporaUsageError(bad)
        try:
            if not whole:
                assert page is not None
                return export(page, path, format, client=self.client)
            start, direction = query.begin()
            return export(self.topic, path, format, client=self.client,
                          partitions=query.partitions, filter=query.filter or None,
                          fields=query.fields, limit=EXPORT_MOST, engine=self.engine,
                          start=start if direction == "forward" else "earliest")
        except OSError as exc:
            where = Path(path).expanduser()
            raise DiasporaUsageError(
                f"cannot write {str(where)!r}: {exc.strerror or type(exc).__name__}",
                hint="choose a file in a folder you can write to, e.g. "
                f"{Path.home() / where.name}") from None

    # --- live tail ------------------------------------------------------------------------

    def tail(self, on: bool = True) -> None:
        """Follow the newest messages (re-read every ``tail_interval`` s, on the worker when
        nothing else is queued) or stop following."""
        with self._lock:
            self._tailing, self._paused = on, False
            self._next_tail = time.monotonic() if on else None
        self._post()

    def _tail_read(self) -> None:
        """One read of the live tail (on the worker, when it is due)."""
        with self._lock:
            if not self._tailing:
                self._next_tail = None
                return
            self._next_tail = None  # set again once this read is done
            paused = self._paused
            query, bad = self._query, self._filter_error
            self._cancel = threading.Event()
        if not paused:
            try:
                self._read(query, bad, "latest", "backward")
            except Exception as exc:  # the tail stops, as it does on any error
                with self._lock:
                    self._error, self._tailing = exc, False
                self._changed("error")
                self._changed("busy")
                return
            with self._lock:
                self._error = None
        with self._lock:
            if self._tailing:
                self._next_tail = time.monotonic() + self.tail_interval

    def pause(self, paused: bool = True) -> None:
        """Pause (or resume) the live tail; the page stays as it is."""
        with self._lock:
            self._paused = paused
        self._post()

    def close(self) -> None:
        """Stop the tail and any scan, drop the actions still queued and end the worker (after
        the read in progress, which is cancelled)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._tailing = False
            self._next_tail = None
            self._cancel.set()
        dropped = 0
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                item.future.cancel()
                dropped += 1
        self._jobs.put(_STOP)
        with self._idle:
            self._queued -= dropped
            self._unfinished -= dropped
            self._idle.notify_all()
