"""The in-memory source: topics held in this process, read through the same ``Source`` protocol
as a broker. The reader, the live stream's consumer thread, its window and its views run on it
without a JVM (unit tests, demos)::

    topics = MemoryTopics()
    topics.create("t", partitions=2)
    topics.produce("t", b'{"x": 1}', key=b"k")
    LiveDataFrame("t", engine="memory", consumer_config={"topics": topics}, start="earliest")
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.errors import SourceError
from diaspora_notebook.kafka.source import TP, OnAssign, RawBatch


class _Log:
    """One partition: parallel lists, offsets ``low .. low + len(values) - 1``."""

    def __init__(self) -> None:
        self.low = 0
        self.timestamps: list[int] = []
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.headers: list[list[tuple[str, bytes]]] = []

    @property
    def high(self) -> int:
        return self.low + len(self.values)


class MemoryTopics:
    """Topics in memory (thread-safe): what :class:`MemorySource` reads and tests write.

    ``fail(error)`` makes the next poll of every source raise ``error`` once (retries, error
    states); ``groups`` holds the offsets consumer groups committed.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.logs: dict[str, list[_Log]] = {}
        self.groups: dict[str, dict[TP, int]] = {}
        self._failures: list[BaseException] = []
        self._round_robin = 0

    def create(self, topic: str, partitions: int = 1) -> None:
        """A topic with ``partitions`` empty partitions (more are added to an existing one)."""
        with self.lock:
            logs = self.logs.setdefault(topic, [])
            logs.extend(_Log() for _ in range(max(partitions - len(logs), 0)))

    def produce(self, topic: str, value: bytes | None, *, key: bytes | None = None,
                partition: int | None = None, timestamp_ms: int | None = None,
                headers: Sequence[tuple[str, bytes]] = ()) -> tuple[int, int]:
        """Append one record; returns its ``(partition, offset)``. Without ``partition`` a key
        picks one by hash, no key round-robin."""
        with self.lock:
            logs = self.logs.get(topic)
            if not logs:
                raise DiasporaUsageError(f"no in-memory topic {topic!r}",
                                         hint="MemoryTopics.create(topic) first")
            if partition is None:
                if key is not None:
                    partition = zlib.crc32(key) % len(logs)
                else:
                    partition = self._round_robin % len(logs)
                    self._round_robin += 1
            log = logs[partition]
            offset = log.high
            log.timestamps.append(int(time.time() * 1000) if timestamp_ms is None
                                  else timestamp_ms)
            log.keys.append(key)
            log.values.append(value)
            log.headers.append(list(headers))
            self.arrived.notify_all()
        return partition, offset

    def produce_many(self, topic: str, values: Iterable[bytes | None], **kwargs: Any
                     ) -> list[tuple[int, int]]:
        """``produce`` each value (same keyword arguments for all)."""
        return [self.produce(topic, v, **kwargs) for v in values]

    def truncate(self, topic: str, partition: int, before: int) -> None:
        """Drop the records below offset ``before`` (the low watermark moves, as retention
        does)."""
        with self.lock:
            log = self.logs[topic][partition]
            cut = min(max(before - log.low, 0), len(log.values))
            for column in (log.timestamps, log.keys, log.values, log.headers):
                del column[:cut]
            log.low += cut

    def fail(self, error: BaseException) -> None:
        """The next poll (of any source on these topics) raises ``error``."""
        with self.lock:
            self._failures.append(error)

    def take_failure(self) -> BaseException | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    def log(self, tp: TP) -> _Log:
        try:
            return self.logs[tp[0]][tp[1]]
        except (KeyError, IndexError):
            raise SourceError(f"UnknownTopicOrPartitionError: {tp[0]}[{tp[1]}] is not in memory",
                              code=3) from None


