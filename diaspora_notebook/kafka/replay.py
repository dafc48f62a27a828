"""Replay: recorded events played back into topics, paced by their own times.

A source (an explorer export or snapshot file, a read's frame, any DataFrame with a timestamp
column, or a range of another topic) becomes :class:`~.write.Records` with each row's event
time; a background thread hands each row to the producer when its time comes (``speed`` times
faster, or as fast as possible with ``speed="max"``), to one topic or to several (a class: one
topic per student). Keys and headers are kept, and with ``keep_timestamps`` the original event
times too. The schedule never goes backwards: a row whose time is earlier than one before it
(another partition's clock) is sent at once, so each partition's rows keep their order.

:class:`Replay` is the handle: ``progress``, ``pause()``, ``resume()``, ``stop()``,
``wait()``, like a LiveDataFrame's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from diaspora_notebook.errors import DiasporaError, DiasporaUsageError
from diaspora_notebook.kafka.write import (
    BATCH_ROWS,
    FILE_SUFFIXES,
    HIDDEN_PREFIX,
    Options,
    ProduceError,
    Records,
    _check_topic,
    _Failure,
    _outcome,
    _spec,
    ahead,
    column,
    make_writer,
    table_records,
    to_ms,
)

#: librdkafka settings of a paced replay: small batches leave at once (the schedule is the
#: point); ``speed="max"`` keeps the bulk settings of ``produce``
PACED_PRODUCER = {"confluent": {"linger.ms": 1}, "kafka-python": {"linger_ms": 1}}
_LAG_KEEP = 1_000_000  # lateness samples kept for the percentiles
EVENT_MS = HIDDEN_PREFIX + "event_ms"


def _read_meta(names: Sequence[str]) -> dict[str, Any]:
    """key/headers/timestamp columns of a read's frame (or of an export of one)."""
    return {"key": column("key") if "key" in names else None,
            "headers": column("headers") if "headers" in names else None}


def _pace_by(opts: Options, name: str) -> None:
    opts.timestamp = column(name)
    if opts.specs is not None:
        opts.specs["timestamp"] = column(name)


def _order_key(ts: np.ndarray, partitions: np.ndarray | None) -> np.ndarray:
    """A schedule that never goes back within a partition (its running maximum)."""
    if partitions is None or len(ts) == 0:
        return np.maximum.accumulate(ts) if len(ts) else ts
    out = np.empty_like(ts)
    for p in np.unique(partitions):
        mask = partitions == p
        out[mask] = np.maximum.accumulate(ts[mask])
    return out


