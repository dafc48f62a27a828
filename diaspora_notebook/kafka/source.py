"""Sources: where records come from, behind one protocol (``Source``).

A source is built from a connection config (``make_source``) and hands over records as
columns, one ``RawBatch`` per partition, so nothing downstream touches a record object. The
engines: ``"confluent"`` (librdkafka through confluent-kafka, :mod:`.confluent`: the fast one),
``"kafka-python"`` (pure Python, :mod:`.kafka_python`) and ``"memory"`` (topics held in this
process, :mod:`.memory`: tests and demos without a broker). Another source (a REST one, an
IAM-authenticated one) is one more class with these methods and one more entry in
``SOURCES``. A topic partition is ``(topic, partition)``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.errors import SourceError

TP = tuple[str, int]
#: group mode: called with the partitions just assigned, returns where some of them start
OnAssign = Callable[[list[TP]], dict[TP, int]]

ENGINES = ("auto", "confluent", "kafka-python", "memory")
#: ``Client.connection_config`` library name for each engine (a client that gives "memory"
#: settings is a test's stand-in)
LIBRARY = {"confluent": "confluent-kafka", "kafka-python": "kafka-python", "memory": "memory"}
#: engine -> "module:class" of its source (imported when first used)
SOURCES = {
    "confluent": "diaspora_notebook.kafka.confluent:ConfluentSource",
    "kafka-python": "diaspora_notebook.kafka.kafka_python:KafkaPythonSource",
    "memory": "diaspora_notebook.kafka.memory:MemorySource",
}


class RawBatch(NamedTuple):
    """Consecutive records of one partition, as columns."""

    topic: str
    partition: int
    offsets: np.ndarray  #: int64, ascending
    timestamps: np.ndarray  #: int64 ms since the epoch, -1 when unknown
    keys: list[bytes | None]
    values: list[bytes | None]
    headers: list[Any] | None  #: per record a list of (name, bytes), when asked for

    @property
    def next_offset(self) -> int:
        return int(self.offsets[-1]) + 1

    def head(self, n: int) -> RawBatch:
        """The first ``n`` records."""
        return RawBatch(self.topic, self.partition, self.offsets[:n], self.timestamps[:n],
                        self.keys[:n], self.values[:n],
                        self.headers[:n] if self.headers is not None else None)


class Source(Protocol):
    """A consumer of one engine. Built as ``cls(config, group_id=..., auto_offset_reset=...,
    topics=..., headers=...)`` (see :func:`make_source`); errors are ``SourceError`` (or the
    library's own, which :mod:`.errors` classifies by code)."""

    name: str

    def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        """The topic's partitions, sorted; ``[]`` when it does not exist."""

    def watermarks(self, tps: Iterable[TP], timeout: float = 10.0) -> dict[TP, tuple[int, int]]:
        """``{tp: (low, high)}``: the first offset held and the next one to be written."""

    def offsets_for_times(self, tps: Iterable[TP], ms: int,
                          timeout: float = 10.0) -> dict[TP, int | None]:
        """The first offset at or after ``ms`` in each partition (``None``: none that late)."""

    def assign(self, offsets: dict[TP, int]) -> None:
        """Read these partitions (added to those assigned) from these offsets."""

    def assignment(self) -> list[TP]:
        """The partitions being read."""

    def subscribe(self, topics: Sequence[str], on_assign: OnAssign) -> None:
        """Group mode: read what the group assigns; ``on_assign`` says where to start."""

    def pause(self, tps: Iterable[TP]) -> None:
        """Stop fetching these partitions until :meth:`resume`."""

    def resume(self) -> None:
        """Fetch every paused partition again."""

    def paused(self) -> set[TP]:
        """The paused partitions."""

    def poll(self, timeout: float, max_records: int) -> list[RawBatch]:
        """Up to ``max_records`` records, waiting up to ``timeout`` seconds; one batch per
        partition."""

    def highwater(self, tp: TP) -> int | None:
        """The high watermark last seen (no request), or ``None``."""

    def position(self, tp: TP) -> int | None:
        """The next offset this consumer will read, or ``None``."""

    def take_error(self) -> SourceError | None:
        """The last error reported outside a call (background threads), once."""

    def broken(self) -> str | None:
        """Why this consumer cannot recover by itself (build a new one), or ``None``."""

    def close(self, *, commit: bool) -> None:
        """Leave (committing in group mode when ``commit``) and free the connections."""


def pick_engine(engine: str = "auto") -> str:
    """``"confluent"``, ``"kafka-python"`` or ``"memory"``: what ``engine`` means on this
    machine.

    :param engine: ``"auto"`` (confluent-kafka when installed), ``"confluent"``,
        ``"kafka-python"`` or ``"memory"``
    """
    if engine not in ENGINES:
        raise DiasporaUsageError(f"unknown engine {engine!r}",
                                 hint=f"use one of {', '.join(ENGINES)}")
    has_confluent = importlib.util.find_spec("confluent_kafka") is not None
    if engine == "auto":
        engine = "confluent" if has_confluent else "kafka-python"
    if engine == "confluent" and not has_confluent:
        raise DiasporaUsageError("engine='confluent' needs confluent-kafka, which is not installed",
                                 hint="pip install 'diaspora-notebook[notebook]' or use "
                                 "engine='kafka-python'")
    if engine == "kafka-python" and importlib.util.find_spec("kafka") is None:
        raise DiasporaUsageError("engine='kafka-python' needs kafka-python, which is not installed",
                                 hint="pip install 'diaspora-notebook[kafka-python]'")
    return engine


def make_source(engine: str, config: dict[str, Any], *, group_id: str | None = None,
                auto_offset_reset: str = "latest", topics: Iterable[str] = (),
                headers: bool = False) -> Source:
    """A consumer of ``engine`` (already picked) with ``config`` (the engine's settings:
    kafka-python or librdkafka ones, or ``{"topics": MemoryTopics}`` for ``"memory"``)."""
    module, _, name = SOURCES[engine].partition(":")
    cls = getattr(importlib.import_module(module), name)
    source: Source = cls(config, group_id=group_id, auto_offset_reset=auto_offset_reset,
                         topics=list(topics), headers=headers)
    return source


def client_config(client: Any, engine: str) -> dict[str, Any]:
    """``client.connection_config(...)`` for ``engine``: the settings the engine connects with."""
    getter = getattr(client, "connection_config", None)
    if getter is None:
        raise DiasporaUsageError(
            f"{type(client).__name__} cannot give Kafka settings (no connection_config method)",
            hint="pass consumer_config={...} with kafka-python KafkaConsumer settings")
    return dict(getter(LIBRARY[engine]))
