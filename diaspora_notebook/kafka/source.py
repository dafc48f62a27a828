"""Sources: where records come from, behind one protocol (``Source``).

A source is built from a connection config (``make_source``) and hands over records as
columns, one ``RawBatch`` per partition, so nothing downstream touches a record object. The
engines: ``"confluent"`` (librdkafka through confluent-kafka, :mod:`.confluent`: the fast one),
``"kafka-python"`` (pure Python, :mod:`.kafka_python`), ``"rest"`` (the v3 service's consumer
REST API over HTTPS, :mod:`.rest`: for networks where the Kafka ports are closed) and
``"memory"`` (topics held in this process, :mod:`.memory`: tests and demos without a broker).
Another source is one more class with these methods and one more entry in ``SOURCES``. A topic
partition is ``(topic, partition)``.

On a v3 environment (``client.api == "v3"``) the Kafka engines authenticate with the key's
IAM token (:mod:`diaspora_notebook.login.iam`; :func:`client_config` gets the settings from
the client) and topics are named as the SDK names them, without the namespace:
:func:`client_config` says which namespace and :func:`make_source` wraps the engine's source
in :class:`NamespacedSource`, which reads ``<namespace>.<topic>`` and hands batches back under
the name the caller used. ``auto`` picks ``rest`` for a v3 client whose brokers cannot be
reached (:func:`pick_engine`), and says so.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.errors import SourceError

TP = tuple[str, int]
#: group mode: called with the partitions just assigned, returns where some of them start
OnAssign = Callable[[list[TP]], dict[TP, int]]

log = logging.getLogger(__name__)

ENGINES = ("auto", "confluent", "kafka-python", "rest", "memory")
#: ``Client.connection_config`` library name for each engine (a client that gives "memory"
#: settings is a test's stand-in)
LIBRARY = {"confluent": "confluent-kafka", "kafka-python": "kafka-python", "memory": "memory",
           "rest": "rest"}
#: engine -> "module:class" of its source (imported when first used)
SOURCES = {
    "confluent": "diaspora_notebook.kafka.confluent:ConfluentSource",
    "kafka-python": "diaspora_notebook.kafka.kafka_python:KafkaPythonSource",
    "rest": "diaspora_notebook.kafka.rest:RestSource",
    "memory": "diaspora_notebook.kafka.memory:MemorySource",
}
#: the config key (never passed to a library) that names a v3 namespace for NamespacedSource
NAMESPACE_KEY = "_diaspora_namespace"
#: seconds a broker probe waits for a TCP connection, and how long its answer is kept
PROBE_TIMEOUT = 3.0
PROBE_TTL = 60.0
REST_FALLBACK_NOTE = (
    "The Kafka brokers ({servers}) cannot be reached from here (their ports may be closed on "
    "this network, as on Binder); reading through the service's consumer REST API instead "
    "(engine='rest': HTTPS only, slower, no timestamps). Pass engine='confluent' or "
    "engine='kafka-python' to insist on Kafka.")


class EngineFallbackWarning(UserWarning):
    """``engine="auto"`` picked the REST engine because the brokers cannot be reached."""


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


_probes: dict[tuple[str, ...], tuple[float, bool]] = {}
_probes_lock = threading.Lock()


def brokers_reachable(servers: Sequence[str], timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to any of ``servers`` (``host:port``) opens (kept 60 s)."""
    key = tuple(servers)
    now = time.monotonic()
    with _probes_lock:
        known = _probes.get(key)
        if known is not None and now - known[0] < PROBE_TTL:
            return known[1]
    ok = False
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                ok = True
                break
        except (OSError, ValueError):
            continue
    with _probes_lock:
        _probes[key] = (time.monotonic(), ok)
    return ok


