"""Broker-side operations the magics and widgets share: topic details, create, delete, produce,
peek. Plain functions over :mod:`diaspora_notebook.kafka`'s wrappers (your key, your CA), with
kafka-python's exceptions turned into :class:`~diaspora_notebook.errors.DiasporaError`\\ s that
say what to do. Nothing here imports IPython or ipywidgets.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaError, DiasporaUsageError, KafkaAccessDeniedError

if TYPE_CHECKING:
    import pandas as pd

UNKNOWN_TOPIC = 3
TOPIC_AUTHORIZATION_FAILED = 29
TOPIC_COLUMNS = ("topic", "on_broker", "partitions", "messages", "end_offsets")


class TopicMissingError(DiasporaError):
    """The topic is registered (or named) but does not exist on the brokers."""


class TopicExistsError(DiasporaError):
    """The topic already exists on the brokers."""


@dataclass(frozen=True)
class TopicInfo:
    """One topic as the broker sees it (for this identity)."""

    topic: str
    on_broker: bool
    partitions: int | None = None
    end_offsets: tuple[int, ...] = ()

    @property
    def messages(self) -> int | None:
        """Sum of the partitions' end offsets (messages ever written, before retention)."""
        return sum(self.end_offsets) if self.on_broker else None

    def as_row(self) -> dict[str, Any]:
        return {"topic": self.topic, "on_broker": self.on_broker, "partitions": self.partitions,
                "messages": self.messages, "end_offsets": list(self.end_offsets)}


def _denied(topic: str, what: str) -> KafkaAccessDeniedError:
    return KafkaAccessDeniedError(
        f"the broker refused to {what} topic {topic!r}: you have no access to it",
        hint=f"register it with %diaspora_register {topic} (or Client().register_topic), or "
        "ask its owner to grant you access")


def _missing(topic: str) -> TopicMissingError:
    return TopicMissingError(
        f"topic {topic!r} does not exist on the brokers",
        hint=f"create it: %diaspora_register {topic} --create, the topic manager's Create "
        "button, or KafkaAdmin().create_topics([NewTopic(...)])")


@contextlib.contextmanager
def _kafka_errors(topic: str, what: str) -> Iterator[None]:
    from kafka import errors

    try:
        yield
    except errors.TopicAuthorizationFailedError as exc:
        raise _denied(topic, what) from exc
    except errors.UnknownTopicOrPartitionError as exc:
        raise _missing(topic) from exc
    except errors.TopicAlreadyExistsError as exc:
        raise TopicExistsError(f"topic {topic!r} already exists on the brokers",
                               hint="use it as it is, or delete it first") from exc
    except errors.InvalidPartitionsError as exc:
        raise DiasporaUsageError(f"invalid partition count for {topic!r}",
                                 hint="use a whole number from 1 to 1000") from exc
    except errors.KafkaTimeoutError as exc:
        raise DiasporaError(f"the broker did not answer in time while trying to {what} "
                            f"{topic!r}", hint="retry; check the fabric with "
                            "`diaspora-fabric status`") from exc
    except errors.KafkaError as exc:
        raise DiasporaError(f"could not {what} {topic!r}: {type(exc).__name__}",
                            hint="retry; if it persists, check the broker logs") from exc


def _check_name(topic: str) -> str:
    name = (topic or "").strip()
    if not name:
        raise DiasporaUsageError("no topic name given", hint="pass a topic name")
    return name


@contextlib.contextmanager
def admin(client: Any) -> Iterator[Any]:
    """A :class:`~diaspora_notebook.kafka.KafkaAdmin` for ``client``, closed afterwards."""
    from diaspora_notebook.kafka import KafkaAdmin

    adm = KafkaAdmin(client=client)
    try:
        yield adm
    finally:
        adm.close()


@contextlib.contextmanager
def consumer(client: Any, **kwargs: Any) -> Iterator[Any]:
    from diaspora_notebook.kafka import KafkaConsumer

    con = KafkaConsumer(client=client, enable_auto_commit=False, group_id=None, **kwargs)
    try:
        yield con
    finally:
        con.close()


