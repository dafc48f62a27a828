"""``LiveFrame``: the bounded, deduplicated, columnar window of records behind a live DataFrame.

The window is a ring of chunks, one per consumed batch of one partition: numpy arrays of
offsets and timestamps, the keys, and the payloads, decoded a whole batch at a time into an
Arrow table (:func:`~diaspora_notebook.kafka.decode.decode_batch`). A chunk is decoded at most
once, lazily: when the frame is materialized, when a callback needs it, or when the consumer
thread has caught up; a chunk that leaves the window before anyone looked at it is never
decoded. pandas is built only when ``.df`` (``snapshot``) or a view asks; schemas that differ
between chunks are unioned then (a missing column is null; the conversion is
:mod:`diaspora_notebook.kafka.arrow`). Columns that appear or disappear are counted as they are
decoded (``schema_changes``, ``new_fields``).

Exactly once: the frame remembers the next expected offset of each (topic, partition) and skips
any record below it, so a consumer that re-reads after a retry or a seek cannot duplicate rows.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.arrow import Chunk, as_table, binary, first_valid, to_frame
from diaspora_notebook.kafka.decode import decode_batch
from diaspora_notebook.kafka.flatten import ERROR_COLUMN, VALUE_COLUMN, RowDecoder

if TYPE_CHECKING:
    import pandas as pd

MODES = ("append", "latest_by_key")
_COMPACT_FACTOR = 2  # latest_by_key: compact when the chunks hold this many times max_rows


class Record(Protocol):
    """What the frame needs of a record (kafka-python's ``ConsumerRecord`` has it)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


class NewField(NamedTuple):
    """Where a payload field was first seen (``LiveDataFrame.stats.new_fields``)."""

    topic: str
    partition: int
    offset: int


class LiveFrame:
    """Bounded window of records -> pandas on demand.

    :param max_rows: most rows held; older ones are dropped and counted in ``rows_dropped``
    :param mode: ``"append"`` keeps the last ``max_rows`` records; ``"latest_by_key"`` keeps
        the newest record of each key (records without a key share the key ``None``)
    :param decoder: turns payloads into value columns (JSON, flattened, by default)
    """

    def __init__(
        self, *, max_rows: int = 10_000, mode: str = "append", decoder: RowDecoder | None = None
    ) -> None:
        if mode not in MODES:
            raise DiasporaUsageError(
                f"unknown mode {mode!r}", hint=f"use one of {', '.join(repr(m) for m in MODES)}"
            )
        if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
            raise DiasporaUsageError(
                f"max_rows must be a positive integer, not {max_rows!r}",
                hint="the window holds at most max_rows rows; 10_000 is the default",
            )
        self.max_rows = max_rows
        self.mode = mode
        self.decoder = decoder or RowDecoder()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self._chunks: deque[Chunk] = deque()
        self._held = 0  # rows in _chunks (latest_by_key: superseded ones until compaction)
        self._by_key: dict[bytes | None, int] = {}  # key -> sequence number of its newest row
        self._seq = 0
        self._pending: deque[Chunk] = deque()  # not decoded yet, oldest first
        self._next: dict[tuple[str, int], int] = {}
        self._cache: tuple[int, pd.DataFrame] | None = None
        self._fields: dict[str, None] | None = None  # the payload fields of the last chunk
        self.known_fields: dict[str, None] = {}
        self.new_fields: dict[str, NewField] = {}
        self.schema_changes = 0
        self.events = 0
        self.duplicates = 0
        self.rows_dropped = 0
        self.rows_replaced = 0
        self.decode_errors = 0
        self.version = 0

    # --- writing (consumer thread) -----------------------------------------------------------

    def ingest(self, records: Sequence[Record]) -> Chunk | None:
        """Add record objects of ONE partition (ascending offsets); return the new rows' chunk.

        :param records: as kafka-python's ``poll()`` returns them for one ``TopicPartition``
        """
        if not records:
            return None
        first = records[0]
        return self.ingest_columns(
            first.topic, first.partition,
            np.fromiter((r.offset for r in records), np.int64, len(records)),
            np.fromiter((r.timestamp for r in records), np.int64, len(records)),
            [r.key for r in records], [r.value for r in records])

    def ingest_columns(self, topic: str, partition: int, offsets: np.ndarray,
                       timestamps: np.ndarray, keys: list[bytes | None],
                       values: list[bytes | None]) -> Chunk | None:
        """Add a batch of ONE partition given as columns; return its chunk (``None``: all seen).

        :param offsets: ascending offsets (int64)
        :param timestamps: milliseconds since the epoch, ``-1`` when the producer set none
        :param keys: raw keys
        :param values: raw payloads (``None`` for tombstones)
        """
        if not len(offsets):
            return None
        tp = (topic, partition)
        with self.lock:
            nxt = self._next.get(tp, -1)
            chunk = Chunk(topic, partition, offsets, timestamps, keys, values)
            if offsets[0] < nxt:
                keep = offsets >= nxt
                fresh = int(keep.sum())
                self.duplicates += len(offsets) - fresh
                if not fresh:
                    return None
                chunk = chunk.select(keep)
            self._next[tp] = int(chunk.offsets[-1]) + 1
            n = chunk.n
            chunk.seqs = np.arange(self._seq, self._seq + n, dtype=np.int64)
            self._seq += n
            self._chunks.append(chunk)
            self._held += n
            self._pending.append(chunk)
            if self.mode == "append":
                self._trim()
            else:
                self._put_by_key(chunk)
            self.events += n
            self.version += 1
            self.changed.notify_all()
        return chunk

    def _trim(self) -> None:
        over = self._held - self.max_rows
        if over <= 0:
            return
        self.rows_dropped += over
        self._held -= over
        chunks = self._chunks
        while over >= chunks[0].n:
            over -= chunks.popleft().n
        if over:
            old = chunks[0]
            chunks[0] = old.select(slice(over, None))
            self._replace_pending(old, chunks[0])
        while self._pending and self._pending[0].seqs is not None and (
                not chunks or self._pending[0].seqs[-1] < cast(Any, chunks[0].seqs)[0]):
            self._pending.popleft()  # left the window undecoded: it never will be

    def _replace_pending(self, old: Chunk, new: Chunk) -> None:
        for i, chunk in enumerate(self._pending):
            if chunk is old:
                self._pending[i] = new
                return

    def _put_by_key(self, chunk: Chunk) -> None:
        table = self._by_key
        seq = int(chunk.seqs[0])  # type: ignore[index]
        for key in chunk.keys:
            if table.pop(key, None) is not None:
                self.rows_replaced += 1
            elif len(table) >= self.max_rows:
                del table[next(iter(table))]
                self.rows_dropped += 1
            table[key] = seq
            seq += 1
        if self._held > _COMPACT_FACTOR * self.max_rows + chunk.n:
            self._compact()

    def _compact(self) -> None:
        """Drop superseded rows from the chunks (latest_by_key), keeping their order."""
        live = np.fromiter(self._by_key.values(), np.int64, len(self._by_key))
        live.sort()
        kept: deque[Chunk] = deque()
        pending = {id(c) for c in self._pending}
        new_pending: deque[Chunk] = deque()
        held = 0
        for chunk in self._chunks:
            mask = np.isin(chunk.seqs, live, assume_unique=True)  # type: ignore[arg-type]
            if not mask.any():
                continue
            small = chunk if mask.all() else chunk.select(mask)
            kept.append(small)
            held += small.n
            if id(chunk) in pending:
                new_pending.append(small)
        self._chunks, self._held, self._pending = kept, held, new_pending

    def decode_pending(self, budget: int = 50_000) -> int:
        """Decode chunks not decoded yet, about ``budget`` rows (the decoder thread, or the
        consumer thread when idle). The parsing runs outside the lock (pyarrow releases the GIL
        too), so ingesting and snapshots go on meanwhile.

        :param budget: most rows to decode in one call
        """
        done = 0
        while done < budget:
            with self.lock:
                chunk = None
                while self._pending and chunk is None:
                    head = self._pending.popleft()
                    if head.payload is None:
                        chunk = head
                if chunk is None:
                    break
                values = chunk.values
            decoded = decode_batch(values or [], self.decoder)
            with self.lock:
                if chunk.payload is None:  # a snapshot may have decoded it meanwhile
                    self._store(chunk, *decoded)
            done += chunk.n
        return done

    def decoded(self, chunk: Chunk) -> Chunk:
        """``chunk`` with its payload decoded (parsed outside the lock, as
        :meth:`decode_pending` does; a chunk decoded meanwhile is left as it is)."""
        with self.lock:
            if chunk.payload is not None:
                return chunk
            values = chunk.values
        decoded = decode_batch(values or [], self.decoder)
        with self.lock:
            if chunk.payload is None:
                self._store(chunk, *decoded)
        return chunk

    def subscribe_point(self) -> tuple[list[Chunk], int, int]:
        """The held chunks (append mode; ``[]`` by key), the sequence number the next record
        gets and the events so far, at one moment: where a new subscriber starts (call with
        the lock held)."""
        chunks = list(self._chunks) if self.mode == "append" else []
        return chunks, self._seq, self.events

    def _decode(self, chunk: Chunk) -> None:
        self._store(chunk, *decode_batch(chunk.values or [], self.decoder))

    def _store(self, chunk: Chunk, payload: Any, errors: int) -> None:
        chunk.payload = payload
        chunk.values = None  # decoded: a failed payload keeps its text in `value`
        if self.mode == "append" and isinstance(chunk.keys, list):
            # one Arrow buffer instead of a Python bytes object per key: ~7 instead of ~45 bytes
            # a row (latest_by_key keeps its keys in a dict anyway)
            chunk.keys = binary(chunk.keys)
        self.decode_errors += errors
        self._track_schema(chunk, payload)

    def _track_schema(self, chunk: Chunk, payload: Any) -> None:
        names = list(payload.columns if hasattr(payload, "iloc") else payload.column_names)
        fields = dict.fromkeys(n for n in names if n not in (ERROR_COLUMN, VALUE_COLUMN))
        if self._fields is not None and fields.keys() != self._fields.keys():
            self.schema_changes += 1
        first = self._fields is None and not self.known_fields
        for name in fields:
            if name not in self.known_fields:
                self.known_fields[name] = None
                if not first:
                    self.new_fields[name] = NewField(
                        chunk.topic, chunk.partition, int(chunk.offsets[first_valid(payload,
                                                                                     name)]))
        self._fields = fields

    # --- reading (any thread) -------------------------------------------------------------------

    @property
    def pending_rows(self) -> int:
        """Rows held but not decoded yet (their raw payloads are still in memory)."""
        with self.lock:
            return sum(c.n for c in self._pending if c.payload is None)

    @property
    def rows(self) -> int:
        return self._held if self.mode == "append" else len(self._by_key)

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """The offset each (topic, partition) is expected to continue from."""
        with self.lock:
            return dict(self._next)

    def chunks(self, tail: int | None = None) -> tuple[list[Chunk], np.ndarray | None]:
        """The held chunks (oldest first), all decoded, and for ``latest_by_key`` the sequence
        numbers of the rows to show, in order.

        :param tail: only the newest n rows (all when ``None``)
        """
        with self.lock:
            return self._chunks_held(tail)

    def _chunks_held(self, tail: int | None) -> tuple[list[Chunk], np.ndarray | None]:
        """:meth:`chunks`, called with the lock held."""
        chunks = list(self._chunks)
        order = None
        if self.mode == "latest_by_key":
            seqs = list(self._by_key.values())
            if tail is not None:
                seqs = seqs[-tail:] if tail else []
            order = np.array(seqs, dtype=np.int64)
            if tail is not None and len(order):
                first = order.min()
                chunks = [c for c in chunks if c.seqs[-1] >= first]  # type: ignore[index]
        elif tail is not None:
            picked: list[Chunk] = []
            left = tail
            for chunk in reversed(chunks):
                if left <= 0:
                    break
                if chunk.payload is None:  # the whole chunk: counters see each row once
                    self._decode(chunk)
                picked.append(chunk if chunk.n <= left else
                              chunk.select(slice(chunk.n - left, None)))
                left -= chunk.n
            chunks = picked[::-1]
        for chunk in chunks:
            if chunk.payload is None:
                self._decode(chunk)
        return chunks, order

    def snapshot(self, tail: int | None = None) -> pd.DataFrame:
        """A new DataFrame of the held rows (a copy: later records never change it).

        :param tail: only the newest n rows (cheap; what the widget shows)
        """
        if tail is None:
            with self.lock:
                version = self.version
                cached = self._cache
            if cached is not None and cached[0] == version:
                hit: pd.DataFrame = cached[1].copy()
                return hit
            frame = to_frame(*self.chunks())
            with self.lock:
                self._cache = (version, frame)
            fresh: pd.DataFrame = frame.copy()
            return fresh
        return to_frame(*self.chunks(tail))

    def tail_table(self, n: int) -> Any:
        """The newest ``n`` rows as a ``pyarrow.Table`` (no pandas on the way), with the columns
        of :meth:`snapshot`; payloads Arrow cannot hold together come through pandas."""
        return as_table(*self.chunks(max(int(n), 0)))

    def rows_since(self, seen: int, most: int) -> tuple[Any, int]:
        """The rows of the events after the first ``seen`` (at most the newest ``most``) as a
        ``pyarrow.Table``, and the event count they reach. Both are read at one moment: a caller
        that passes the count back next time gets every row once, however fast events arrive
        (the newest n rows read a moment after counting n new events would skip some and
        repeat others)."""
        with self.lock:
            events = self.events
            chunks, order = self._chunks_held(max(min(events - seen, most), 0))
        return as_table(chunks, order), events

    def batch_frame(self, chunk: Chunk | Sequence[Record]) -> pd.DataFrame:
        """A DataFrame of just these rows (for ``on_batch`` callbacks)."""
        if not isinstance(chunk, Chunk):
            records = list(chunk)
            if not records:
                return to_frame([], None)
            chunk = Chunk(records[0].topic, records[0].partition,
                          np.array([r.offset for r in records], np.int64),
                          np.array([r.timestamp for r in records], np.int64),
                          [r.key for r in records], [r.value for r in records])
        with self.lock:
            if chunk.payload is None:
                self._decode(chunk)
        return to_frame([chunk], None)