def pick_engine(engine: str = "auto", *, client: Any = None) -> str:
    """``"confluent"``, ``"kafka-python"``, ``"rest"`` or ``"memory"``: what ``engine`` means
    on this machine.

    :param engine: ``"auto"`` (confluent-kafka when installed; for a v3 ``client`` whose brokers
        do not answer, ``"rest"``, with an :class:`EngineFallbackWarning` saying so),
        ``"confluent"``, ``"kafka-python"``, ``"rest"`` or ``"memory"``
    :param client: the client that will read (only asked when ``engine="auto"``)
    """
    if engine not in ENGINES:
        raise DiasporaUsageError(f"unknown engine {engine!r}",
                                 hint=f"use one of {', '.join(ENGINES)}")
    has_confluent = importlib.util.find_spec("confluent_kafka") is not None
    if engine == "auto" and _speaks_v3(client):
        servers = client.bootstrap_servers()
        if not brokers_reachable(servers):
            note = REST_FALLBACK_NOTE.format(servers=", ".join(servers) or "none known")
            log.warning("%s", note)
            warnings.warn(note, EngineFallbackWarning, stacklevel=3)
            return "rest"
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


def _speaks_v3(client: Any) -> bool:
    return client is not None and getattr(client, "api", "v1") == "v3"


def make_source(engine: str, config: dict[str, Any], *, group_id: str | None = None,
                auto_offset_reset: str = "latest", topics: Iterable[str] = (),
                headers: bool = False) -> Source:
    """A consumer of ``engine`` (already picked) with ``config`` (the engine's settings:
    kafka-python or librdkafka ones, ``{"client": Client}`` for ``"rest"``, or
    ``{"topics": MemoryTopics}`` for ``"memory"``). A config naming a v3 namespace
    (:data:`NAMESPACE_KEY`) gives a :class:`NamespacedSource`."""
    config = dict(config)
    namespace = config.pop(NAMESPACE_KEY, None)
    names = list(topics)
    module, _, name = SOURCES[engine].partition(":")
    cls = getattr(importlib.import_module(module), name)
    if namespace:
        namer = TopicNamer(str(namespace))
        inner: Source = cls(config, group_id=namer.group(group_id),
                            auto_offset_reset=auto_offset_reset,
                            topics=[namer.kafka(t) for t in names], headers=headers)
        return NamespacedSource(inner, namer)
    source: Source = cls(config, group_id=group_id, auto_offset_reset=auto_offset_reset,
                         topics=names, headers=headers)
    return source


def client_config(client: Any, engine: str) -> dict[str, Any]:
    """``client.connection_config(...)`` for ``engine``: the settings the engine connects with
    (v3: IAM token settings plus the namespace; ``"rest"``: the client itself)."""
    if engine == "rest":
        if not _speaks_v3(client):
            raise DiasporaUsageError(
                "engine='rest' reads through the v3 service's consumer REST API, and this "
                "client's environment speaks v1",
                hint="use a v3 environment (local-v3, diaspora) or engine='confluent'")
        return {"client": client}
    getter = getattr(client, "connection_config", None)
    if getter is None:
        raise DiasporaUsageError(
            f"{type(client).__name__} cannot give Kafka settings (no connection_config method)",
            hint="pass consumer_config={...} with kafka-python KafkaConsumer settings")
    config = dict(getter(LIBRARY[engine]))
    if _speaks_v3(client) and engine != "memory":
        config[NAMESPACE_KEY] = client.namespace
    return config


# --- v3 names ---------------------------------------------------------------------------------


def v3_group(group_id: str) -> str:
    """A toolkit consumer group as v3 names it (before the namespace): ``/`` becomes ``.``.

    The consumer REST API allows only ``a-z A-Z 0-9 . _ -`` in a group name, so every engine
    reading a v3 topic uses this one rule: ``<topic>/<name>`` is the Kafka group
    ``<namespace>.<topic>.<name>`` on confluent, kafka-python and rest alike (a v3 topic name
    has no ``.``, so the name stays unambiguous).
    """
    return group_id.replace("/", ".")


