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

On a v3 environment (``client.api == "v3"``) the same calls work on the topics of your
namespace, named without it as the SDK names them (Kafka: ``<namespace>.<topic>``): ``register``
and ``create`` create the topic (one partition, as the hosted service does), ``unregister`` and
``delete`` delete it, ``names`` lists your namespace, ``produce`` writes over HTTPS (no Kafka
port needed) and reads use the IAM key (or ``engine="rest"``).
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
from diaspora_notebook.kafka.write import ProduceError, Records, column, literal

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client
    from diaspora_notebook.kafka.clients import KafkaAdmin
    from diaspora_notebook.kafka.replay import Replay

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
    name = _kafka_name(client, topic)
    with admin(client) as adm, translated(topic, what):
        return partition_count(_described(adm, [name]).get(name), topic, what)


def _kafka_name(client: Client, topic: str) -> str:
    """The Kafka name of ``topic`` (v3: ``<namespace>.<topic>``)."""
    namer = getattr(client, "kafka_topic", None)
    return str(namer(topic)) if namer is not None else topic


def _is_v3(client: Client) -> bool:
    return getattr(client, "api", "v1") == "v3"


def _v3_answer(answer: dict[str, Any], topic: str, what: str) -> dict[str, Any]:
    """A v3 management answer; ``status: failure`` raises (the SDK returns it as it is)."""
    from diaspora_notebook.errors import DiasporaAPIError, InvalidTopicNameError

    if answer.get("status") == "success":
        return {**answer, "topic": topic}
    message = str(answer.get("message") or answer)
    cls = InvalidTopicNameError if message.startswith("Name ") else DiasporaAPIError
    hint = ("v3 topic names: 3-32 characters of a-z A-Z 0-9 _ -" if cls is InvalidTopicNameError
            else "create your user first: Client().create_user()"
            if "not found for" in message and message.startswith("Namespace") else None)
    raise cls(f"could not {what} {topic!r}: {message}", hint=hint)


def _v3_create(client: Client, name: str, partitions: int) -> dict[str, Any]:
    if partitions != 1:
        raise DiasporaUsageError(f"v3 topics have one partition, not {partitions}",
                                 hint="leave partitions out (the service creates one)")
    answer = client.create_topic(name)
    if answer.get("status") != "success" and "not found for" in str(answer.get("message")):
        client.create_user()  # the namespace comes with the user (idempotent)
        answer = client.create_topic(name)
    return _v3_answer(answer, name, "create")


# --- topics -----------------------------------------------------------------------------------


def check_readable(topic: str, *, client: Client | None = None) -> int:
    """``topic``'s partition count if you may read it (what a stream checks before starting).

    :raises TopicMissingError: it is not on the brokers.
    :raises KafkaAccessDeniedError: you may not read it.
    """
    client = client_or_default(client)
    name = _check_name(topic)
    if _is_v3(client):
        from diaspora_notebook.kafka.source import brokers_reachable

        if not brokers_reachable(client.bootstrap_servers()):
            # engine="auto" reads over REST here (no Kafka admin): the service says whether
            # the topic is in your namespace (a v3 topic has one partition)
            from diaspora_notebook.kafka.errors import missing

            if name not in names(client=client):
                raise missing(name)
            return 1
    return _partitions(client, name, "read")


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
        described = _short_names(client, _described(adm, [_kafka_name(client, n)
                                                          for n in unique]))
    present = {n: len(d.get("partitions") or []) for n, d in described.items()
               if d.get("error_code") == 0}
    ends = _end_offsets(client, present)
    return [TopicInfo(n, n in present, present.get(n), tuple(ends.get(n, ()))) for n in unique]


def _short_names(client: Client, found: dict[str, Any]) -> dict[str, Any]:
    short = getattr(client, "short_topic", None)
    return {short(n) if short else n: v for n, v in found.items()}


def _end_offsets(client: Client, partitions: Mapping[str, int]) -> dict[str, list[int]]:
    from kafka import TopicPartition

    if not partitions:
        return {}
    parts = [TopicPartition(_kafka_name(client, n), p) for n, count in partitions.items()
             for p in range(count)]
    with consumer(client) as con, translated(", ".join(partitions), "read offsets of"):
        offsets = con.end_offsets(parts)
    ends: dict[str, list[int]] = {}
    for tp in sorted(offsets, key=lambda tp: (tp.topic, tp.partition)):
        ends.setdefault(tp.topic, []).append(int(offsets[tp]))
    return _short_names(client, ends)


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
    client = client_or_default(client)
    if _is_v3(client):
        return _v3_create(client, name, count)
    _create(client, name, count, replication)
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
    client = client_or_default(client)
    if _is_v3(client):
        return _v3_answer(client.delete_topic(name), name, "delete")
    _delete(client, name)
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
    if _is_v3(client):  # a v3 topic is registered and created in one call
        return _v3_create(client, name, partitions)
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
    client = client_or_default(client)
    if _is_v3(client):
        name = _check_name(topic)
        return _v3_answer(client.delete_topic(name), name, "delete")
    return dict(client.unregister_topic(_check_name(topic)))


# --- messages ---------------------------------------------------------------------------------


