"""``LiveDataFrame``: a pandas view of Kafka topics that keeps itself up to date.

::

    live = LiveDataFrame("ns-1234.sensors", start="earliest", max_rows=5_000)
    live            # in Jupyter: a live table with counters, Pause and Stop
    live.df         # a consistent snapshot (a copy)
    live.stats      # events, rate, lag per partition, errors, rows dropped by the window
    live.stop()

A daemon thread does all Kafka work, so the kernel stays free. That thread never prints: problems
go to ``live.stats`` / ``live.error`` and the widget.
"""

from __future__ import annotations

import html
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError, LiveStreamError, LiveStreamTimeoutError
from diaspora_notebook.kafka.arrow import Chunk
from diaspora_notebook.kafka.flatten import Deserializer, RowDecoder
from diaspora_notebook.kafka.read import read_raw
from diaspora_notebook.kafka.source import RawBatch, client_config, pick_engine
from diaspora_notebook.kafka.start import StartSpec
from diaspora_notebook.stream.consumer_thread import ConsumerLoop
from diaspora_notebook.stream.frame import LiveFrame
from diaspora_notebook.stream.stats import StreamStats, StreamStatus
from diaspora_notebook.stream.views import require_view, view_factory

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.stream.aggregate import Plan

log = logging.getLogger(__name__)

BatchCallback = Callable[["pd.DataFrame"], Any]
_RUNNING: weakref.WeakSet[LiveDataFrame] = weakref.WeakSet()