class TopicNamer:
    """Short v3 names (``t``) <-> Kafka names (``<namespace>.t``); a name already namespaced
    (``ns-….t``) is read as it is. Remembers which name the caller used for each Kafka name."""

    def __init__(self, namespace: str) -> None:
        from diaspora_notebook.naming import namespace_prefix

        self.namespace = namespace
        self.prefix = namespace_prefix(namespace)
        self._given: dict[str, str] = {}

    def kafka(self, topic: str) -> str:
        from diaspora_notebook.naming import is_namespaced

        name = topic if is_namespaced(topic) else self.prefix + topic
        self._given.setdefault(name, topic)
        return name

    def given(self, kafka_name: str) -> str:
        return self._given.get(kafka_name, kafka_name)

    def group(self, group_id: str | None) -> str | None:
        """A consumer group in the namespace: ``<namespace>.`` + :func:`v3_group` of it (as
        the service names the consumer REST API's groups), unless it is namespaced already."""
        if group_id is None:
            return None
        from diaspora_notebook.naming import is_namespaced

        group = v3_group(group_id)
        return group if is_namespaced(group) else self.prefix + group

    def tp(self, tp: TP) -> TP:
        return (self.kafka(tp[0]), tp[1])

    def back(self, tp: TP) -> TP:
        return (self.given(tp[0]), tp[1])


class NamespacedSource:
    """A source of a v3 namespace: the caller names topics without the namespace (as the SDK
    does) and the engine reads ``<namespace>.<topic>``."""

    def __init__(self, inner: Source, namer: TopicNamer) -> None:
        self.inner = inner
        self.namer = namer
        self.name = inner.name

    def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        return self.inner.partitions(self.namer.kafka(topic), timeout)

    def watermarks(self, tps: Iterable[TP], timeout: float = 10.0) -> dict[TP, tuple[int, int]]:
        found = self.inner.watermarks([self.namer.tp(tp) for tp in tps], timeout)
        return {self.namer.back(tp): marks for tp, marks in found.items()}

    def offsets_for_times(self, tps: Iterable[TP], ms: int,
                          timeout: float = 10.0) -> dict[TP, int | None]:
        found = self.inner.offsets_for_times([self.namer.tp(tp) for tp in tps], ms, timeout)
        return {self.namer.back(tp): at for tp, at in found.items()}

    def assign(self, offsets: dict[TP, int]) -> None:
        self.inner.assign({self.namer.tp(tp): off for tp, off in offsets.items()})

    def assignment(self) -> list[TP]:
        return [self.namer.back(tp) for tp in self.inner.assignment()]

    def subscribe(self, topics: Sequence[str], on_assign: OnAssign) -> None:
        def assigned(tps: list[TP]) -> dict[TP, int]:
            wanted = on_assign([self.namer.back(tp) for tp in tps])
            return {self.namer.tp(tp): off for tp, off in wanted.items()}

        self.inner.subscribe([self.namer.kafka(t) for t in topics], assigned)

    def pause(self, tps: Iterable[TP]) -> None:
        self.inner.pause([self.namer.tp(tp) for tp in tps])

    def resume(self) -> None:
        self.inner.resume()

    def paused(self) -> set[TP]:
        return {self.namer.back(tp) for tp in self.inner.paused()}

    def poll(self, timeout: float, max_records: int) -> list[RawBatch]:
        return [b._replace(topic=self.namer.given(b.topic))
                for b in self.inner.poll(timeout, max_records)]

    def highwater(self, tp: TP) -> int | None:
        return self.inner.highwater(self.namer.tp(tp))

    def position(self, tp: TP) -> int | None:
        return self.inner.position(self.namer.tp(tp))

    def take_error(self) -> SourceError | None:
        return self.inner.take_error()

    def broken(self) -> str | None:
        return self.inner.broken()

    def close(self, *, commit: bool) -> None:
        self.inner.close(commit=commit)
