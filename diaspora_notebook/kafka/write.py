"""The write path: rows in batches -> messages on a topic, every delivery checked.

``prepare`` turns what a user hands over (JSON values, a DataFrame, an Arrow table or reader, an
iterator of those, a Parquet / JSON Lines / CSV file, or :class:`Records` already encoded) into
:class:`Records` batches: payloads (:mod:`.encode`), keys, timestamps, headers and partitions
as columns, with each row's number in the input. ``write`` sends the batches through one
writer (librdkafka, kafka-python or the in-memory topics) and waits for every delivery; rows
that did not land raise one :class:`ProduceError` that names them and can send them again.

librdkafka is set up for safe, fast bulk writes: idempotence and ``acks=all`` (no duplicates,
no reordering on retry), 1 MB batches, a 16 MB / 100,000-message queue (bounded memory: a
10,000,000-row file is produced in ~260 MB RSS), and the ``murmur2_random`` partitioner, the one
of Java and of kafka-python, so a key lands in the same partition whichever engine wrote it.
Delivery is checked row by row, two ways. Up to ``EXACT_ROWS`` rows (known up front), each
row's delivery report names it: the ``Produced`` lists every row's partition and offset. Beyond
that librdkafka reports failures only (``delivery.report.only.error``: no Python call per
delivered row, which cost ~20 % of a bulk write), and a failed message is matched back to its
row by content (value, key, timestamp, headers) in the batches still held; that is exact up to
rows identical in all of these (the first of them not yet named is). A batch is let go once
the rows done since it was sent exceed a batch (librdkafka completes a partition's rows in
order), so memory stays bounded; a failure reported later still carries its message (row
number -1). Nothing is dropped silently: every row is either delivered or in the error.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from diaspora_notebook.errors import DiasporaError, DiasporaUsageError
from diaspora_notebook.kafka.documents import Produced
from diaspora_notebook.kafka.encode import as_bytes, dumps, payloads

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

#: rows per batch encoded and sent at a time (bounded memory for any input size)
BATCH_ROWS = 25_000
#: up to this many rows, each row's (partition, offset) is kept in the ``Produced``
EXACT_ROWS = 100_000
#: librdkafka producer settings (the user's ``config`` wins)
CONFLUENT_PRODUCER = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 100_000,
    "queue.buffering.max.kbytes": 16_384,
    "partitioner": "murmur2_random",
    "compression.type": "none",
}
FILE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl",
                 ".ndjson": "jsonl", ".csv": "csv"}
#: columns a read adds around the payload (``topics.read`` / ``peek`` frames)
READ_META = ("topic", "partition", "offset", "timestamp", "key", "headers", "_error")

Header = list[tuple[str, bytes]]
#: columns the write path adds for itself (a replay's event times): never in the payload
HIDDEN_PREFIX = "__diaspora_"


# --- what the user means by key= / timestamp= / headers= / partition= ------------------------


@dataclass(frozen=True)
class literal:
    """One value for every row, even if a column has that name: ``key=topics.literal("s1")``."""

    value: Any


@dataclass(frozen=True)
class column:
    """A column (or a field of JSON values; ``a.b`` for a nested one) per row:
    ``key=topics.column("sensor")``. A plain string that names a column means the same."""

    name: str


def _spec(value: Any, names: Iterable[str], what: str) -> literal | column | None:
    """A column if ``value`` names one (a column name wins), else a literal."""
    if value is None:
        return None
    if isinstance(value, (literal, column)):
        if isinstance(value, column) and value.name not in set(names):
            raise DiasporaUsageError(f"{what}=column({value.name!r}): no such column or field",
                                     hint=f"the columns are {', '.join(list(names)[:12])}")
        return value
    if isinstance(value, str) and value in set(names):
        return column(value)
    return literal(value)


# --- records -----------------------------------------------------------------------------------


@dataclass
class Records:
    """Messages ready to send, as columns: ``values`` (bytes) and, when given, ``keys``,
    ``timestamps`` (ms), ``headers`` and ``partitions``; ``index`` is each row's number in the
    input. ``topics.produce(topic, records)`` sends them as they are (what a retry does)."""

    values: list[bytes | None]
    keys: list[bytes | None] | None = None
    timestamps: list[int] | None = None
    headers: list[Header | None] | None = None
    partitions: list[int] | None = None
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if len(self.index) != len(self.values):
            self.index = np.arange(len(self.values), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.values)

    def take(self, rows: Sequence[int] | np.ndarray) -> Records:
        """Some rows (positions in this batch), in the order given."""
        pick = [int(i) for i in rows]

        def sub(col: list[Any] | None) -> list[Any] | None:
            return None if col is None else [col[i] for i in pick]

        return Records([self.values[i] for i in pick], sub(self.keys), sub(self.timestamps),
                       sub(self.headers), sub(self.partitions),
                       self.index[np.asarray(pick, np.int64)] if pick else
                       np.zeros(0, np.int64))

    def shifted(self, start: int) -> Records:
        return Records(self.values, self.keys, self.timestamps, self.headers, self.partitions,
                       self.index + start)

    @staticmethod
    def concat(parts: Sequence[Records]) -> Records:
        if not parts:
            return Records([])

        def cat(name: str) -> list[Any] | None:
            cols = [getattr(p, name) for p in parts]
            if all(c is None for c in cols):
                return None
            out: list[Any] = []
            for p, c in zip(parts, cols, strict=True):
                out.extend(c if c is not None else [None] * len(p))
            return out

        return Records(cat("values") or [], cat("keys"), cat("timestamps"), cat("headers"),
                       cat("partitions"), np.concatenate([p.index for p in parts]))


# --- per-row columns ---------------------------------------------------------------------------


def to_ms(value: Any) -> int:
    """A time as ms since the epoch: a datetime (naive = UTC), ``pd.Timestamp``, ISO text or a
    number (already ms)."""
    if isinstance(value, bool):
        raise DiasporaUsageError(f"not a time: {value!r}", hint="e.g. timestamp='2026-01-01'")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value)
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DiasporaUsageError(f"not a time: {value!r} ({exc})",
                                 hint="use a datetime, ISO text or ms since the epoch") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value // 1_000_000)


def _ms_column(col: pa.Array | pa.ChunkedArray) -> list[int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pc.any(pc.is_null(arr)).as_py():
        raise DiasporaUsageError("the timestamp column has missing values",
                                 hint="fill them, or leave timestamp= out (the broker's time)")
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.timestamp("ms", arr.type.tz)).cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_date(arr.type):
        return arr.cast(pa.timestamp("ms")).cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return arr.cast(pa.int64(), safe=False).to_pylist()  # type: ignore[no-any-return]
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(arr.to_pylist()), utc=True, format="ISO8601")
    out: list[int] = stamps.astype("datetime64[ms, UTC]").astype("int64").tolist()
    return out


def header_list(value: Any) -> Header | None:
    """Headers as Kafka wants them: ``[(name, bytes)]`` from a dict, pairs or JSON text."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (str, bytes)):
        import json

        text = value.strip()
        if not text:
            return None
        value = json.loads(text)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    pairs = value.items() if isinstance(value, Mapping) else value
    out: Header = []
    for pair in pairs:
        name, val = pair[0], pair[1]
        if val is None:
            raw = b""
        elif isinstance(val, bytes):
            raw = val
        elif isinstance(val, str):
            raw = val.encode("utf-8")
        else:
            raw = dumps(val)
        out.append((str(name), raw))
    return out or None


