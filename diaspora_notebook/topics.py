"""Topics as plain Python: what is on the brokers, and messages in and out.

The same functions back the ``%diaspora_*`` magics and the topic manager widget, and work in a
script::

    from diaspora_notebook import topics

    topics.register("my-topic", create=True, partitions=3)
    topics.produce("my-topic", [{"temperature": 21.5}, {"temperature": 21.7}])
    topics.peek("my-topic", n=5)        # a DataFrame of the newest messages
    topics.table()                      # your topics, partitions and message counts
    topics.unregister("my-topic")

Each function takes ``client=`` (default: :func:`~diaspora_notebook.client.default_client`),
talks to the brokers with your key through :mod:`diaspora_notebook.kafka.clients`'s wrappers, and
raises :class:`~diaspora_notebook.errors.DiasporaError`\\ s that say what to do
(:mod:`diaspora_notebook.kafka.errors`). Nothing is committed: reads use no consumer group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from diaspora_notebook.errors import DiasporaUsageError, TopicExistsError
from diaspora_notebook.explore import (  # exploring: read/seek/filter, groups, schema, export
    ReadResult,
    TopicDetails,
    export,
    groups,
    read,
    reset_group,
    schema,
)
from diaspora_notebook.explore import describe_topic as details
from diaspora_notebook.kafka.connections import admin, client_or_default, consumer
from diaspora_notebook.kafka.documents import Produced, describe_offsets, parse_documents
from diaspora_notebook.kafka.errors import (
    MAX_PARTITIONS,
    partition_count,
    partitions_error,
    translated,
)

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client
    from diaspora_notebook.kafka.clients import KafkaAdmin

TOPIC_COLUMNS = ("topic", "on_broker", "partitions", "messages", "end_offsets")


@dataclass(frozen=True)
class TopicInfo:
    """One topic as the brokers show it to you.

    :ivar on_broker: False when the topic is registered (or named) but not created.
    :ivar end_offsets: each partition's end offset, partition 0 first.
    """

    topic: str
    on_broker: bool
    partitions: int | None = None
    end_offsets: tuple[int, ...] = ()

    @property
    def messages(self) -> int | None:
        """Sum of the partitions' end offsets (messages ever written, before retention)."""
        return sum(self.end_offsets) if self.on_broker else None

    def as_row(self) -> dict[str, Any]:
        """The row of :func:`table` for this topic."""
        return {"topic": self.topic, "on_broker": self.on_broker, "partitions": self.partitions,
                "messages": self.messages, "end_offsets": list(self.end_offsets)}


# --- plumbing ---------------------------------------------------------------------------------


def _check_name(topic: str) -> str:
    name = (topic or "").strip() if isinstance(topic, str) else ""
    if not name:
        raise DiasporaUsageError(f"no topic name given ({topic!r})",
                                 hint="pass a topic name, e.g. topics.peek('my-topic')")
    return name


def _check_partitions(topic: str, partitions: int) -> int:
    if isinstance(partitions, bool) or not isinstance(partitions, int) \
            or not 1 <= partitions <= MAX_PARTITIONS:
        raise partitions_error(topic, partitions)
    return partitions


def _described(adm: KafkaAdmin, topics: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in adm.describe_topics(list(topics))} if topics else {}


def _partitions(client: Client, topic: str, what: str) -> int:
    """``topic``'s partition count, or the error that says why it cannot be used."""
    with admin(client) as adm, translated(topic, what):
        return partition_count(_described(adm, [topic]).get(topic), topic, what)


# --- topics -----------------------------------------------------------------------------------


def check_readable(topic: str, *, client: Client | None = None) -> int:
    """``topic``'s partition count if you may read it (what a stream checks before starting).

    :raises TopicMissingError: it is not on the brokers.
    :raises KafkaAccessDeniedError: you may not read it.
    """
    return _partitions(client_or_default(client), _check_name(topic), "read")


def names(*, client: Client | None = None) -> list[str]:
    """Your topics (registered to you or granted to you), sorted."""
    answer = client_or_default(client).list_topics()
    return sorted(str(t) for t in answer.get("topics", []))