def produce(topic: str, data: Any, *, key: Any = None, timestamp: Any = None,
            headers: Any = None, partition: Any = None, engine: str = "auto",
            nested: bool = True, drop_nulls: bool = False, progress: bool | None = None,
            timeout: float = 60.0, config: Mapping[str, Any] | None = None,
            client: Client | None = None) -> Produced:
    """Send ``data`` to ``topic``, one JSON message per row, and wait until every row has
    landed (idempotent, ``acks=all``).

    ``data`` is a list of JSON values (a single dict is one), a pandas DataFrame, a pyarrow
    Table, RecordBatch or RecordBatchReader, an iterator of any of these (read a batch at a
    time, in bounded memory), or the path of a Parquet, JSON Lines or CSV file. A row's columns
    become its JSON object; ``a.b`` columns (how reads flatten nested objects) are nested
    again unless ``nested=False``. A frame read from a topic (``topics.read(...).frame``) is
    written back as its payloads.

    ``key``, ``timestamp``, ``headers`` and ``partition`` are each either a column (or field,
    ``"a.b"`` for a nested one) that gives a value per row, or one value for all rows. **A
    column name wins**: ``key="sensor"`` takes each row's ``sensor`` when there is such a
    column, else it is the key of every row; say which you mean with
    ``key=topics.column("sensor")`` or ``key=topics.literal("sensor")``. A timestamp is a
    datetime, ISO text or ms since the epoch; headers a dict (or ``(name, value)`` pairs).

    :param engine: ``"auto"`` (librdkafka when installed), ``"confluent"``, ``"kafka-python"``
        (the seed's ``KafkaProducer``) or ``"memory"``
    :param drop_nulls: leave missing values out of the JSON instead of writing ``null``
    :param progress: a progress bar for writes over a few seconds (default: in a notebook)
    :param timeout: seconds a row may take to be delivered
    :param config: producer settings that override ours (librdkafka or kafka-python names)
    :returns: what landed (each row's partition and offset for up to 100,000 rows)
    :raises ProduceError: some rows did not land: it says which and why, holds what landed
        (``error.produced``) and sends the failed rows again with ``error.retry()``
    """
    from diaspora_notebook.kafka.write import Options, write

    name = _check_name(topic)
    if isinstance(data, (bytes, bytearray)) or (isinstance(data, str) and not _is_file(data)):
        raise DiasporaUsageError("documents must be a list of JSON values, not text",
                                 hint="parse JSON lines first: "
                                 "topics.produce(topic, topics.parse_documents(text)), or "
                                 "pass the path of a .jsonl / .csv / .parquet file")
    if (isinstance(data, (list, tuple)) and not data) or _empty_frame(data):
        raise DiasporaUsageError("nothing to produce", hint="pass at least one document")
    opts = Options(key=key, timestamp=timestamp, headers=headers, partition=partition,
                   nested=nested, drop_nulls=drop_nulls)
    return write(client_or_default(client), name, data, opts, engine=engine, timeout=timeout,
                 progress=progress, config=config)


def _is_file(text: str) -> bool:
    from pathlib import Path

    from diaspora_notebook.kafka.write import FILE_SUFFIXES

    return Path(text).suffix.lower() in FILE_SUFFIXES or Path(text).expanduser().is_file()


def _empty_frame(data: Any) -> bool:
    return hasattr(data, "iloc") and len(data) == 0


def replay(source: Any, topic: str | Sequence[str], *, speed: float | str = 1.0,
           start: Any = None, stop: Any = None, loop: bool = False,
           keep_timestamps: bool = False, timestamp: str | None = None, engine: str = "auto",
           wait: bool = False, timeout: float = 60.0, config: Mapping[str, Any] | None = None,
           client: Client | None = None) -> Replay:
    """Play recorded events back into ``topic`` (or into each topic of a list: a class, one
    topic per student), paced by their own event times, in the background.

    ``source`` is an explorer export or snapshot (``topics.export``: Parquet, CSV or JSON
    Lines with provenance), a ``topics.read`` result or any DataFrame with a timestamp column
    (``timestamp=`` names it), or the name of another topic (its range ``start``..``stop``
    is read first). Keys and headers are kept; each partition's rows keep their order.

    :param speed: ``1.0`` as recorded, ``10`` ten times faster, ``"max"`` as fast as possible
    :param start: for a topic: where to start reading (as ``topics.read``); for a file or
        frame: the earliest event time to play
    :param stop: the event time to stop before (or, for a topic, ``{partition: offset}``)
    :param loop: start over at the end, until ``stop()``
    :param keep_timestamps: give each event its original time (default: the time it is sent)
    :param wait: block until the replay ends (and raise its error)
    :returns: the handle: ``progress``, ``pause()``, ``resume()``, ``stop()``, ``wait()``
    """
    from diaspora_notebook.kafka.replay import Replay
    from diaspora_notebook.kafka.source import pick_engine

    targets = [topic] if isinstance(topic, str) else list(topic)
    if not targets:
        raise DiasporaUsageError("no topic to replay into", hint="e.g. topics.replay(src, 't')")
    names = [_check_name(t) for t in targets]
    handle = Replay(client_or_default(client), source, names, speed=speed, start=start,
                    stop=stop, loop=loop, keep_timestamps=keep_timestamps, timestamp=timestamp,
                    engine=pick_engine(engine), timeout=timeout, config=dict(config or {}))
    handle.begin()
    if wait:
        handle.wait()
    return handle


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
    from diaspora_notebook.kafka.source import pick_engine

    engine = pick_engine(engine, client=client)
    if engine != "rest":  # the REST engine has no admin client: its read says "not found"
        _partitions(client, name, "read")  # a missing or forbidden topic: one error first
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


__all__ = ["TOPIC_COLUMNS", "ProduceError", "Produced", "ReadResult", "Records",
           "TopicDetails", "TopicInfo", "admin", "check_readable", "column", "consumer",
           "create", "delete", "describe", "describe_offsets", "details", "export", "groups",
           "literal", "names", "parse_documents", "peek", "produce", "read", "register",
           "replay", "reset_group", "schema", "table", "to_frame", "unregister"]
