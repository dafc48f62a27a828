"""The explorer's state, without Jupyter: what is shown, and the background work behind it.

``%diaspora_explore``'s widget is a skin over :class:`ExplorerState`: every button calls one
method here, the work runs in a background thread (the kernel never blocks), and
``on_change(callback)`` hears when something changed (``"page"``, ``"detail"``, ``"schema"``,
``"groups"``, ``"progress"``, ``"error"``, ``"busy"``). Memory holds one page (at most
:data:`MAX_PAGE` rows), one message's detail and the last schema and groups tables.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.browse import read
from diaspora_notebook.explore.describe import describe_topic
from diaspora_notebook.explore.groups import groups
from diaspora_notebook.explore.query import parse_filter
from diaspora_notebook.explore.result import ReadResult
from diaspora_notebook.explore.schema import Schema, schema
from diaspora_notebook.explore.snapshot import export

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

MAX_PAGE = 1000
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


class ExplorerState:
    """What the explorer of ``topic`` shows, and the calls that change it.

    :param page_size: rows per page (at most :data:`MAX_PAGE`)
    :param tail_interval: seconds between two reads of the live tail
    """

    def __init__(self, topic: str, *, client: Client, page_size: int = 50,
                 engine: str = "auto", tail_interval: float = 1.0) -> None:
        self.topic = topic
        self.client = client
        self.engine = engine
        self.partitions: list[int] | None = None
        self.start = "newest"
        self.start_offset = 0
        self.start_time: str = ""
        self.filter = ""
        self.fields: list[str] | None = None
        self.page_size = page_size
        self.page: ReadResult | None = None
        self.detail: MessageDetail | None = None
        self.schema: Schema | None = None
        self.groups: pd.DataFrame | None = None
        self.all_partitions: list[int] = []
        self.error: BaseException | None = None
        self.filter_error: str | None = None
        self.progress: tuple[int, int] = (0, 0)
        self.busy = False
        self.tailing = False
        self.paused = False
        self.tail_interval = tail_interval
        self._cancel = threading.Event()
        self._jobs: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._tail_stop = threading.Event()

    # --- listeners and background work ----------------------------------------------------

    def on_change(self, callback: Listener, remove: bool = False) -> None:
        """Call ``callback(what)`` after each change (``remove``: stop calling it)."""
        if remove:
            self._listeners.remove(callback)
        else:
            self._listeners.append(callback)

    def _changed(self, what: str) -> None:
        for callback in list(self._listeners):
            callback(what)

    def _run(self, what: str, work: Callable[[], None]) -> threading.Thread:
        def job() -> None:
            try:
                work()
                self.error = None
            except Exception as exc:  # shown as one line by the widget, never raised there
                self.error = exc
                self._changed("error")
            finally:
                with self._lock:
                    self.busy = any(t.is_alive() and t is not threading.current_thread()
                                    for t in self._jobs)
                self._changed("busy")

        thread = threading.Thread(target=job, name=f"diaspora-explore-{what}", daemon=True)
        with self._lock:
            self._jobs = [t for t in self._jobs if t.is_alive()] + [thread]
            self.busy = True
        self._changed("busy")
        thread.start()
        return thread

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the background work started so far is done (for scripts and tests)."""
        for thread in list(self._jobs):
            if thread.name != "diaspora-explore-tail":  # the tail runs until stopped
                thread.join(timeout)

    def cancel(self) -> None:
        """Stop the scan in progress (its rows so far are shown)."""
        self._cancel.set()

    # --- what to read ---------------------------------------------------------------------

    def check_filter(self, text: str) -> str | None:
        """Set the filter; returns the error text for a bad expression (``None``: fine)."""
        self.filter = text.strip()
        try:
            if self.filter:
                parse_filter(self.filter)
            self.filter_error = None
        except DiasporaUsageError as exc:
            self.filter_error = str(exc)
        return self.filter_error

    def _start(self) -> tuple[Any, str]:
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

    def _read(self, start: Any, direction: str) -> None:
        if self.filter_error:
            raise DiasporaUsageError(self.filter_error)
        size = max(1, min(int(self.page_size), MAX_PAGE))
        self._cancel = cancel = threading.Event()
        self.progress = (0, 0)

        def progress(done: int, total: int) -> None:
            self.progress = (done, total)
            self._changed("progress")

        page = read(self.topic, partitions=self.partitions, start=start, direction=direction,
                    limit=size, filter=self.filter or None, fields=self.fields,
                    progress=progress, cancel=cancel, engine=self.engine, client=self.client)
        if direction == "backward":  # a page is shown oldest first, however it was read
            page.frame = page.frame.iloc[::-1].reset_index(drop=True)
        self.page, self.detail = page, None
        self._changed("page")

    def load(self) -> threading.Thread:
        """Read the first page from the chosen start (in the background)."""
        def work() -> None:
            if not self.all_partitions:
                self.all_partitions = [p.partition for p in
                                       describe_topic(self.topic,
                                                      client=self.client).partition_details]
            self._read(*self._start())
        return self._run("load", work)

    def next_page(self) -> threading.Thread:
        """The page after the current one (newer messages)."""
        page = self.page
        if page is None:
            return self.load()
        return self._run("next", lambda: self._read(dict(page.after), "forward"))

    def previous_page(self) -> threading.Thread:
        """The page before the current one (older messages)."""
        page = self.page
        if page is None:
            return self.load()
        return self._run("previous", lambda: self._read(dict(page.before), "backward"))

    def select(self, row: int) -> threading.Thread:
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
            self.detail = detail_of({str(k): v for k, v in got.frame.iloc[0].items()})
            self._changed("detail")
        return self._run("detail", work)

    def load_schema(self, sample: int = 500) -> threading.Thread:
        """Infer the schema from the newest ``sample`` messages."""
        def work() -> None:
            self.schema = schema(self.topic, sample=sample, partitions=self.partitions,
                                 engine=self.engine, client=self.client)
            self._changed("schema")
        return self._run("schema", work)

    def load_groups(self) -> threading.Thread:
        """The topic's consumer groups with their lag."""
        def work() -> None:
            self.groups = groups(self.topic, client=self.client)
            self._changed("groups")
        return self._run("groups", work)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the page's rows."""
        if self.page is None:
            raise DiasporaUsageError("nothing read yet", hint="load a page first")
        frame: pd.DataFrame = self.page.frame.copy()
        return frame

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the page as a snapshot (see :func:`~diaspora_notebook.explore.export`)."""
        if self.page is None:
            raise DiasporaUsageError("nothing read yet", hint="load a page first")
        return export(self.page, path, format, client=self.client)

    # --- live tail ------------------------------------------------------------------------

    def tail(self, on: bool = True) -> None:
        """Follow the newest messages (re-read every ``tail_interval`` s) or stop following."""
        self._tail_stop.set()
        self.tailing, self.paused = on, False
        if not on:
            return
        self._tail_stop = stop = threading.Event()

        def work() -> None:
            while not stop.is_set():
                if not self.paused:
                    self._read("latest", "backward")
                stop.wait(self.tail_interval)
        self._run("tail", work)

    def pause(self, paused: bool = True) -> None:
        """Pause (or resume) the live tail; the page stays as it is."""
        self.paused = paused
        self._changed("busy")

    def close(self) -> None:
        """Stop the tail and any scan."""
        self._tail_stop.set()
        self._cancel.set()
        self.tailing = False
