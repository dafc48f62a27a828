"""``LiveFrame``: the bounded, deduplicated window of consumed records behind a live DataFrame.

Records are appended as they come (one cheap list per record, no pandas work per message);
payloads are decoded and flattened at most once, lazily: when the frame is materialized, when a
callback needs the batch, or when the consumer thread is idle. Rows pushed out of the window
before anyone looked at them are never decoded. ``snapshot()`` builds a fresh ``pd.DataFrame``
(a copy, taken under the lock).

Exactly once: the frame remembers the next expected offset of each (topic, partition) and skips
any record below it, so a consumer that re-reads after a retry or a seek cannot duplicate rows.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.stream.flatten import (
    ERROR_COLUMN,
    META_COLUMNS,
    VALUE_COLUMN,
    RowDecoder,
    decode_key,
)

if TYPE_CHECKING:
    import pandas as pd

MODES = ("append", "latest_by_key")


class Record(Protocol):
    """What the frame needs of a record (kafka-python's ``ConsumerRecord`` has it)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


# An entry is a two-item list: [record, decoded value columns or None until decoded].
Entry = list


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
        self._ring: deque[Entry] = deque(maxlen=max_rows)
        self._by_key: dict[bytes | None, Entry] = {}
        self._pending: deque[Entry] = deque(maxlen=max_rows)  # not decoded yet, oldest first
        self._next: dict[tuple[str, int], int] = {}
        self._cache: tuple[int, pd.DataFrame] | None = None
        self.events = 0
        self.duplicates = 0
        self.rows_dropped = 0
        self.rows_replaced = 0
        self.decode_errors = 0
        self.version = 0

    # --- writing (consumer thread) -----------------------------------------------------------

    def ingest(self, records: Sequence[Record]) -> Sequence[Record]:
        """Add the records of ONE partition (ascending offsets); return those that were new.

        :param records: as kafka-python's ``poll()`` returns them for one ``TopicPartition``
        """
        if not records:
            return records
        first = records[0]
        tp = (first.topic, first.partition)
        with self.lock:
            nxt = self._next.get(tp, -1)
            if first.offset < nxt:
                fresh = [r for r in records if r.offset >= nxt]
                self.duplicates += len(records) - len(fresh)
                records = fresh
                if not records:
                    return records
            self._next[tp] = records[-1].offset + 1
            entries = [[r, None] for r in records]
            if self.mode == "append":
                over = len(self._ring) + len(entries) - self.max_rows
                if over > 0:
                    self.rows_dropped += over
                self._ring.extend(entries)
            else:
                self._put_by_key(entries)
            self._pending.extend(entries)
            self.events += len(entries)
            self.version += 1
            self.changed.notify_all()
        return records

    def _put_by_key(self, entries: list[Entry]) -> None:
        table = self._by_key
        for entry in entries:
            key = entry[0].key
            if table.pop(key, None) is not None:
                self.rows_replaced += 1
            elif len(table) >= self.max_rows:
                del table[next(iter(table))]
                self.rows_dropped += 1
            table[key] = entry

    def decode_pending(self, budget: int = 2_000) -> int:
        """Decode up to ``budget`` rows not decoded yet (the consumer thread calls this when idle).

        :param budget: most rows to decode while holding the lock
        """
        done = 0
        with self.lock:
            pending = self._pending
            while pending and done < budget:
                entry = pending.popleft()
                if entry[1] is None:
                    self._decode(entry)
                    done += 1
        return done

    def _decode(self, entry: Entry) -> dict[str, Any]:
        cols, failed = self.decoder.decode(entry[0].value)
        if failed:
            self.decode_errors += 1
        entry[1] = cols
        return cols

    # --- reading (any thread) -------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return len(self._ring) if self.mode == "append" else len(self._by_key)

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """The offset each (topic, partition) is expected to continue from."""
        with self.lock:
            return dict(self._next)

    def entries(self, tail: int | None = None) -> list[Entry]:
        """The held entries (oldest first), all decoded; ``tail`` keeps only the newest n.

        :param tail: how many of the newest rows to return (all when ``None``)
        """
        with self.lock:
            held = self._ring if self.mode == "append" else self._by_key.values()
            if tail is None or tail >= len(held):
                out = list(held)
            elif self.mode == "append":
                out = list(islice(reversed(self._ring), tail))[::-1]
            else:
                out = list(islice(reversed(self._by_key.values()), tail))[::-1]
            for entry in out:
                if entry[1] is None:
                    self._decode(entry)
        return out

    def snapshot(self, tail: int | None = None) -> pd.DataFrame:
        """A new DataFrame of the held rows (a copy: later records never change it).

        :param tail: only the newest n rows (cheap; what the widget shows)
        """
        if tail is None:
            with self.lock:
                version = self.version
                cached = self._cache
            if cached is not None and cached[0] == version:
                return cached[1].copy()
            frame = to_frame(self.entries())
            with self.lock:
                self._cache = (version, frame)
            return frame.copy()
        return to_frame(self.entries(tail))

    def batch_frame(self, records: Sequence[Record]) -> pd.DataFrame:
        """A DataFrame of just these records (for ``on_batch`` callbacks)."""
        entries: list[Entry] = [[r, None] for r in records]
        with self.lock:
            for entry in entries:
                self._decode(entry)
        return to_frame(entries)


def to_frame(entries: Sequence[Entry]) -> pd.DataFrame:
    """Decoded entries -> DataFrame: metadata columns, then payload columns, then ``_error``."""
    import numpy as np
    import pandas as pd

    recs = [e[0] for e in entries]
    ts = np.fromiter((r.timestamp for r in recs), dtype=np.int64, count=len(recs))
    stamps = pd.to_datetime(ts, unit="ms", utc=True)
    if len(ts) and (ts < 0).any():  # -1 = the producer set no timestamp
        stamps = stamps.where(ts >= 0)
    meta = pd.DataFrame(
        {
            "topic": [r.topic for r in recs],
            "partition": np.fromiter((r.partition for r in recs), np.int64, len(recs)),
            "offset": np.fromiter((r.offset for r in recs), np.int64, len(recs)),
            "timestamp": stamps,
            "key": pd.Series([decode_key(r.key) for r in recs], dtype=object),
        },
        columns=list(META_COLUMNS),
    )
    if not recs:
        meta[VALUE_COLUMN] = pd.Series(dtype=object)
        return meta
    values = pd.DataFrame.from_records([e[1] for e in entries])
    if ERROR_COLUMN in values.columns:
        values = values[[c for c in values.columns if c != ERROR_COLUMN] + [ERROR_COLUMN]]
    return pd.concat([meta, values], axis=1)