def _field(doc: Any, name: str) -> Any:
    if not isinstance(doc, Mapping):
        return None
    if name in doc:
        return doc[name]
    node: Any = doc
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _doc_fields(docs: Sequence[Any]) -> set[str]:
    names: set[str] = set()
    for doc in docs:
        if isinstance(doc, Mapping):
            _names_into(names, doc, "")
    return names


def _names_into(out: set[str], doc: Mapping[str, Any], prefix: str) -> None:
    for k, v in doc.items():
        name = f"{prefix}{k}"
        out.add(name)
        if isinstance(v, Mapping):
            _names_into(out, v, name + ".")


@dataclass
class Options:
    """How rows become messages (the arguments of ``topics.produce``)."""

    key: Any = None
    timestamp: Any = None
    headers: Any = None
    partition: Any = None
    nested: bool = True
    drop_nulls: bool = False
    batch_rows: int = BATCH_ROWS
    specs: dict[str, literal | column | None] | None = None

    def resolve(self, names: Iterable[str]) -> dict[str, literal | column | None]:
        """Decided once, on the first batch's columns (a column name wins)."""
        if self.specs is None:
            names = list(names)
            self.specs = {what: _spec(getattr(self, what), names, what)
                          for what in ("key", "timestamp", "headers", "partition")}
        return self.specs


def _literal_columns(specs: dict[str, literal | column | None], n: int,
                     rec: dict[str, Any]) -> None:
    for what, spec in specs.items():
        if not isinstance(spec, literal) or spec.value is None:
            continue
        v = spec.value
        if what == "key":
            raw = v if isinstance(v, bytes) else str(v).encode("utf-8")
            rec["keys"] = [raw] * n
        elif what == "timestamp":
            rec["timestamps"] = [to_ms(v)] * n
        elif what == "headers":
            rec["headers"] = [header_list(v)] * n
        elif what == "partition":
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise DiasporaUsageError(f"partition must be a whole number >= 0, not {v!r}",
                                         hint="e.g. partition=0, or a column of numbers")
            rec["partitions"] = [int(v)] * n


def table_records(table: pa.Table | pa.RecordBatch, opts: Options) -> Records:
    """One Arrow batch of rows -> messages (payload: every column but a read's metadata)."""
    import pyarrow as pa

    names = list(table.column_names)
    specs = opts.resolve(names)
    n = table.num_rows
    rec: dict[str, Any] = {}
    _literal_columns(specs, n, rec)
    for what, spec in specs.items():
        if not isinstance(spec, column):
            continue
        if spec.name not in names:
            raise DiasporaUsageError(f"{what}={spec.name!r}: a later batch has no such column",
                                     hint="give every batch the same columns")
        col = table.column(spec.name)
        if what == "key":
            rec["keys"] = as_bytes(col)
        elif what == "timestamp":
            rec["timestamps"] = _ms_column(col)
        elif what == "headers":
            rec["headers"] = [header_list(v) for v in col.to_pylist()]
        else:
            rec["partitions"] = col.cast(pa.int64()).to_pylist()
    from_read = {"topic", "partition", "offset"} <= set(names)
    body = [c for c in names if not (from_read and c in READ_META)
            and not c.startswith(HIDDEN_PREFIX)]
    if from_read and "value" in names:  # the payload as read (``value.*`` are copies)
        values = _value_column(table.column("value"))
    else:
        sub = table.select(body) if len(body) != len(names) else table
        values = payloads(sub, nested=opts.nested, drop_nulls=opts.drop_nulls)  # type: ignore[assignment]
    return Records(values, **rec)


