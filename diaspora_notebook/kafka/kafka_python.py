"""The kafka-python source: the pure-Python fallback of the read path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.errors import SourceError
from diaspora_notebook.kafka.metadata_refresh import metadata_refresh_stopped
from diaspora_notebook.kafka.source import TP, OnAssign, RawBatch

#: kafka-python's default (30 s) is the longest wait between reconnect attempts to a broker that
#: failed again and again, and it also spaces its metadata refreshes while no broker is up: after a
#: broker restart the stream stood still for up to ~70 s. Capped at 1 s it resumes within ~2 s.
KAFKA_PYTHON_RECONNECT_BACKOFF_MAX_MS = 1_000


class KafkaPythonSource:
    """kafka-python ``KafkaConsumer`` as a :class:`~.source.Source`."""

    name = "kafka-python"

    def __init__(self, config: dict[str, Any], *, group_id: str | None,
                 auto_offset_reset: str = "latest", topics: Sequence[str] = (),
                 headers: bool = False) -> None:
        from kafka import KafkaConsumer

        from diaspora_notebook.diagnose import diagnosed_connection

        if any("." in k for k in config):
            raise DiasporaUsageError(
                "the kafka-python engine got librdkafka settings (dotted names)",
                hint="pass kafka-python KafkaConsumer settings, or engine='confluent'")
        conf = dict(config)
        conf.update(group_id=group_id, enable_auto_commit=group_id is not None,
                    key_deserializer=None, value_deserializer=None)
        conf.setdefault("bootstrap_timeout_ms", 10_000)
        conf.setdefault("reconnect_backoff_max_ms", KAFKA_PYTHON_RECONNECT_BACKOFF_MAX_MS)
        conf.setdefault("auto_offset_reset", auto_offset_reset)
        self._headers = headers
        with diagnosed_connection(conf):
            self.consumer = KafkaConsumer(**conf)

    def broken(self) -> str | None:
        """Why this consumer can no longer recover by itself (a new one must be built), or None."""
        return metadata_refresh_stopped(self.consumer)

    def take_error(self) -> SourceError | None:
        # kafka-python raises from poll() itself, except for the one failure it keeps quiet about
        stopped = self.broken()
        if stopped is None:
            return None
        return SourceError(f"kafka-python stopped refreshing metadata ({stopped}); "
                           "reconnecting with a new consumer", fatal=True)

    @staticmethod
    def _tp(tp: TP) -> Any:
        from kafka import TopicPartition

        return TopicPartition(*tp)

    def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        return sorted(self.consumer.partitions_for_topic(topic) or ())

    def assign(self, offsets: dict[TP, int]) -> None:
        current = set(self.consumer.assignment())
        new = {self._tp(tp): off for tp, off in offsets.items()}
        self.consumer.assign(sorted(current | set(new)))
        for tp, off in new.items():
            self.consumer.seek(tp, off)

    def assignment(self) -> list[TP]:
        return [(tp.topic, tp.partition) for tp in self.consumer.assignment()]

    def watermarks(self, tps: Iterable[TP], timeout: float = 10.0) -> dict[TP, tuple[int, int]]:
        parts = [self._tp(tp) for tp in tps]
        if not parts:
            return {}
        ms = int(timeout * 1000)
        low = self.consumer.beginning_offsets(parts, timeout_ms=ms)
        high = self.consumer.end_offsets(parts, timeout_ms=ms)
        return {(tp.topic, tp.partition): (low[tp], high[tp]) for tp in parts}

    def offsets_for_times(self, tps: Iterable[TP], ms: int,
                          timeout: float = 10.0) -> dict[TP, int | None]:
        found = self.consumer.offsets_for_times({self._tp(tp): ms for tp in tps},
                                                timeout_ms=int(timeout * 1000))
        return {(tp.topic, tp.partition): (f.offset if f is not None else None)
                for tp, f in found.items()}

    def highwater(self, tp: TP) -> int | None:
        mark: int | None = self.consumer.highwater(self._tp(tp))
        return mark

    def position(self, tp: TP) -> int | None:
        at: int | None = self.consumer.position(self._tp(tp), timeout_ms=2000)
        return at

    def subscribe(self, topics: Sequence[str], on_assign: OnAssign) -> None:
        from kafka import ConsumerRebalanceListener

        source = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python: untyped
            def on_partitions_revoked(self, revoked: Any) -> None:
                pass

            def on_partitions_assigned(self, assigned: Any) -> None:
                wanted = on_assign([(tp.topic, tp.partition) for tp in assigned])
                for tp in assigned:
                    off = wanted.get((tp.topic, tp.partition))
                    if off is not None:
                        source.consumer.seek(tp, off)
                paused = source._paused_wanted
                if paused:
                    source.consumer.pause(*assigned)

        self._paused_wanted = False
        self.consumer.subscribe(list(topics), listener=Listener())

    _paused_wanted = False

    def pause(self, tps: Iterable[TP]) -> None:
        self._paused_wanted = True
        todo = [self._tp(tp) for tp in tps]
        if todo:
            self.consumer.pause(*todo)

    def resume(self) -> None:
        self._paused_wanted = False
        self.consumer.resume(*self.consumer.paused())

    def paused(self) -> set[TP]:
        return {(tp.topic, tp.partition) for tp in self.consumer.paused()}

    def poll(self, timeout: float, max_records: int) -> list[RawBatch]:
        got = self.consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        out = []
        for tp, recs in got.items():
            if not recs:
                continue
            out.append(RawBatch(
                tp.topic, tp.partition,
                np.array([r.offset for r in recs], np.int64),
                np.array([r.timestamp for r in recs], np.int64),
                [r.key for r in recs], [r.value for r in recs],
                [list(r.headers or []) for r in recs] if self._headers else None))
        return out

    def close(self, *, commit: bool) -> None:
        self.consumer.close(autocommit=commit, timeout_ms=2000)