def _describe(adm: Any, topics: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not topics:
        return {}
    return {d["name"]: d for d in adm.describe_topics(list(topics))}


def _require(desc: dict[str, Any] | None, topic: str, what: str) -> int:
    """The partition count of a described topic, or the error for its ``error_code``."""
    code = desc.get("error_code") if desc else UNKNOWN_TOPIC
    if code == TOPIC_AUTHORIZATION_FAILED:
        raise _denied(topic, what)
    if code == UNKNOWN_TOPIC or desc is None:
        raise _missing(topic)
    return len(desc.get("partitions") or [])


def topic_details(client: Any, topics: Iterable[str]) -> list[TopicInfo]:
    """Partitions and end offsets of ``topics`` (those not on the broker: ``on_broker=False``)."""
    from kafka import TopicPartition

    names = [t for t in dict.fromkeys(topics) if t]
    if not names:
        return []
    with admin(client) as adm, _kafka_errors(", ".join(names), "describe"):
        described = _describe(adm, names)
    present = {n: len(d.get("partitions") or []) for n, d in described.items()
               if d.get("error_code") == 0}
    ends: dict[str, list[int]] = {}
    if present:
        parts = [TopicPartition(n, p) for n, count in present.items() for p in range(count)]
        with consumer(client) as con, _kafka_errors(", ".join(present), "read offsets of"):
            offsets = con.end_offsets(parts)
        for tp in sorted(offsets, key=lambda tp: (tp.topic, tp.partition)):
            ends.setdefault(tp.topic, []).append(int(offsets[tp]))
    return [TopicInfo(n, n in present, present.get(n), tuple(ends.get(n, ())))
            for n in names]


def topics_frame(infos: Sequence[TopicInfo]) -> pd.DataFrame:
    """The topic table as a DataFrame (one row per topic)."""
    import pandas as pd

    return pd.DataFrame([i.as_row() for i in infos], columns=list(TOPIC_COLUMNS))


def create_topic(client: Any, topic: str, partitions: int = 1,
                 replication_factor: int = -1) -> dict[str, Any]:
    """Create ``topic`` on the brokers (you must have registered it)."""
    from diaspora_notebook.kafka import NewTopic

    name = _check_name(topic)
    if not 1 <= int(partitions) <= 1000:
        raise DiasporaUsageError(f"invalid partition count {partitions}",
                                 hint="use a whole number from 1 to 1000")
    with admin(client) as adm, _kafka_errors(name, "create"):
        adm.create_topics([NewTopic(name, int(partitions), replication_factor)])
    return {"status": "success", "message": f"created with {partitions} partition(s)",
            "topic": name}


def delete_topic(client: Any, topic: str) -> dict[str, Any]:
    """Delete ``topic`` and its messages from the brokers (the registration stays)."""
    name = _check_name(topic)
    with admin(client) as adm, _kafka_errors(name, "delete"):
        _require(_describe(adm, [name]).get(name), name, "delete")
        adm.delete_topics([name])
    return {"status": "success", "message": "deleted from the brokers", "topic": name}


def parse_documents(text: str) -> list[Any]:
    """One JSON document per non-blank line (lines starting with ``#`` are comments)."""
    docs = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            docs.append(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise DiasporaUsageError(f"line {number} is not JSON ({exc.msg} at column "
                                     f"{exc.colno}): {stripped[:60]!r}",
                                     hint="write one JSON document per line, e.g. "
                                     '{"temperature": 21.5}') from None
    if not docs:
        raise DiasporaUsageError("nothing to produce",
                                 hint="give one JSON document per line")
    return docs


def produce(client: Any, topic: str, documents: Sequence[Any], *, key: str | None = None,
            timeout: float = 30.0) -> list[tuple[int, int]]:
    """Send ``documents`` (as JSON) to ``topic``; return each one's ``(partition, offset)``."""
    from diaspora_notebook.kafka import KafkaProducer

    name = _check_name(topic)
    with admin(client) as adm, _kafka_errors(name, "write to"):
        _require(_describe(adm, [name]).get(name), name, "write to")
    producer = KafkaProducer(client=client, max_block_ms=int(timeout * 1000))
    raw_key = None if key is None else str(key).encode("utf-8")
    try:
        with _kafka_errors(name, "write to"):
            futures = [producer.send(name, doc, key=raw_key) for doc in documents]
            producer.flush(timeout=timeout)
            metas = [f.get(timeout=timeout) for f in futures]
    finally:
        producer.close(timeout=5)
    return [(m.partition, m.offset) for m in metas]


def describe_offsets(results: Sequence[tuple[int, int]]) -> str:
    """``partition 0: offsets 5-7; partition 1: offset 2`` for a produce summary."""
    by_partition: dict[int, list[int]] = {}
    for partition, offset in results:
        by_partition.setdefault(partition, []).append(offset)
    parts = []
    for partition in sorted(by_partition):
        offs = sorted(by_partition[partition])
        span = f"offset {offs[0]}" if len(offs) == 1 else f"offsets {offs[0]}-{offs[-1]}"
        parts.append(f"partition {partition}: {span}")
    return "; ".join(parts)


def peek(client: Any, topic: str, n: int = 10, *, from_beginning: bool = False,
         timeout: float = 10.0) -> pd.DataFrame:
    """The last ``n`` messages of ``topic`` (or the first ``n`` with ``from_beginning``).

    Reads without a consumer group (nothing is committed) and stops at the end offsets it saw
    when it started, or after ``timeout`` seconds.
    """
    from kafka import TopicPartition

    from diaspora_notebook.stream.frame import LiveFrame

    name = _check_name(topic)
    if n < 1:
        raise DiasporaUsageError(f"-n must be at least 1, not {n}", hint="e.g. -n 10")
    with admin(client) as adm, _kafka_errors(name, "read"):
        count = _require(_describe(adm, [name]).get(name), name, "read")
    records: list[Any] = []
    with consumer(client) as con, _kafka_errors(name, "read"):
        parts = [TopicPartition(name, p) for p in range(count)]
        con.assign(parts)
        begin, end = con.beginning_offsets(parts), con.end_offsets(parts)
        for tp in parts:
            start = begin[tp] if from_beginning else max(begin[tp], end[tp] - n)
            end[tp] = min(end[tp], start + n)
            con.seek(tp, start)
        pending = {tp for tp in parts if con.position(tp) < end[tp]}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            batch = con.poll(timeout_ms=200, max_records=500)
            for tp, recs in batch.items():
                records.extend(r for r in recs if r.offset < end[tp])
            pending = {tp for tp in pending if con.position(tp) < end[tp]}
    records.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
    chosen = records[:n] if from_beginning else records[-n:]
    frame = LiveFrame(max_rows=max(n, 1))
    for record in chosen:  # ingest() takes one partition at a time
        frame.ingest([record])
    return frame.snapshot().reset_index(drop=True)