def _value_column(col: pa.ChunkedArray | pa.Array) -> list[bytes | None]:
    """A read's ``value`` column -> payloads: decoded values are encoded again; in a snapshot
    file it already holds JSON text (``explore.export``)."""
    import pyarrow as pa

    kind = col.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return as_bytes(col)
    return [None if v is None else dumps(v) for v in col.to_pylist()]


def doc_records(docs: Sequence[Any], opts: Options) -> Records:
    """JSON values -> messages, each value encoded as it is."""
    specs = opts.resolve(_doc_fields(docs) if _named(opts) else ())
    n = len(docs)
    rec: dict[str, Any] = {}
    _literal_columns(specs, n, rec)
    for what, spec in specs.items():
        if not isinstance(spec, column):
            continue
        got = [_field(d, spec.name) for d in docs]
        if what == "key":
            rec["keys"] = [None if v is None else v if isinstance(v, bytes)
                           else (v if isinstance(v, str) else dumps(v).decode()).encode()
                           for v in got]
        elif what == "timestamp":
            rec["timestamps"] = [to_ms(v) for v in got]
        elif what == "headers":
            rec["headers"] = [header_list(v) for v in got]
        else:
            rec["partitions"] = [int(v) for v in got]
    return Records([dumps(d) for d in docs], **rec)


def _named(opts: Options) -> bool:
    return any(isinstance(getattr(opts, w), (str, column))
               for w in ("key", "timestamp", "headers", "partition"))


# --- inputs -> batches ---------------------------------------------------------------------------


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "iloc")


def _arrow_kind(obj: Any) -> str | None:
    mod = type(obj).__module__ or ""
    if not mod.startswith("pyarrow"):
        return None
    return type(obj).__name__


def prepare(data: Any, opts: Options) -> tuple[Iterator[Records], int | None]:
    """Batches of messages from ``data`` (numbered from 0 over the whole input), and the row
    count when it is known up front."""
    total = _known_length(data)
    return _numbered(_batches(data, opts)), total


def _known_length(data: Any) -> int | None:
    if isinstance(data, Records):
        return len(data)
    if isinstance(data, Mapping):
        return 1
    if isinstance(data, (list, tuple)) and not (data and (_is_frame(data[0])
                                                          or _arrow_kind(data[0]))):
        return len(data)
    if _is_frame(data):
        return len(data)
    kind = _arrow_kind(data)
    if kind in ("Table", "RecordBatch"):
        return int(data.num_rows)
    if isinstance(data, (str, Path)):
        path = Path(data).expanduser()
        if _file_kind(path) == "parquet" and path.exists():
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
    return None


def _numbered(batches: Iterator[Records]) -> Iterator[Records]:
    start = 0
    for batch in batches:
        if len(batch):
            yield batch.shifted(start)
            start += len(batch)


def _batches(data: Any, opts: Options) -> Iterator[Records]:
    if isinstance(data, Records):
        yield Records(data.values, data.keys, data.timestamps, data.headers, data.partitions)
        return
    if isinstance(data, (str, bytes)) and not isinstance(data, str):
        raise _text_error()
    if isinstance(data, (str, Path)):
        yield from _file_batches(Path(data).expanduser(), opts)
        return
    if isinstance(data, Mapping):
        yield doc_records([data], opts)
        return
    if _is_frame(data):
        yield from _frame_batches(data, opts)
        return
    kind = _arrow_kind(data)
    if kind is not None:
        yield from _arrow_batches(data, opts)
        return
    if not isinstance(data, Iterable):
        raise DiasporaUsageError(f"cannot produce a {type(data).__name__}",
                                 hint="pass a list of JSON values, a DataFrame, an Arrow table "
                                 "or a file path")
    chunk: list[Any] = []
    for item in data:
        if _is_frame(item) or _arrow_kind(item) or isinstance(item, Records):
            if chunk:
                yield doc_records(chunk, opts)
                chunk = []
            yield from _batches(item, opts)
            continue
        chunk.append(item)
        if len(chunk) >= opts.batch_rows:
            yield doc_records(chunk, opts)
            chunk = []
    if chunk:
        yield doc_records(chunk, opts)


def _text_error() -> DiasporaUsageError:
    return DiasporaUsageError("documents must be a list of JSON values, not text",
                              hint="parse JSON lines first: "
                              "topics.produce(topic, topics.parse_documents(text))")