def frame_batches(frame: Any, timestamp: str | None, opts: Options,
                  batch_rows: int) -> tuple[Iterator[Records], int]:
    """A DataFrame in event-time order (each partition's rows in offset order) as records whose
    ``timestamps`` are the event times."""
    import pandas as pd
    import pyarrow as pa

    ts_col = timestamp or "timestamp"
    if ts_col not in frame.columns:
        raise DiasporaUsageError(f"the frame has no {ts_col!r} column to pace the replay by",
                                 hint="pass timestamp='<column of event times>'")
    frame = frame.copy()
    has_parts = {"partition", "offset"} <= set(frame.columns)
    if has_parts:
        frame = frame.sort_values(["partition", "offset"], kind="stable")
    stamps = pd.to_datetime(frame[ts_col], utc=True, format="ISO8601") \
        if not pd.api.types.is_numeric_dtype(frame[ts_col]) else frame[ts_col]
    ms = (stamps.astype("datetime64[ms, UTC]").astype("int64").to_numpy()
          if not pd.api.types.is_numeric_dtype(stamps) else stamps.astype("int64").to_numpy())
    order = np.argsort(_order_key(ms, frame["partition"].to_numpy() if has_parts else None),
                       kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    frame[EVENT_MS] = ms[order]  # the payload keeps its own column as it was
    _pace_by(opts, EVENT_MS)

    def gen() -> Iterator[Records]:
        for start in range(0, len(frame), batch_rows):
            part = frame.iloc[start:start + batch_rows]
            table = pa.Table.from_pandas(_jsonable(part), preserve_index=False)
            yield table_records(table, opts)

    return gen(), len(frame)


def _jsonable(frame: Any) -> Any:
    """A read's frame ready for Arrow: ``value`` (decoded objects of any shape) and ``headers``
    (dicts) as JSON text, the flattened ``value.*`` copies left out (``value`` is the payload)."""
    from diaspora_notebook.kafka.encode import dumps

    if "value" not in frame.columns or not {"partition", "offset"} <= set(frame.columns):
        return frame
    frame = frame[[c for c in frame.columns if not str(c).startswith("value.")]].copy()
    if frame["value"].dtype == object:
        frame["value"] = [None if v is None else v if isinstance(v, str) and _from_file(frame)
                          else dumps(v).decode() for v in frame["value"].tolist()]
    if "headers" in frame.columns and frame["headers"].dtype == object:
        frame["headers"] = [h if isinstance(h, str) or h is None else dumps(h).decode()
                            for h in frame["headers"].tolist()]
    return frame


def _from_file(frame: Any) -> bool:
    return bool(frame.attrs.get("diaspora_file"))


def file_batches(path: Path, timestamp: str | None, opts: Options,
                 batch_rows: int) -> tuple[Iterator[Records], int | None]:
    """A snapshot or export file (Parquet streamed batch by batch; CSV / JSON Lines read whole:
    the explorer writes those for pages, not for millions of rows)."""
    import pandas as pd

    kind = FILE_SUFFIXES.get(path.suffix.lower())
    if kind != "parquet":
        if kind == "csv":
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
            frame.attrs["diaspora_file"] = True
        elif kind == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            raise DiasporaUsageError(f"cannot tell the format of {path.name}",
                                     hint="replay a .parquet, .csv or .jsonl export")
        return frame_batches(frame, timestamp, opts, batch_rows)
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    ts_col = timestamp or "timestamp"
    if ts_col not in names:
        raise DiasporaUsageError(f"{path.name} has no {ts_col!r} column to pace the replay by",
                                 hint="pass timestamp='<column of event times>'")
    meta = _provenance(pf)
    if meta.get("order") == "descending":  # a page read backward: played oldest first
        frame = pf.read().to_pandas()
        frame.attrs["diaspora_file"] = True
        return frame_batches(frame, timestamp, opts, batch_rows)
    _pace_by(opts, ts_col)

    def gen() -> Iterator[Records]:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield table_records(batch, opts)

    return gen(), int(pf.metadata.num_rows)


def _provenance(pf: Any) -> dict[str, Any]:
    import json

    raw = (pf.schema_arrow.metadata or {}).get(b"diaspora")
    try:
        return dict(json.loads(raw)) if raw else {}
    except ValueError:
        return {}


def topic_batches(client: Any, topic: str, *, start: Any, stop: Any, engine: str,
                  batch_rows: int) -> tuple[Iterator[Records], int]:
    """A range of another topic, read once (raw payloads, keys, headers, times) and merged
    over its partitions in time order."""
    from diaspora_notebook.kafka.read import read_raw

    stop_offsets = stop if isinstance(stop, dict) else None
    parts: list[Any] = []
    for raw in read_raw(client, topic, start="earliest" if start is None else start,
                        stop_offsets=stop_offsets, engine=engine, headers=True,
                        timeout=30.0):
        parts.append(raw)
    if not parts:
        return iter(()), 0
    ts = np.concatenate([r.timestamps for r in parts])
    partitions = np.concatenate([np.full(len(r.offsets), r.partition) for r in parts])
    offsets = np.concatenate([r.offsets for r in parts])
    first = np.lexsort((offsets, partitions))
    ts, partitions = ts[first], partitions[first]
    values = [v for r in parts for v in r.values]
    keys = [k for r in parts for k in r.keys]
    headers = [[(str(n), bytes(v or b"")) for n, v in (h or [])] or None
               for r in parts for h in (r.headers or [None] * len(r.offsets))]
    order = first[np.argsort(_order_key(ts, partitions), kind="stable")]
    ts_sorted = np.concatenate([r.timestamps for r in parts])[order]
    records = Records([values[i] for i in order], [keys[i] for i in order],
                      [int(t) for t in ts_sorted], [headers[i] for i in order])

    def gen() -> Iterator[Records]:
        for s in range(0, len(records), batch_rows):
            yield records.take(range(s, min(s + batch_rows, len(records))))

    return gen(), len(records)


class Replay:
    """A replay running in the background (see :func:`diaspora_notebook.topics.replay`).

    :ivar topics: where the events go
    :ivar total: rows per topic per pass (``None`` when unknown)
    """

    def __init__(self, client: Any, source: Any, topics: Sequence[str], *, speed: float | str,
                 start: Any = None, stop: Any = None, loop: bool = False,
                 keep_timestamps: bool = False, timestamp: str | None = None,
                 engine: str = "confluent", timeout: float = 60.0,
                 config: dict[str, Any] | None = None, batch_rows: int | None = None) -> None:
        if speed != "max" and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                               or not speed > 0):
            raise DiasporaUsageError(f"speed must be a positive number or 'max', not {speed!r}",
                                     hint="e.g. speed=1.0 (as recorded), 10 (ten times "
                                     "faster) or 'max'")
        self.client = client
        self.source = source
        self.topics = list(topics)
        self.speed = speed
        self.start, self.stop_at, self.loop = start, stop, loop
        self.keep_timestamps = keep_timestamps
        self.timestamp = timestamp
        self.engine = engine
        self.timeout = timeout
        self.config = dict(config or {})
        # paced: small batches, so that encoding the next one (in a thread, partly holding the
        # GIL) never delays a row that is due for long; "max": the bulk size of produce
        self.batch_rows = batch_rows or (BATCH_ROWS if speed == "max" else 2_000)
        self.total: int | None = None
        self.sent = 0
        self.passes = 0
        self.state = "starting"
        self.error: BaseException | None = None
        self.produced: dict[str, int] = {}
        self._lateness: list[np.ndarray] = []
        self._lag_count = 0
        self._failures: dict[str, list[_Failure]] = {t: [] for t in self.topics}
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._paused_for = 0.0
        self._writer: Any = None
        self._thread = threading.Thread(target=self._run, name="diaspora-replay", daemon=True)

    # --- control ------------------------------------------------------------------------------

    def begin(self) -> Replay:
        self._thread.start()
        return self

    def pause(self) -> None:
        """Hold the replay where it is (the schedule waits too)."""
        if self.state == "running":
            self._running.clear()
            self.state = "paused"

    def resume(self) -> None:
        """Go on from where it was paused."""
        if self.state == "paused":
            self.state = "running"
            self._running.set()

    def stop(self) -> None:
        """Stop after the rows in hand (what was sent is still delivered)."""
        self._stop.set()
        self._running.set()

    def wait(self, timeout: float | None = None) -> Replay:
        """Block until the replay ends (or ``timeout`` s); raises its error, if it had one."""
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` s for the end (never raises); True once it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self.state in ("done", "stopped", "failed")

    @property
    def delivered(self) -> int:
        """Rows handed over and acknowledged (all topics together)."""
        writer = self._writer
        pending = writer.pending() if writer is not None and not self.done else 0
        return max(self.sent - pending, 0)

    @property
    def progress(self) -> dict[str, Any]:
        """``state, sent, delivered, total, passes, lateness_ms`` (p50/p99/max so far)."""
        total = None if self.total is None else self.total * len(self.topics)
        return {"state": self.state, "sent": self.sent, "delivered": self.delivered,
                "total": total, "passes": self.passes, "lateness_ms": self.lateness()}

    def lateness(self) -> dict[str, float]:
        """How late rows were handed to the producer against their schedule, in ms."""
        if not self._lateness:
            return {}
        lags = np.concatenate(self._lateness) * 1000
        return {"p50": float(np.percentile(lags, 50)), "p99": float(np.percentile(lags, 99)),
                "max": float(lags.max()), "rows": int(lags.size)}

    def __repr__(self) -> str:
        p = self.progress
        total = "?" if p["total"] is None else f"{p['total']:,}"
        return (f"<Replay into {', '.join(self.topics)}: {p['state']}, {p['sent']:,}/{total} "
                f"sent, {p['delivered']:,} delivered>")

    # --- the thread ---------------------------------------------------------------------------

    def _batches(self) -> tuple[Iterator[Records], int | None]:
        opts = Options(batch_rows=self.batch_rows)
        src = self.source
        if isinstance(src, Records):
            return iter([src]), len(src)
        if hasattr(src, "frame") and hasattr(src, "ranges"):  # a ReadResult
            src = src.frame
        if hasattr(src, "iloc"):
            opts.specs = {**{"timestamp": None, "partition": None},
                          **_read_meta(list(src.columns))}
            if not {"topic", "partition", "offset"} <= set(src.columns):
                opts.specs.update({w: _spec(v, list(src.columns), w) for w, v in
                                   (("key", None), ("headers", None))})
            batches, total = frame_batches(self._window(src), self.timestamp, opts,
                                           self.batch_rows)
            return batches, total
        if isinstance(src, (str, Path)):
            path = Path(src).expanduser()
            if path.suffix.lower() in FILE_SUFFIXES and path.exists():
                import pyarrow.parquet as pq

                names = (pq.ParquetFile(path).schema_arrow.names
                         if FILE_SUFFIXES[path.suffix.lower()] == "parquet" else ["key",
                                                                                    "headers"])
                opts.specs = {"timestamp": None, "partition": None, **_read_meta(names)}
                return file_batches(path, self.timestamp, opts, self.batch_rows)
            if isinstance(src, str) and path.suffix.lower() not in FILE_SUFFIXES:
                return topic_batches(self.client, src, start=self.start, stop=self.stop_at,
                                     engine=self.engine, batch_rows=self.batch_rows)
            raise DiasporaUsageError(f"no such file: {path}",
                                     hint="replay an export (.parquet, .csv, .jsonl), a "
                                     "DataFrame, a read() result or a topic name")
        raise DiasporaUsageError(f"cannot replay a {type(src).__name__}",
                                 hint="replay an export file, a DataFrame, a read() result or "
                                 "a topic name")

    def _window(self, frame: Any) -> Any:
        """Rows between ``start`` and ``stop`` (event times), for frames and files."""
        if self.start is None and self.stop_at is None:
            return frame
        import pandas as pd

        ts_col = self.timestamp or "timestamp"
        stamps = pd.to_datetime(frame[ts_col], utc=True, format="ISO8601")
        keep = pd.Series(True, index=frame.index)
        if self.start is not None:
            keep &= stamps >= pd.Timestamp(to_ms(self.start), unit="ms", tz="UTC")
        if self.stop_at is not None and not isinstance(self.stop_at, dict):
            keep &= stamps < pd.Timestamp(to_ms(self.stop_at), unit="ms", tz="UTC")
        return frame[keep.to_numpy()]

    def _run(self) -> None:
        try:
            self.state = "running"
            paced = PACED_PRODUCER.get(self.engine, {}) if self.speed != "max" else {}
            overrides = {**paced, **self.config}
            self._writer = make_writer(self.client, self.engine, timeout=self.timeout,
                                       config=overrides)
            for topic in self.topics:
                _check_topic(self._writer, topic)
            base: int | None = None
            began: float | None = None
            while True:
                batches, total = self._batches()
                self.total = total if self.total is None else self.total
                last = None
                for records in ahead(batches):  # the next batch is encoded while this plays
                    if base is None and len(records.timestamps or []):
                        base = int(records.timestamps[0])  # type: ignore[index]
                    if began is None:  # the clock starts with the first row in hand
                        began = time.monotonic()
                    last = self._play(records, base or 0, began)
                    if self._stop.is_set():
                        break
                self.passes += 1
                if not self.loop or self._stop.is_set() or last is None:
                    break
                base, began, self._paused_for = None, None, 0.0  # the next pass
            self._writer.finish(self.timeout)
            self._collect()
            self.state = "stopped" if self._stop.is_set() else "done"
            self._raise_failures()
        except BaseException as exc:
            from diaspora_notebook.kafka.errors import denied, is_denied

            if is_denied(exc) and not isinstance(exc, DiasporaError):
                exc = denied(", ".join(self.topics), "write to")
            self.error = exc
            self.state = "failed"
        finally:
            if self._writer is not None:
                self._writer.close()

    def _factor(self) -> float:
        return 1.0 if self.speed == "max" else float(self.speed)

    def _play(self, records: Records, base: int, began: float) -> int | None:
        """Send one batch on schedule; returns its last event time."""
        stamps = np.asarray(records.timestamps or [], np.int64)
        sched = np.maximum.accumulate(stamps) if stamps.size else stamps
        send = records if self.keep_timestamps else Records(
            records.values, records.keys, None, records.headers, None, records.index)
        n = len(records)
        if self.speed == "max":
            self._hand(send)
            return int(sched[-1]) if sched.size else None
        due = (sched - base) / 1000.0 / float(self.speed)
        pos = 0
        while pos < n:
            if self._stop.is_set():
                return None
            if not self._running.is_set():
                t = time.monotonic()
                self._running.wait()
                self._paused_for += time.monotonic() - t
            now = time.monotonic() - began - self._paused_for
            j = int(np.searchsorted(due, now, side="right"))
            if j <= pos:
                time.sleep(min(max(due[pos] - now, 0.0), 0.05))
                self._writer.service()
                continue
            self._hand(send.take(range(pos, j)))
            handed = time.monotonic() - began - self._paused_for
            lag = handed - due[pos:j]
            if self._lag_count < _LAG_KEEP:
                self._lateness.append(lag)
                self._lag_count += lag.size
            pos = j
        return int(sched[-1]) if sched.size else None

    def _hand(self, records: Records) -> None:
        for topic in self.topics:
            self._writer.send(topic, records, False)
            failed, _ = self._writer.collect()
            self._failures[topic].extend(failed)
            self.sent += len(records)
        self._writer.service()

    def _collect(self) -> None:
        failed, _ = self._writer.collect()
        if failed:  # after finish(): the topic of a late failure is not known
            self._failures[self.topics[0]].extend(failed)

    def _raise_failures(self) -> None:
        bad = {t: f for t, f in self._failures.items() if f}
        per_topic = (self.sent // max(len(self.topics), 1))
        self.produced = {t: per_topic - len({x.index for x in self._failures[t]})
                         for t in self.topics}
        if not bad:
            return
        topic, failures = next(iter(bad.items()))
        try:
            _outcome(self.client, topic, None, Options(), self.engine, self.timeout,
                     self.config, per_topic, failures, [], False)
        except ProduceError as exc:
            if len(bad) > 1:
                exc.args = (f"{exc.args[0]} (and rows failed on {len(bad) - 1} more "
                            "topic(s))",)
            raise
        raise DiasporaError("replay failed", hint="see the log")  # unreachable