@overload
def describe(  # type: ignore[overload-overlap]  # a str is an Iterable[str] too
        topics: str, *, client: Client | None = None) -> TopicInfo: ...


@overload
def describe(topics: Iterable[str] | None = None, *,
             client: Client | None = None) -> list[TopicInfo]: ...


def describe(topics: str | Iterable[str] | None = None, *,
             client: Client | None = None) -> TopicInfo | list[TopicInfo]:
    """Partitions and end offsets of a topic, of several, or (None) of all of yours.

    A topic that is not on the brokers (or that you may not describe) has ``on_broker=False``.
    """
    client = client_or_default(client)
    if isinstance(topics, str):
        return describe([_check_name(topics)], client=client)[0]
    wanted = names(client=client) if topics is None else [_check_name(t) for t in topics]
    unique = list(dict.fromkeys(wanted))
    if not unique:
        return []
    with admin(client) as adm, translated(", ".join(unique), "describe"):
        described = _described(adm, unique)
    present = {n: len(d.get("partitions") or []) for n, d in described.items()
               if d.get("error_code") == 0}
    ends = _end_offsets(client, present)
    return [TopicInfo(n, n in present, present.get(n), tuple(ends.get(n, ()))) for n in unique]


def _end_offsets(client: Client, partitions: Mapping[str, int]) -> dict[str, list[int]]:
    from kafka import TopicPartition

    if not partitions:
        return {}
    parts = [TopicPartition(n, p) for n, count in partitions.items() for p in range(count)]
    with consumer(client) as con, translated(", ".join(partitions), "read offsets of"):
        offsets = con.end_offsets(parts)
    ends: dict[str, list[int]] = {}
    for tp in sorted(offsets, key=lambda tp: (tp.topic, tp.partition)):
        ends.setdefault(tp.topic, []).append(int(offsets[tp]))
    return ends


def to_frame(infos: Iterable[TopicInfo]) -> pd.DataFrame:
    """Topic infos as a DataFrame, one row per topic (columns: :data:`TOPIC_COLUMNS`)."""
    import pandas as pd

    frame: pd.DataFrame = pd.DataFrame([i.as_row() for i in infos], columns=list(TOPIC_COLUMNS))
    return frame


def table(topics: Iterable[str] | None = None, *, client: Client | None = None) -> pd.DataFrame:
    """:func:`describe` as a DataFrame (default: all of your topics)."""
    return to_frame(describe(topics, client=client))


def create(topic: str, *, partitions: int = 1, replication: int = -1,
           client: Client | None = None) -> dict[str, Any]:
    """Create ``topic`` on the brokers (register it first: :func:`register`).

    :param replication: replicas per partition; -1 is the cluster's default.
    :raises TopicExistsError: it is already there.
    """
    name = _check_name(topic)
    count = _check_partitions(name, partitions)
    _create(client_or_default(client), name, count, replication)
    return {"status": "success", "message": f"created with {partitions} partition(s)",
            "topic": name}


def _create(client: Client, name: str, partitions: int, replication: int) -> None:
    from diaspora_notebook.kafka.clients import NewTopic

    with admin(client) as adm, translated(name, "create"):
        adm.create_topics([NewTopic(name, partitions, replication)])


def delete(topic: str, *, client: Client | None = None) -> dict[str, Any]:
    """Delete ``topic`` and its messages from the brokers (the registration stays).

    :raises TopicMissingError: it is not on the brokers.
    """
    name = _check_name(topic)
    _delete(client_or_default(client), name)
    return {"status": "success", "message": "deleted from the brokers", "topic": name}


def _delete(client: Client, name: str) -> None:
    with admin(client) as adm, translated(name, "delete"):
        partition_count(_described(adm, [name]).get(name), name, "delete")
        adm.delete_topics([name])


def register(topic: str, *, create: bool = False, partitions: int = 1,
             client: Client | None = None) -> dict[str, Any]:
    """Register ``topic`` to you (its ACLs) and, with ``create``, create it (idempotent)."""
    name = _check_name(topic)
    if create:
        _check_partitions(name, partitions)  # before anything changes
    client = client_or_default(client)
    result = dict(client.register_topic(name))
    if create:
        try:
            _create(client, name, partitions, -1)
            extra = f"; created on the brokers with {partitions} partition(s)"
        except TopicExistsError:
            extra = "; it already exists on the brokers"
        result["message"] = f"{result.get('message', '')}{extra}"
    return result