def _frame_batches(frame: pd.DataFrame, opts: Options) -> Iterator[Records]:
    import pyarrow as pa

    for start in range(0, len(frame), opts.batch_rows):
        part = frame.iloc[start:start + opts.batch_rows]
        try:
            table = pa.Table.from_pandas(part, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            table = _mixed_to_arrow(part)
        yield table_records(table, opts)


def _mixed_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A frame whose object columns mix types: those columns become JSON text... as values."""
    import pyarrow as pa

    cols = {}
    for name in frame.columns:
        try:
            cols[str(name)] = pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            cols[str(name)] = pa.array([_Raw(dumps(v)) if v is not None else None
                                        for v in frame[name].tolist()], pa.string())
    return pa.table(cols)


class _Raw(str):
    """JSON text already encoded (a mixed column); not used by Arrow kernels."""


def _arrow_batches(data: Any, opts: Options) -> Iterator[Records]:
    kind = _arrow_kind(data)
    if kind == "RecordBatch":
        yield table_records(data, opts)
        return
    if kind == "Table":
        for batch in data.to_batches(max_chunksize=opts.batch_rows):
            yield table_records(batch, opts)
        return
    if kind in ("RecordBatchReader", "_RecordBatchFileReader", "RecordBatchStreamReader"):
        for batch in data:
            yield table_records(batch, opts)
        return
    raise DiasporaUsageError(f"cannot produce a pyarrow {kind}",
                             hint="pass a Table, a RecordBatch or a RecordBatchReader")


def _file_kind(path: Path) -> str | None:
    return FILE_SUFFIXES.get(path.suffix.lower())


def _file_batches(path: Path, opts: Options) -> Iterator[Records]:
    kind = _file_kind(path)
    if not path.exists():
        raise DiasporaUsageError(f"no such file: {path}",
                                 hint="pass a path to a .parquet, .jsonl or .csv file, or the "
                                 "data itself (a list of JSON values, a DataFrame)")
    if kind is None:
        raise DiasporaUsageError(f"cannot tell the format of {path.name}",
                                 hint="name it .parquet, .jsonl or .csv")
    if kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=opts.batch_rows):
            yield table_records(batch, opts)
    elif kind == "csv":
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=8 << 20))
        for batch in reader:
            yield table_records(batch, opts)
    else:
        yield from _jsonl_batches(path, opts)


def _jsonl_batches(path: Path, opts: Options) -> Iterator[Records]:
    """JSON Lines: each line is a payload as it is (checked to be JSON)."""
    import json

    loads = _loads()
    with path.open("rb") as fh:
        chunk: list[bytes] = []
        number = 0
        for line in fh:
            number += 1
            text = line.strip()
            if not text:
                continue
            chunk.append(text)
            if len(chunk) >= opts.batch_rows:
                yield _lines_records(chunk, opts, loads, number)
                chunk = []
        if chunk:
            yield _lines_records(chunk, opts, loads, number)
    del json


def _loads() -> Callable[[bytes], Any]:
    try:
        import orjson
    except ImportError:
        import json

        return json.loads
    return orjson.loads


def _lines_records(lines: list[bytes], opts: Options, loads: Callable[[bytes], Any],
                   last_line: int) -> Records:
    docs = []
    for i, line in enumerate(lines):
        try:
            docs.append(loads(line))
        except ValueError as exc:
            raise DiasporaUsageError(f"a line (before line {last_line}, row "
                                     f"{i} of its batch) is not JSON ({exc}): {line[:60]!r}",
                                     hint="one JSON value per line") from None
    rec = doc_records(docs, opts)
    rec.values = list(lines)  # the user's own bytes
    return rec


# --- writers ---------------------------------------------------------------------------------


@dataclass
class _Failure:
    """Row ``pos`` of ``records`` (input row ``records.index[pos]``) did not land."""

    records: Records
    pos: int
    reason: str

    @property
    def index(self) -> int:
        return int(self.records.index[self.pos])


class _Batch:
    """A batch in flight: its records until each has been delivered, and what failed."""

    __slots__ = ("content", "failed", "left", "records")

    def __init__(self, records: Records) -> None:
        self.content: dict[tuple[Any, ...], list[int]] | None = None
        self.records = records
        self.left = len(records)
        self.failed: list[tuple[Any, Any]] = []  # (error, row position)


class Writer:
    """Sends record batches to one topic and reports, per row, what did not land."""

    engine = "?"

    def partitions(self, topic: str) -> int:
        raise NotImplementedError

    def send(self, topic: str, records: Records, exact: bool) -> None:
        raise NotImplementedError

    def pending(self) -> int:
        """Rows sent but not yet delivered (or failed)."""
        return 0

    def service(self) -> None:
        """Deliveries so far are accounted for (delivery reports served)."""

    def finish(self, timeout: float) -> None:
        """Wait for every delivery (up to ``timeout`` s)."""

    def collect(self) -> tuple[list[_Failure], list[tuple[int, int, int]]]:
        """Failures so far, and ``(row, partition, offset)`` of rows tracked exactly."""
        return [], []

    def close(self) -> None:
        pass


class MemoryWriter(Writer):
    """Into :class:`~.memory.MemoryTopics` (tests, demos)."""

    engine = "memory"

    def __init__(self, config: dict[str, Any]) -> None:
        self.store = config["topics"]
        self._done: list[tuple[int, int, int]] = []
        self._failed: list[_Failure] = []

    def partitions(self, topic: str) -> int:
        from diaspora_notebook.kafka.errors import UNKNOWN_TOPIC, SourceError

        with self.store.lock:
            count = len(self.store.logs.get(topic, ()))
        if not count:
            raise SourceError(f"UnknownTopicOrPartitionError: {topic}", code=UNKNOWN_TOPIC)
        return count

    def send(self, topic: str, records: Records, exact: bool) -> None:
        limit = getattr(self.store, "max_message_bytes", None)
        for i in range(len(records)):
            value = records.values[i]
            row = int(records.index[i])
            if limit is not None and len(value or b"") > limit:
                self._failed.append(_Failure(records, i, "MSG_SIZE_TOO_LARGE: the message is "
                                             f"larger than the topic allows ({limit} bytes)"))
                continue
            p, off = self.store.produce(
                topic, value, key=records.keys[i] if records.keys else None,
                partition=records.partitions[i] if records.partitions else None,
                timestamp_ms=records.timestamps[i] if records.timestamps else None,
                headers=(records.headers[i] or ()) if records.headers else ())
            if exact:
                self._done.append((row, p, off))

    def collect(self) -> tuple[list[_Failure], list[tuple[int, int, int]]]:
        out = list(self._failed), list(self._done)  # emptied in place: callbacks hold them
        self._failed.clear()
        self._done.clear()
        return out


class ConfluentWriter(Writer):
    """librdkafka's ``Producer``: one ``produce`` call per row in a tight loop (librdkafka
    batches, compresses and retries in its own threads), one delivery callback per batch."""

    engine = "confluent"

    def __init__(self, config: dict[str, Any], *, timeout: float,
                 overrides: Mapping[str, Any] | None = None, exact: bool = False) -> None:
        from confluent_kafka import Producer

        from diaspora_notebook.kafka.confluent import RDKAFKA_LOG, to_librdkafka

        conf = {**CONFLUENT_PRODUCER, **to_librdkafka(config), **(overrides or {})}
        for consumer_only in ("group.id", "auto.offset.reset", "enable.auto.commit",
                              "session.timeout.ms", "fetch.max.bytes",
                              "max.partition.fetch.bytes"):
            conf.pop(consumer_only, None)
        conf.setdefault("message.timeout.ms", int(max(timeout, 1) * 1000))
        if str(conf.get("security.protocol", "")).upper().endswith("SSL"):
            conf.setdefault("ssl.endpoint.identification.algorithm", "https")
        conf["logger"] = RDKAFKA_LOG
        self._errors: list[Any] = []
        conf["error_cb"] = self._errors.append
        self.exact = exact
        if not exact:  # librdkafka reports failures only: no Python call per delivered row
            conf["delivery.report.only.error"] = True
        self.producer = Producer(conf)
        self._inflight: list[_Batch] = []  # exact mode: until each row is reported
        self._recent: list[tuple[_Batch, int]] = []  # fast mode: (batch, rows sent after it)
        self._late: list[tuple[Any, Any]] = []  # fast mode: (error, message) reported
        self._sent = 0
        self._failed: list[_Failure] = []
        self._done: list[tuple[int, int, int]] = []

    def partitions(self, topic: str) -> int:
        from diaspora_notebook.kafka.errors import UNKNOWN_TOPIC, SourceError

        try:
            meta = self.producer.list_topics(topic, timeout=15)
        except Exception as exc:
            raise SourceError(f"{type(exc).__name__}: {exc}",
                              code=self._refused() or _code(exc)) from exc
        refused = self._refused()
        if refused is not None:
            raise SourceError("the broker refused this producer", code=refused)
        info = meta.topics.get(topic)
        if info is None:
            raise SourceError(f"UnknownTopicOrPartitionError: {topic}", code=UNKNOWN_TOPIC)
        if info.error is not None:
            raise SourceError(f"{info.error.name()}: {info.error.str()}", code=info.error.code())
        if not info.partitions:
            raise SourceError(f"UnknownTopicOrPartitionError: {topic}", code=UNKNOWN_TOPIC)
        return len(info.partitions)

    def _refused(self) -> int | None:
        """CLUSTER_AUTHORIZATION_FAILED when librdkafka's idempotent producer was refused its
        producer id (a key that may write no topic at all: a fatal error, reported by
        ``error_cb`` before any row, with the code only in its text)."""
        from diaspora_notebook.kafka.errors import CLUSTER_AUTHORIZATION_FAILED, DENIED_CODES

        for err in self._errors:
            code = err.code() if callable(getattr(err, "code", None)) else None
            text = err.str() if callable(getattr(err, "str", None)) else str(err)
            if code in DENIED_CODES or (getattr(err, "fatal", lambda: False)()
                                        and "authorization failed" in text.lower()):
                return CLUSTER_AUTHORIZATION_FAILED
        return None

    def send(self, topic: str, records: Records, exact: bool) -> None:
        exact = self.exact
        batch = _Batch(records)
        produce = self.producer.produce
        poll = self.producer.poll
        failed = batch.failed
        counter = [len(records)]
        if exact:
            self._inflight.append(batch)
        else:
            self._sent += len(records)
            self._recent.append((batch, self._sent))
        delivered = self._late.append if not exact else None

        def reported(err: Any, msg: Any) -> None:
            self._late.append((err, msg))

        def one(row: int, err: Any, msg: Any) -> None:
            counter[0] -= 1
            if err is not None:
                failed.append((err, row))
            else:
                done.append((row, msg.partition(), msg.offset()))

        done = self._done
        batch.left = counter  # type: ignore[assignment]
        values, keys = records.values, records.keys
        ts, hdrs, parts = records.timestamps, records.headers, records.partitions
        plain = ts is None and hdrs is None and parts is None and not exact
        n = len(values)
        i = 0
        while i < n:
            try:
                if plain:
                    if keys is None:
                        for i in range(i, n):  # noqa: B020  (resumed after BufferError)
                            produce(topic, values[i], on_delivery=reported)
                    else:
                        for i in range(i, n):  # noqa: B020
                            produce(topic, values[i], keys[i], on_delivery=reported)
                    i = n
                else:
                    for i in range(i, n):  # noqa: B020
                        kwargs: dict[str, Any] = {
                            "on_delivery": functools.partial(one, i) if exact else reported}
                        if keys is not None:
                            kwargs["key"] = keys[i]
                        if ts is not None:
                            kwargs["timestamp"] = ts[i]
                        if hdrs is not None and hdrs[i]:
                            kwargs["headers"] = hdrs[i]
                        if parts is not None and parts[i] is not None:
                            kwargs["partition"] = parts[i]
                        produce(topic, values[i], **kwargs)
                    i = n
            except BufferError:  # librdkafka's queue is full: let it drain a little
                poll(0.005)
            except Exception as exc:  # this row cannot be sent at all (e.g. too large)
                counter[0] -= 1
                if exact:
                    failed.append((exc, i))
                else:
                    self._failed.append(_Failure(records, i, _reason(exc)))
                i += 1
        del delivered
        poll(0)
        self._retire()

    def _retire(self, everything: bool = False) -> None:
        keep = []
        for batch in self._inflight:
            left = batch.left[0]  # type: ignore[index]
            if left > 0 and not everything:
                keep.append(batch)
                continue
            self._failed.extend(_match(batch))
        self._inflight = keep
        # fast mode: failures matched to the batches still held; a batch is let go once the
        # rows sent after it that are done exceed a batch (librdkafka completes a
        # partition's rows in order, and partitions at about the same pace)
        late, self._late = self._late, []
        for err, msg in late:
            self._failed.append(self._find(err, msg))
        done = self._sent - len(self.producer)
        slack = BATCH_ROWS
        self._recent = [] if everything or not len(self.producer) else [
            (b, end) for b, end in self._recent if end + slack > done]

    def _find(self, err: Any, msg: Any) -> _Failure:
        """The row of a failed message: matched by content in the batches held, else (a batch
        long done) the message itself, row number -1."""
        for batch, _end in self._recent:
            records = batch.records
            if batch.content is None:
                batch.content = {}
                for pos in range(len(records)):
                    batch.content.setdefault(_content(records, pos), []).append(pos)
            candidates = batch.content.get(_msg_content(records, msg), [])
            while candidates:
                pos = candidates.pop(0)  # the first of identical rows not yet named
                return _Failure(records, pos, _reason(err))
        headers = [(str(k), bytes(v or b"")) for k, v in (msg.headers() or [])] or None
        stamp = _ts(Records([]), msg.timestamp())
        orphan = Records([msg.value()], [msg.key()], [stamp] if stamp else None, [headers],
                         None, np.array([-1], np.int64))
        return _Failure(orphan, 0, _reason(err))

    def pending(self) -> int:
        return len(self.producer)

    def service(self) -> None:
        self.producer.poll(0)
        self._retire()

    def finish(self, timeout: float) -> None:
        # librdkafka reports every message, delivered or not, within message.timeout.ms (set
        # to ``timeout``); past that, what is still queued is purged, which reports it too
        deadline = time.monotonic() + timeout + 30
        while len(self.producer) and time.monotonic() < deadline:
            self.producer.flush(min(1.0, max(deadline - time.monotonic(), 0.01)))
        if len(self.producer):
            self.producer.purge()
            self.producer.flush(5)
        self.producer.poll(0)
        for batch in self._inflight:  # exact mode, not even a report: those rows failed
            left = batch.left[0]  # type: ignore[index]
            if left > 0:
                self._failed.extend(_Failure(batch.records, pos, "no delivery report")
                                    for pos in range(len(batch.records) - left,
                                                     len(batch.records)))
        self._retire(everything=True)

    def collect(self) -> tuple[list[_Failure], list[tuple[int, int, int]]]:
        out = list(self._failed), list(self._done)  # emptied in place: callbacks hold them
        self._failed.clear()
        self._done.clear()
        return out

    def close(self) -> None:
        self.producer.flush(0)


def _code(exc: Any) -> int | None:
    from diaspora_notebook.kafka.errors import code_of

    return code_of(exc)


def _reason(err: Any) -> str:
    name = getattr(err, "name", None)
    text = getattr(err, "str", None)
    if callable(name) and callable(text):
        return f"{name()}: {text()}"
    args = getattr(err, "args", ())
    if args and callable(getattr(args[0], "name", None)):
        return _reason(args[0])
    return f"{type(err).__name__}: {err}"


def _match(batch: _Batch) -> list[_Failure]:
    """The failed rows of a batch sent in exact mode (each report names its row)."""
    return [_Failure(batch.records, pos, _reason(err)) for err, pos in batch.failed]


def _msg_content(records: Records, msg: Any) -> tuple[Any, ...]:
    return (msg.value(), msg.key(),
            _ts(records, msg.timestamp()) if records.timestamps is not None else None,
            tuple(msg.headers() or ()) if records.headers is not None else None)


def _ts(records: Records, stamp: Any) -> int | None:
    try:
        return int(stamp[1])
    except (TypeError, IndexError):
        return None


def _content(records: Records, pos: int) -> tuple[Any, ...]:
    return (records.values[pos], records.keys[pos] if records.keys is not None else None,
            records.timestamps[pos] if records.timestamps is not None else None,
            tuple(records.headers[pos] or ()) if records.headers is not None else None)


class KafkaPythonWriter(Writer):
    """The seed's ``KafkaProducer`` (kafka-python): a future per row, checked after a flush per
    batch."""

    engine = "kafka-python"

    def __init__(self, client: Any, *, timeout: float,
                 overrides: Mapping[str, Any] | None = None) -> None:
        from diaspora_notebook.kafka.clients import KafkaProducer

        self.timeout = timeout
        kwargs: dict[str, Any] = {"value_serializer": None, "acks": "all",
                                  "max_block_ms": int(timeout * 1000),
                                  "linger_ms": 5, "batch_size": 256 * 1024,
                                  **(overrides or {})}
        self.producer = KafkaProducer(client=client, **kwargs)
        self._failed: list[_Failure] = []
        self._done: list[tuple[int, int, int]] = []

    def partitions(self, topic: str) -> int:
        from diaspora_notebook.kafka.errors import UNKNOWN_TOPIC, SourceError

        try:
            parts = self.producer.partitions_for(topic)
        except Exception as exc:
            raise SourceError(f"{type(exc).__name__}: {exc}", code=_code(exc)) from exc
        if not parts:
            raise SourceError(f"UnknownTopicOrPartitionError: {topic}", code=UNKNOWN_TOPIC)
        return len(parts)

    def send(self, topic: str, records: Records, exact: bool) -> None:
        futures = []
        send = self.producer.send
        for i in range(len(records)):
            try:
                fut = send(topic, value=records.values[i],
                           key=records.keys[i] if records.keys is not None else None,
                           headers=(records.headers[i] or None) if records.headers else None,
                           partition=records.partitions[i] if records.partitions else None,
                           timestamp_ms=records.timestamps[i] if records.timestamps else None)
            except Exception as exc:
                self._failed.append(_Failure(records, i, _reason(exc)))
                continue
            futures.append((i, fut))
        broke: BaseException | None = None
        try:
            self.producer.flush(timeout=self.timeout)
        except Exception as exc:  # e.g. batches aborted after a fatal error: rows say which
            broke = exc
        cause = broke
        if broke is not None:  # batches are being aborted: their futures fail shortly after
            deadline = time.monotonic() + 5
            for _, fut in futures:
                while not fut.is_done and time.monotonic() < deadline:
                    time.sleep(0.01)
            cause = next((f.exception for _, f in futures if f.is_done and f.failed()), broke)
        for i, fut in futures:
            try:
                if not fut.is_done and cause is not None:
                    raise _Aborted(f"not sent: the producer stopped after {_reason(cause)}")
                meta = fut.get(timeout=0 if fut.is_done else self.timeout)
            except Exception as exc:
                self._failed.append(_Failure(records, i, _reason(exc)))
                continue
            if exact:
                self._done.append((int(records.index[i]), int(meta.partition),
                                   int(meta.offset)))

    def collect(self) -> tuple[list[_Failure], list[tuple[int, int, int]]]:
        out = list(self._failed), list(self._done)  # emptied in place: callbacks hold them
        self._failed.clear()
        self._done.clear()
        return out

    def close(self) -> None:
        try:
            self.producer.close(timeout=5)
        except Exception:  # a producer broken by a fatal error: its rows are accounted for
            logging.getLogger(__name__).debug("kafka-python producer close failed",
                                              exc_info=True)


class _Aborted(Exception):
    pass


def make_writer(client: Any, engine: str, *, timeout: float,
                config: Mapping[str, Any] | None = None, exact: bool = False) -> Writer:
    """A writer of ``engine`` (already picked) for ``client``; ``config`` overrides the
    producer's settings (librdkafka or kafka-python names)."""
    from diaspora_notebook.kafka.source import NAMESPACE_KEY, client_config

    if engine == "memory":
        return MemoryWriter(client_config(client, "memory"))
    settings = client_config(client, engine)
    namespace = settings.pop(NAMESPACE_KEY, None)
    writer: Writer
    if engine == "confluent":
        writer = ConfluentWriter(settings, timeout=timeout, overrides=config, exact=exact)
    else:
        writer = KafkaPythonWriter(client, timeout=timeout, overrides=config)
    return NamespacedWriter(writer, namespace) if namespace else writer