class LiveDataFrame:
    """A bounded, live-updating DataFrame of the events on Kafka topics.

    :param topics: a topic name or several
    :param start: ``"latest"`` (events produced from now on), ``"earliest"``, an offset ``n``
        (each partition from offset n), ``-n`` (the last n events of each partition) or a
        ``datetime``/``pd.Timestamp`` (naive means UTC)
    :param group_id: consume as this consumer group (offsets are committed, so a new
        LiveDataFrame with the same group continues where this one stopped); by default every
        partition is read directly and nothing is committed. On a Diaspora fabric a topic's
        groups are ``<topic>/<name>``:
        ``diaspora_notebook.explore.groups.group_name(topic, "live")``
    :param max_rows: most rows held; the oldest are dropped (and counted) beyond it
    :param mode: ``"append"`` or ``"latest_by_key"`` (one row per Kafka key, the newest)
    :param deserializer: ``"json"``, ``"text"``, ``"bytes"`` or a function ``bytes -> object``
    :param flatten: spread JSON objects over columns, nested keys joined with ``"."``
    :param refresh_hz: most widget refreshes per second
    :param client: a ``diaspora_notebook.client.Client``; its Kafka settings are read lazily
    :param consumer_config: consumer settings instead of ``client``: kafka-python
        ``KafkaConsumer`` kwargs (translated for the confluent engine) or librdkafka settings
    :param engine: ``"auto"`` (confluent-kafka when installed, else kafka-python),
        ``"confluent"`` or ``"kafka-python"``
    """

    def __init__(
        self,
        topics: str | Iterable[str],
        *,
        start: StartSpec = "latest",
        group_id: str | None = None,
        max_rows: int = 10_000,
        mode: str = "append",
        deserializer: str | Deserializer = "json",
        flatten: bool = True,
        refresh_hz: float = 10,
        client: Any = None,
        consumer_config: dict[str, Any] | None = None,
        engine: str = "auto",
    ) -> None:
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        if not self.topics or not all(isinstance(t, str) and t for t in self.topics):
            raise DiasporaUsageError(
                f"topics must be a topic name or a list of them, not {topics!r}",
                hint="e.g. LiveDataFrame('ns-0123456789ab.events')",
            )
        self.engine = pick_engine(engine, client=client)
        if (client is None) == (consumer_config is None):
            raise DiasporaUsageError(
                "give exactly one of client= and consumer_config=",
                hint="client=Client() after logging in, or consumer_config={...} with "
                "kafka-python KafkaConsumer settings",
            )
        if not refresh_hz or refresh_hz <= 0:
            raise DiasporaUsageError(
                f"refresh_hz must be positive, not {refresh_hz!r}", hint="10 is the default"
            )
        self.refresh_hz = float(refresh_hz)
        self._client = client
        self._consumer_config = dict(consumer_config) if consumer_config is not None else None
        self.frame = LiveFrame(
            max_rows=max_rows, mode=mode, decoder=RowDecoder(deserializer, flatten=flatten)
        )
        self.status = StreamStatus()
        self._callbacks: list[BatchCallback] = []
        self._subscribers: list[Callable[[Chunk], None]] = []  # decoded chunks (analytics)
        self._parked: list[list[RawBatch]] = []
        # The thread holds only a weak reference: a LiveDataFrame nobody uses any more is
        # collected, and then its thread stops (see the finalizer below).
        ref = weakref.ref(self)

        def sink(batch: list[RawBatch]) -> None:
            live = ref()
            if live is None:
                self_loop.stop_event.set()
            else:
                live._sink(batch)

        def config() -> dict[str, Any]:
            live = ref()
            if live is None:
                raise LiveStreamError("the LiveDataFrame was garbage-collected")
            return live._kafka_config()

        self._loop = self_loop = ConsumerLoop(
            topics=self.topics,
            frame=self.frame,
            status=self.status,
            sink=sink,
            config=config,
            engine=self.engine,
            start=start,
            group_id=group_id,
        )
        self.start = start
        self.group_id = group_id
        self._loop.start()
        _RUNNING.add(self)
        weakref.finalize(self, self._loop.stop_event.set)

    # --- Kafka settings ------------------------------------------------------------------------

    def _kafka_config(self) -> dict[str, Any]:
        if self._consumer_config is not None:
            return self._consumer_config
        return client_config(self._client, self.engine)

    # --- the consumer thread's side ------------------------------------------------------------

    def _sink(self, batch: list[RawBatch]) -> None:
        """Called by the consumer thread with each poll result (``[]``: hand over parked ones)."""
        with self.status.lock:
            paused = self.status.paused
        if paused or (self._parked and batch):
            if batch:
                self._parked.append(batch)  # keeps order; bounded: the consumer is paused too
            if paused:
                return
        parked, self._parked = self._parked, []
        for held in parked:
            self._ingest(held)
        if batch and not parked:
            self._ingest(batch)

    def _ingest(self, batch: list[RawBatch]) -> None:
        callbacks = self._callbacks
        for raw in batch:
            fresh = self.frame.ingest_columns(raw.topic, raw.partition, raw.offsets,
                                              raw.timestamps, raw.keys, raw.values)
            if fresh is None:
                continue
            for subscriber in self._subscribers:
                try:
                    subscriber(fresh)
                except Exception as exc:  # an aggregate's bug must not kill the stream
                    self.status.record_callback_error(exc)
            if callbacks:
                self._run_callbacks(fresh)
        with self.status.lock:
            self.status.rate.add(self.frame.events)

    def _run_callbacks(self, chunk: Chunk) -> None:
        try:
            batch_df = self.frame.batch_frame(chunk)
        except Exception as exc:  # a bug in decoding must not kill the stream either
            self.status.record_callback_error(exc)
            return
        for callback in list(self._callbacks):
            try:
                callback(batch_df)
            except Exception as exc:  # user code: counted and shown, never fatal
                self.status.record_callback_error(exc)

    # --- public API ------------------------------------------------------------------------------

    @property
    def df(self) -> pd.DataFrame:
        """A consistent snapshot of the held rows (a copy: it never changes under you)."""
        return self.frame.snapshot()

    def tail(self, n: int = 10) -> pd.DataFrame:
        """The newest ``n`` rows (cheap: only those are materialized).

        :param n: how many rows
        """
        return self.frame.snapshot(tail=max(int(n), 0))

    def tail_table(self, n: int = 10) -> Any:
        """The newest ``n`` rows as a ``pyarrow.Table`` (what the live grid is fed; no pandas).

        :param n: how many rows
        """
        return self.frame.tail_table(n)

    def rows_since(self, seen: int, most: int) -> tuple[Any, int]:
        """The rows of the events after the first ``seen`` (at most the newest ``most``) as a
        ``pyarrow.Table``, and the event count to pass next time: how a view is fed each row
        once (the live grid's refresh).

        :param seen: events already handed over (0 at first)
        :param most: most rows returned (the newest)
        """
        return self.frame.rows_since(seen, most)

    def sample_table(self, per_partition: int = 1, *, timeout: float = 2.0) -> Any:
        """The newest records already on the topics, decoded as this stream decodes them, as a
        ``pyarrow.Table``; they are not added to the stream.

        A view made before the first event arrives learns its columns from these, so its first
        draw already has the payload's fields (a grid drawn with Kafka's columns only must be
        drawn again when the first events bring theirs). Gives up after ``timeout`` seconds
        and on any error (a missing or forbidden topic, a broker that is down): the stream
        itself reports those; the table is then empty.

        :param per_partition: newest records of each partition
        :param timeout: seconds to wait in all
        """
        frame = LiveFrame(max_rows=1 << 30, mode=self.frame.mode,
                          decoder=RowDecoder(self.frame.decoder.deserializer,
                                             flatten=self.frame.decoder.flatten))
        config = self._kafka_config()
        deadline = time.monotonic() + timeout
        done, stop = threading.Event(), threading.Event()

        def read() -> None:
            for topic in self.topics:
                left = deadline - time.monotonic()
                if stop.is_set() or left <= 0:
                    return
                for raw in read_raw(None, topic, config=config, engine=self.engine,
                                    start=-per_partition, per_partition=per_partition,
                                    timeout=left):
                    if stop.is_set():
                        return
                    frame.ingest_columns(raw.topic, raw.partition, raw.offsets, raw.timestamps,
                                         raw.keys, raw.values)

        def run() -> None:  # in a thread: metadata calls have their own, longer timeouts
            try:
                read()
            except Exception as exc:
                log.debug("no sample of %s: %s", self.topics, exc)
            finally:
                done.set()

        threading.Thread(target=run, name="diaspora-sample", daemon=True).start()
        if not done.wait(timeout):
            stop.set()  # the thread ends at its next step; what it read so far is kept
            log.debug("sample of %s incomplete after %.1f s", self.topics, timeout)
        return frame.tail_table(frame.rows)

    @property
    def stats(self) -> StreamStats:
        """Counters, rate, lag per partition and errors, as one consistent snapshot."""
        frame = self.frame
        status = self.status
        with frame.lock:
            counts: dict[str, Any] = {
                "events": frame.events,
                "rows": frame.rows,
                "rows_dropped": frame.rows_dropped,
                "rows_replaced": frame.rows_replaced,
                "duplicates": frame.duplicates,
                "decode_errors": frame.decode_errors,
                "schema_changes": frame.schema_changes,
                "new_fields": dict(frame.new_fields),
            }
        with status.lock:
            return StreamStats(
                state=status.state,
                max_rows=frame.max_rows,
                rate=status.rate.rate(),
                lag=dict(status.lag),
                callback_errors=status.callback_errors,
                consumer_errors=status.consumer_errors,
                error=status.error,
                last_error=status.last_error,
                last_callback_error=status.last_callback_error,
                paused=status.paused,
                engine=self.engine,
                **counts,
            )

    @property
    def error(self) -> str | None:
        """What is wrong right now (``None`` when the stream is healthy or recovered)."""
        with self.status.lock:
            return self.status.error

    @property
    def state(self) -> str:
        """``starting``, ``running``, ``paused``, ``retrying``, ``stopped``."""
        with self.status.lock:
            return self.status.state

    @property
    def version(self) -> int:
        """Grows whenever rows are added (cheap change detection for views)."""
        return self.frame.version

    @property
    def events(self) -> int:
        """Events added since the start (cheap: ``stats.events`` without the snapshot)."""
        return self.frame.events

    @property
    def mode(self) -> str:
        """``"append"`` or ``"latest_by_key"`` (one row per Kafka key, the newest)."""
        return self.frame.mode

    @property
    def max_rows(self) -> int:
        """Most rows held (the window)."""
        return self.frame.max_rows

    def wait_changed(self, version: int, timeout: float) -> bool:
        """Wait until rows are added after :attr:`version` was ``version``, at most ``timeout``
        seconds; ``True`` if they were. How a view refreshes as soon as events land."""
        frame = self.frame
        with frame.lock:
            if frame.version == version and timeout > 0:
                frame.changed.wait(timeout)
            return frame.version != version

    def wake_waiters(self) -> None:
        """Wake every :meth:`wait_changed` and :meth:`wait` now (they check again)."""
        with self.frame.lock:
            self.frame.changed.notify_all()

    def pause(self) -> None:
        """Stop adding rows until ``resume()``; events are not lost, they wait in Kafka."""
        with self.status.lock:
            if self.status.state in ("stopped", "failed"):
                return
            self.status.paused = True
            self.status.rate.freeze()  # the rate shown holds while paused
            if self.status.state == "running":
                self.status.state = "paused"

    def resume(self) -> None:
        """Continue after ``pause()``: every event produced meanwhile arrives, exactly once."""
        with self.status.lock:
            self.status.paused = False
            self.status.rate.thaw(self.frame.events)
            if self.status.state == "paused":
                self.status.state = "running"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming and close the consumer; the rows stay readable.

        :param timeout: seconds to wait for the consumer thread to finish
        """
        self._loop.stop_event.set()
        if threading.current_thread() is not self._loop.thread:
            self._loop.thread.join(timeout)
        _RUNNING.discard(self)

    @property
    def running(self) -> bool:
        return self._loop.thread.is_alive() and not self._loop.stop_event.is_set()

    def on_batch(self, callback: BatchCallback, *, remove: bool = False) -> BatchCallback:
        """Call ``callback(batch_df)`` with each batch of new rows (in the consumer thread).

        Exceptions are caught and counted in ``stats.callback_errors`` (the traceback in
        ``stats.last_callback_error``); they never stop the stream. Do not print from a callback:
        it runs in a background thread, so output lands in whichever cell runs at the time.
        Usable as a decorator.

        :param callback: takes a DataFrame of the new rows (same columns as ``df``)
        :param remove: unregister ``callback`` instead
        """
        callbacks = [c for c in self._callbacks if c is not callback]
        if not remove:
            callbacks.append(callback)
        self._callbacks = callbacks  # replaced, not mutated: the thread reads it without a lock
        return callback

    # --- live analytics (diaspora_notebook.stream.aggregate) -----------------------------------

    def _subscribe(self, on_chunk: Callable[[Chunk], None],
                   on_replay: Callable[[list[Chunk], int], None] | None = None,
                   ) -> Callable[[], None]:
        """Internal: call ``on_chunk(chunk)`` in the consumer thread with each batch of fresh
        events, decoded (Arrow payloads), each event once. ``on_replay(chunks, missed)`` first
        gets the rows held now (append mode) and how many events came before them (dropped by
        the window, or replaced by key); no batch reaches ``on_chunk`` before it returns.
        Returns the function that unsubscribes."""
        frame = self.frame
        gate = threading.Lock()
        gate.acquire()
        with frame.lock:
            held, first_seq, events = frame.subscribe_point()

            def deliver(chunk: Chunk) -> None:
                if chunk.seqs is not None and len(chunk.seqs) and chunk.seqs[0] < first_seq:
                    return  # held when the subscriber came: it was replayed
                with gate:
                    on_chunk(frame.decoded(chunk))

            self._subscribers = [*self._subscribers, deliver]
        try:
            if on_replay is not None:
                on_replay([frame.decoded(c) for c in held], events - sum(c.n for c in held))
        finally:
            gate.release()

        def unsubscribe() -> None:
            self._subscribers = [d for d in self._subscribers if d is not deliver]
        return unsubscribe

    def groupby(self, by: str | list[str]) -> Plan:
        """Running aggregates per key, updated as events arrive:
        ``live.groupby("sensor").agg(mean=("temp", "mean"), n="size")`` (a
        :class:`~diaspora_notebook.stream.aggregate.LiveAggregate`, one row per key).

        :param by: key column(s): ``"key"`` (the Kafka key) or payload fields as in ``df``
        """
        from diaspora_notebook.stream.aggregate import Plan

        return Plan(self, by, None)

    def window(self, size: Any, every: Any = None, *, on: str = "timestamp",
               by: str | list[str] | None = None, grace: Any = None) -> Plan:
        """Event-time windows: ``live.window("10s", by="sensor").agg(mean=("temp", "mean"))``
        (a :class:`~diaspora_notebook.stream.aggregate.LiveAggregate`: one row per key and
        window; ``.final()`` closed windows only). Rules in
        :mod:`~diaspora_notebook.stream.windows`.

        :param size: window length: ``"10s"``, seconds, a ``timedelta``; with a numeric
            ``on`` field, a number in the field's units
        :param every: hop between window starts (hopping windows); ``None``: tumbling
        :param on: ``"timestamp"`` (the Kafka timestamp) or a payload field (a time, or a
            number)
        :param by: key column(s) (``None``: one group)
        :param grace: how long after its end a window still takes late events (default 0);
            later events are counted in the ``late`` column, never merged
        """
        from diaspora_notebook.stream.aggregate import Plan
        from diaspora_notebook.stream.windows import Windows

        return Plan(self, by, Windows.make(size, every, on=on, grace=grace))

    def when(self, condition: str, callback: Callable[[Any], Any], *,
             by: str | list[str] | None = None) -> Any:
        """Call ``callback(row)`` once each time ``condition`` becomes true for the raw
        events (``"value.temp > 30"``: the filter language of ``topics.read``), with the event
        (a ``pandas.Series``) that made it true; again only after it was false. In the
        consumer thread; exceptions are counted in ``alert.errors``.

        :param by: track crossings per key column(s) (e.g. ``"key"``)
        :returns: the alert (``alert.fired``; ``alert.cancel()`` stops it)
        """
        from diaspora_notebook.stream.alerts import Alert

        keys = [] if by is None else [by] if isinstance(by, str) else list(by)
        alert = Alert(condition, callback, by=keys, raw=True)
        frame = self.frame

        def on_chunk(chunk: Chunk) -> None:
            rows = frame.batch_frame(chunk)
            try:
                alert.feed(rows)
            except DiasporaUsageError as exc:  # a condition that does not apply to the data
                alert.errors += 1
                alert.last_error = str(exc)

        alert.cancel = self._subscribe(on_chunk)
        return alert

    def _writer_client(self, engine: str) -> Any:
        """Who an aggregate's ``to_topic`` writes as: the stream's client (the in-memory
        topics for ``engine="memory"``)."""
        if self._client is not None:
            return self._client
        if engine == "memory" and self._consumer_config is not None:
            config = self._consumer_config

            class _Memory:
                def connection_config(self, _library: str) -> dict[str, Any]:
                    return dict(config)
            return _Memory()
        raise DiasporaUsageError("this stream has no client to write with",
                                 hint="agg.to_topic(topic, client=Client())")

    def wait(self, n: int | None = None, timeout: float = 30.0) -> LiveDataFrame:
        """Block until ``n`` events arrived in total (``None``: until caught up with the topics).

        :param n: events since the start (not rows held: the window may have dropped some)
        :param timeout: seconds; then ``LiveStreamTimeoutError`` says what is happening
        """
        deadline = time.monotonic() + timeout
        frame = self.frame
        ends = self._loop.request_fresh_ends() if n is None else 0
        while True:
            with frame.lock:
                if n is not None and frame.events >= n:
                    return self
                if n is None and self._loop.ends_generation >= ends and self._caught_up():
                    return self
                left = deadline - time.monotonic()
                if left <= 0 or not self._loop.thread.is_alive() or self.status.paused:
                    break
                frame.changed.wait(min(left, 0.1))
        stats = self.stats
        what = f"{n:,} events" if n is not None else "the end of the topics"
        if stats.paused:  # nothing arrives while paused: say so now, not after the timeout
            raise LiveStreamError(
                f"the stream is paused, so {what} cannot arrive ({stats.summary()})",
                hint="resume it first (live.resume() or the Resume button), then wait again")
        if not self._loop.thread.is_alive():
            raise LiveStreamError(
                f"the stream stopped before {what} arrived ({stats.summary()})",
                hint="fix the consumer settings, then create a new LiveDataFrame"
                if stats.state == "failed" else "create a new LiveDataFrame to read again",
            )
        raise LiveStreamTimeoutError(
            f"waited {timeout:g} s for {what}: {stats.summary()}",
            hint=f"the consumer reports: {stats.error}" if stats.error else
            "check that events are being produced and that start= covers them",
        )

    def _caught_up(self) -> bool:
        with self.status.lock:
            lag = dict(self.status.lag)
            state = self.status.state
        return state == "running" and bool(lag) and all(v == 0 for v in lag.values())

    def plot(self, y: str | list[str], *, x: str | None = None, by: str | bool | None = None,
             window: Any = None) -> Any:
        """A live line plot of numeric columns over the newest ``window`` of event time (an
        ipywidgets view; display it in Jupyter). Lines keep each slice's extremes, so a
        peak of one event shows however fast the stream is.

        :param y: column name(s) to draw
        :param x: column for the x axis (default: the event ``timestamp``)
        :param by: the column whose values get a line each (default: the Kafka key, while
            there are at most 12 keys); ``False``: one line per column
        :param window: event time shown: ``"60s"``, ``"5min"``, ``"1h"`` or seconds; default
            60 s, longer for a slow stream (at least about 100 events)
        """
        return require_view("plot")(self, y=[y] if isinstance(y, str) else list(y), x=x,
                                    by=by, window=window)

    def view(self, *, rows: int = 10) -> Any:
        """The ipywidgets view: the newest rows as a table, counters, Pause and Stop.

        :param rows: rows shown in the table
        """
        return require_view("table")(self, rows=rows)

    # --- context manager and display -------------------------------------------------------------

    def __enter__(self) -> LiveDataFrame:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LiveDataFrame {', '.join(self.topics)} - {self.stats.summary()}>"

    def _repr_html_(self) -> str:
        stats = self.stats
        table = self.tail(10).to_html(max_cols=30, show_dimensions=False)
        return (
            f"<div><b>LiveDataFrame</b> {html.escape(', '.join(self.topics))}: "
            f"{html.escape(stats.summary())}</div>{table}"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """In a Jupyter kernel: the live widget; elsewhere a text (and HTML) summary.

        The ``"display"`` view registered by the Jupyter extension decides whether a widget can
        be shown here (it returns ``None`` outside a kernel).
        """
        factory = view_factory("display")
        if factory is not None:
            try:
                view = factory(self)
            except (ImportError, DiasporaUsageError):
                view = None
            if view is not None:
                bundle: dict[str, Any] = view._repr_mimebundle_(include=include, exclude=exclude)
                return bundle
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


def live_dataframe(topics: str | Iterable[str], **options: Any) -> LiveDataFrame:
    """The plain function behind ``%diaspora_stream``: ``LiveDataFrame(topics, **options)``.

    :param topics: a topic name or several
    :param options: keyword arguments of ``LiveDataFrame``
    """
    return LiveDataFrame(topics, **options)


def running_streams() -> list[LiveDataFrame]:
    """Every LiveDataFrame of this process that has not been stopped."""
    return [live for live in list(_RUNNING) if live.running]


def stop_all(timeout: float = 10.0) -> int:
    """Stop every running LiveDataFrame (e.g. before re-running a notebook); return how many.

    :param timeout: seconds to wait for each consumer thread
    """
    streams = running_streams()
    for live in streams:
        live.stop(timeout)
    return len(streams)