def unregister(topic: str, *, client: Client | None = None) -> dict[str, Any]:
    """Drop your registration of ``topic``: the service deletes the topic and all its events
    from the brokers (so that a later owner of the name can never read them), then its ACLs,
    and its answer says which it did.
    """
    return dict(client_or_default(client).unregister_topic(_check_name(topic)))


# --- messages ---------------------------------------------------------------------------------


def produce(topic: str, documents: Iterable[Any] | Mapping[str, Any], *, key: str | None = None,
            timeout: float = 30.0, client: Client | None = None) -> Produced:
    """Send ``documents`` to ``topic`` as JSON, and wait until the brokers have them.

    :param documents: JSON-serializable values (a single dict is one document).
    :param key: the message key of every document (text).
    """
    from diaspora_notebook.kafka.clients import KafkaProducer

    name = _check_name(topic)
    if isinstance(documents, (str, bytes)):
        raise DiasporaUsageError("documents must be a list of JSON values, not text",
                                 hint="parse JSON lines first: "
                                 "topics.produce(topic, topics.parse_documents(text))")
    docs = [documents] if isinstance(documents, Mapping) else list(documents)
    if not docs:
        raise DiasporaUsageError("nothing to produce", hint="pass at least one document")
    client = client_or_default(client)
    _partitions(client, name, "write to")  # a clear error before the producer retries
    producer = KafkaProducer(client=client, max_block_ms=int(timeout * 1000))
    raw_key = None if key is None else str(key).encode("utf-8")
    try:
        with translated(name, "write to"):
            futures = [producer.send(name, doc, key=raw_key) for doc in docs]
            producer.flush(timeout=timeout)
            metas = [f.get(timeout=timeout) for f in futures]
    finally:
        producer.close(timeout=5)
    return Produced(name, tuple((int(m.partition), int(m.offset)) for m in metas))


def peek(topic: str, n: int = 10, *, from_beginning: bool = False, timeout: float = 10.0,
         engine: str = "auto",
         client: Client | None = None) -> pd.DataFrame:
    """The last ``n`` messages of ``topic`` as a DataFrame (the first ``n``: ``from_beginning``).

    Columns: ``topic, partition, offset, timestamp, key`` and the JSON values flattened
    (``nested.x``). Reads without a consumer group (nothing is committed) up to the end offsets
    seen at the start, or for at most ``timeout`` seconds.
    """
    name = _check_name(topic)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DiasporaUsageError(f"n must be a whole number of at least 1, not {n!r}",
                                 hint=f"e.g. topics.peek({name!r}, n=10)")
    client = client_or_default(client)
    _partitions(client, name, "read")  # a missing or forbidden topic: one clear error first
    return _read_window(client, name, n, from_beginning=from_beginning, timeout=timeout,
                        engine=engine)


def _read_window(client: Client, topic: str, n: int, *, from_beginning: bool,
                 timeout: float, engine: str) -> pd.DataFrame:
    """The first/last ``n`` messages of ``topic`` over all partitions, in timestamp order
    (peek's reader: at most ``n`` records of each partition come off the engine)."""
    from diaspora_notebook.explore.reader import read_errors
    from diaspora_notebook.kafka.read import read_frame

    with read_errors(topic):
        frame = read_frame(client, topic, start="earliest" if from_beginning else -n,
                           per_partition=n, timeout=timeout, engine=engine)
    frame = frame.sort_values(["timestamp", "partition", "offset"], kind="stable")
    chosen = frame.head(n) if from_beginning else frame.tail(n)
    window: pd.DataFrame = chosen.reset_index(drop=True)
    return window


__all__ = ["TOPIC_COLUMNS", "Produced", "ReadResult", "TopicDetails", "TopicInfo",
           "admin", "check_readable", "consumer", "create",
           "delete", "describe", "describe_offsets", "details", "export", "groups", "names",
           "parse_documents", "peek", "produce", "read", "register", "reset_group", "schema",
           "table", "to_frame", "unregister"]