class NamespacedWriter(Writer):
    """A v3 writer: topics are named as the SDK names them and written as
    ``<namespace>.<topic>`` (the reading side is ``source.NamespacedSource``)."""

    def __init__(self, writer: Writer, namespace: str) -> None:
        self._writer = writer
        self._prefix = namespace + "."
        self.engine = writer.engine

    def partitions(self, topic: str) -> int:
        return self._writer.partitions(self._prefix + topic)

    def send(self, topic: str, records: Records, exact: bool) -> None:
        self._writer.send(self._prefix + topic, records, exact)

    def pending(self) -> int:
        return self._writer.pending()

    def service(self) -> None:
        self._writer.service()

    def finish(self, timeout: float) -> None:
        self._writer.finish(timeout)

    def collect(self) -> tuple[list[_Failure], list[tuple[int, int, int]]]:
        return self._writer.collect()

    def close(self) -> None:
        self._writer.close()


# --- the produce loop -----------------------------------------------------------------------


class ProduceError(DiasporaError):
    """Some rows did not land. ``failed_rows`` are their messages (``topics.produce(topic,
    error.failed_rows)`` or ``error.retry()`` sends them again), ``failed_indices`` their row
    numbers in the input, ``reasons`` how many failed for each reason, ``produced`` what did
    land."""

    def __init__(self, message: str, *, hint: str, topic: str, produced: Produced,
                 failed_rows: Records, reasons: dict[str, int],
                 retry: Callable[[Records], Produced]) -> None:
        super().__init__(message, hint=hint)
        self.topic = topic
        self.produced = produced
        self.failed_rows = failed_rows
        self.failed_indices = [int(i) for i in failed_rows.index]
        self.reasons = reasons
        self._retry = retry

    @property
    def failed_count(self) -> int:
        return len(self.failed_rows)

    def retry(self) -> Produced:
        """Send the failed rows again (same topic, engine and settings); raises a new
        ``ProduceError`` for those that fail again. Row numbers stay the original ones."""
        return self._retry(self.failed_rows)