class MemorySource:
    """A consumer of :class:`MemoryTopics` (``config={"topics": MemoryTopics}``)."""

    name = "memory"

    def __init__(self, config: dict[str, Any], *, group_id: str | None,
                 auto_offset_reset: str = "latest", topics: Sequence[str] = (),
                 headers: bool = False) -> None:
        store = config.get("topics")
        if not isinstance(store, MemoryTopics):
            raise DiasporaUsageError("the memory engine reads {'topics': MemoryTopics()}",
                                     hint="consumer_config={'topics': topics}")
        self.store = store
        self.group_id = group_id
        self._reset = auto_offset_reset
        self._headers = headers
        self._positions: dict[TP, int] = {}
        self._paused: set[TP] = set()
        self._subscribed: tuple[list[str], OnAssign] | None = None

    def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        with self.store.lock:
            return list(range(len(self.store.logs.get(topic, ()))))

    def watermarks(self, tps: Iterable[TP], timeout: float = 10.0) -> dict[TP, tuple[int, int]]:
        with self.store.lock:
            return {tp: (self.store.log(tp).low, self.store.log(tp).high) for tp in tps}

    def offsets_for_times(self, tps: Iterable[TP], ms: int,
                          timeout: float = 10.0) -> dict[TP, int | None]:
        out: dict[TP, int | None] = {}
        with self.store.lock:
            for tp in tps:
                log = self.store.log(tp)
                later = np.flatnonzero(np.array(log.timestamps, np.int64) >= ms)
                out[tp] = log.low + int(later[0]) if later.size else None
        return out

    def assign(self, offsets: dict[TP, int]) -> None:
        self._positions.update(offsets)

    def assignment(self) -> list[TP]:
        return list(self._positions)

    def subscribe(self, topics: Sequence[str], on_assign: OnAssign) -> None:
        self._subscribed = (list(topics), on_assign)  # assigned at the next poll, as Kafka does

    def _join(self) -> None:
        assert self._subscribed is not None
        topics, on_assign = self._subscribed
        self._subscribed = None
        tps = [(t, p) for t in topics for p in self.partitions(t)]
        committed = self.store.groups.get(self.group_id or "", {})
        marks = self.watermarks(tps)
        wanted = on_assign(tps)
        for tp in tps:
            edge = marks[tp][0] if self._reset == "earliest" else marks[tp][1]
            self._positions[tp] = wanted.get(tp, committed.get(tp, edge))

    def pause(self, tps: Iterable[TP]) -> None:
        self._paused.update(tp for tp in tps if tp in self._positions)

    def resume(self) -> None:
        self._paused.clear()

    def paused(self) -> set[TP]:
        return set(self._paused)

    def poll(self, timeout: float, max_records: int) -> list[RawBatch]:
        failure = self.store.take_failure()
        if failure is not None:
            raise failure
        if self._subscribed is not None:
            self._join()
        deadline = time.monotonic() + timeout
        with self.store.lock:
            while True:
                out = self._take(max_records)
                left = deadline - time.monotonic()
                if out or left <= 0:
                    return out
                self.store.arrived.wait(left)

    def _take(self, most: int) -> list[RawBatch]:
        """Up to ``most`` records from the positions (the store's lock held)."""
        out = []
        for tp, at in self._positions.items():
            if most <= 0:
                break
            if tp in self._paused:
                continue
            log = self.store.log(tp)
            begin = max(at, log.low) - log.low
            end = min(len(log.values), begin + most)
            if end <= begin:
                continue
            n = end - begin
            out.append(RawBatch(
                tp[0], tp[1], np.arange(log.low + begin, log.low + end, dtype=np.int64),
                np.array(log.timestamps[begin:end], np.int64), log.keys[begin:end],
                log.values[begin:end], log.headers[begin:end] if self._headers else None))
            self._positions[tp] = log.low + end
            most -= n
        return out

    def highwater(self, tp: TP) -> int | None:
        with self.store.lock:
            return self.store.log(tp).high

    def position(self, tp: TP) -> int | None:
        return self._positions.get(tp)

    def take_error(self) -> SourceError | None:
        return None

    def broken(self) -> str | None:
        return None

    def close(self, *, commit: bool) -> None:
        if commit and self.group_id is not None:
            with self.store.lock:
                self.store.groups.setdefault(self.group_id, {}).update(self._positions)