class Progress:
    """A tqdm bar once work takes more than ``after`` seconds (in a notebook: the widget bar;
    in a script: silent unless ``show=True``)."""

    def __init__(self, total: int | None, show: bool | None, desc: str, after: float = 2.0
                 ) -> None:
        self.total, self.desc, self.after = total, desc, after
        self.show = _in_notebook() if show is None else show
        self.began = time.monotonic()
        self.bar: Any = None
        self.n = 0

    def update(self, done: int) -> None:
        if not self.show:
            return
        if self.bar is None:
            if time.monotonic() - self.began < self.after:
                return
            try:
                from tqdm.auto import tqdm  # type: ignore[import-untyped]
            except ImportError:  # the bar is a nicety
                self.show = False
                return
            self.bar = tqdm(total=self.total, desc=self.desc, unit="rows", unit_scale=True)
        self.bar.update(done - self.n)
        self.n = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _in_notebook() -> bool:
    import sys

    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get = getattr(shell, "get_ipython", None)
    ip = get() if get else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def write(client: Any, topic: str, data: Any, opts: Options, *, engine: str = "auto",
          timeout: float = 60.0, progress: bool | None = None,
          config: Mapping[str, Any] | None = None) -> Produced:
    """Send ``data`` to ``topic`` and wait for every delivery.

    :raises ProduceError: some rows did not land (the others did)
    """
    from diaspora_notebook.kafka.source import pick_engine

    engine = pick_engine(engine)
    batches, total = prepare(data, opts)
    exact = total is not None and total <= EXACT_ROWS
    writer = make_writer(client, engine, timeout=timeout, config=config, exact=exact)
    failures: list[_Failure] = []
    done: list[tuple[int, int, int]] = []
    sent = 0
    bar = Progress(total, progress, f"produce {topic}")
    try:
        _check_topic(writer, topic)
        for batch in ahead(batches):
            writer.send(topic, batch, exact)
            sent += len(batch)
            f, d = writer.collect()
            failures += f
            done += d
            bar.update(sent - writer.pending())
        writer.finish(timeout)
        f, d = writer.collect()
        failures += f
        done += d
        bar.update(sent)
    except Exception as exc:  # a producer refused outright (e.g. no producer id: a fatal
        # CLUSTER_AUTHORIZATION_FAILED for a key that may write no topic): one clear error
        from diaspora_notebook.kafka.errors import denied, is_denied

        if is_denied(exc):
            raise denied(topic, "write to") from exc
        raise
    finally:
        bar.close()
        try:
            writer.close()
        except Exception:  # a producer in a fatal state: what it held is accounted for
            logging.getLogger(__name__).debug("closing the producer failed", exc_info=True)
    if sent == 0:
        raise DiasporaUsageError("nothing to produce", hint="pass at least one row")
    return _outcome(client, topic, data, opts, engine, timeout, config, sent, failures, done,
                    exact)


def ahead(batches: Iterator[Records], depth: int = 1) -> Iterator[Records]:
    """``batches`` encoded in a thread, up to ``depth`` ahead of the one being sent (Arrow's
    kernels release the GIL: encoding runs beside librdkafka's produce calls)."""
    import queue

    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def fill() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        box.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(end)
        except BaseException as exc:  # handed to the sending thread, raised there
            box.put(exc)

    worker = threading.Thread(target=fill, name="diaspora-encode", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _check_topic(writer: Writer, topic: str) -> int:
    from diaspora_notebook.kafka.errors import SourceError, denied, is_denied, missing

    try:
        return writer.partitions(topic)
    except SourceError as exc:
        if is_denied(exc):
            raise denied(topic, "write to") from exc
        raise missing(topic) if exc.code in (3, -188, -190) else DiasporaError(
            f"could not write to {topic!r}: {exc}",
            hint="retry; check the fabric with `diaspora-fabric status`") from exc


def _outcome(client: Any, topic: str, data: Any, opts: Options, engine: str, timeout: float,
             config: Mapping[str, Any] | None, sent: int, failures: list[_Failure],
             done: list[tuple[int, int, int]], exact: bool) -> Produced:
    failed_rows = sorted({f.index for f in failures if f.index >= 0})
    orphans = [f for f in failures if f.index < 0]  # reported after their batch was let go
    landed = sent - len(failed_rows) - len(orphans)
    offsets: tuple[tuple[int, int], ...] = ()
    if exact:
        offsets = tuple((p, o) for _, p, o in sorted(done))
    produced = Produced(topic, offsets, landed)
    if not failures:
        return produced
    reasons: dict[str, int] = {}
    first: dict[int, str] = {}
    for f in failures:
        if f.index < 0 or f.index not in first:
            first[f.index] = f.reason
            reasons[f.reason] = reasons.get(f.reason, 0) + 1
    unique: dict[int, _Failure] = {}
    for f in failures:
        if f.index >= 0:
            unique.setdefault(f.index, f)
    records = Records.concat([f.records.take([f.pos])
                              for f in [*(unique[i] for i in sorted(unique)), *orphans]])
    count = len(failed_rows) + len(orphans)
    head = ", ".join(str(i) for i in failed_rows[:10]) + (", ..." if len(failed_rows) > 10
                                                         else "")
    why = "; ".join(f"{r} ({n} row{'s' * (n != 1)})" for r, n in reasons.items())

    def retry(rows: Records) -> Produced:
        return write(client, topic, rows, Options(), engine=engine, timeout=timeout,
                     config=config)

    hint = ("error.retry() sends the failed rows again (topics.produce(topic, "
            "error.failed_rows) does the same)")
    if any("TOOLARGE" in r.upper().replace("_", "") for r in reasons):
        hint = "the topic's max.message.bytes is smaller than these rows; " + hint
    raise ProduceError(f"{count} of {sent} rows did not land on {topic!r} "
                       f"(rows {head}): {why}", hint=hint, topic=topic, produced=produced,
                       failed_rows=records, reasons=reasons, retry=retry)
