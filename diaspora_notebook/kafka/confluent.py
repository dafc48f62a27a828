"""The librdkafka source (confluent-kafka): ``consume()`` hands over thousands of messages per call
and librdkafka fetches ahead in its own threads; the fast engine of the read path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.errors import (
    AUTHENTICATION_CODES,
    DENIED_CODES,
    GROUP_CODES,
    PARTITION_EOF,
    UNKNOWN_TOPIC,
    UNKNOWN_TOPIC_CODES,
    USAGE_CODES,
    SourceError,
)
from diaspora_notebook.kafka.source import TP, OnAssign, RawBatch

#: librdkafka's own log lines go here, never to stderr (a background thread must not print
#: into whichever notebook cell runs at the time)
RDKAFKA_LOG = logging.getLogger("diaspora_notebook.kafka.librdkafka")

# --- librdkafka --------------------------------------------------------------------------------

#: librdkafka settings for our readers. Its fetch defaults are the fast ones: measured on one
#: broker over SASL_SSL (200,000 small events, consume(10000)), the defaults read ~1.1M
#: events/s, and each "bigger fetch" override alone cut that to 90-180k/s (fetch.max.bytes
#: 16 MB, max.partition.fetch.bytes 8 MB, queued.min.messages 50,000, fetch.wait.max.ms 100).
#: Only the prefetch queue is capped: its 64 MB default showed as RSS next to a large window.
#: ``fetch.queue.backoff.ms``: once the prefetch queue holds ``queued.min.messages`` (100,000)
#: librdkafka waits this long before it fetches again, 1 s by default. A catch-up drains 100,000
#: small events in ~0.1 s and then stood still for the rest of that second: the same read ran at
#: ~165k or ~1M events/s from run to run (6 of 11 runs slow). At 10 ms: 0.8-1.3M every run.
CONFLUENT_TUNING = {
    "queued.max.messages.kbytes": 16_384,
    "fetch.queue.backoff.ms": 10,
    "enable.partition.eof": False,
    "allow.auto.create.topics": False,
}

_KP_TO_RDKAFKA = {
    "bootstrap_servers": "bootstrap.servers",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanisms",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
    "client_id": "client.id",
    "session_timeout_ms": "session.timeout.ms",
    "request_timeout_ms": "socket.timeout.ms",
    "fetch_max_bytes": "fetch.max.bytes",
    "max_partition_fetch_bytes": "max.partition.fetch.bytes",
    "auto_offset_reset": "auto.offset.reset",
    "group_id": "group.id",
    "enable_auto_commit": "enable.auto.commit",
}

#: confluent-kafka's callback settings (no dot in their names): passed through as they are
#: (``oauth_cb``: the IAM token of a v3 key, :mod:`diaspora_notebook.login.iam`)
_CALLBACKS = frozenset({"oauth_cb"})


def to_librdkafka(config: dict[str, Any]) -> dict[str, Any]:
    """kafka-python consumer settings -> librdkafka ones (dotted keys pass through unchanged).

    :param config: e.g. ``Client.connection_config("kafka-python")`` or ``Fabric.admin_config()``
    """
    out: dict[str, Any] = {}
    unknown = []
    for key, value in config.items():
        if "." in key or key in _CALLBACKS:
            out[key] = value
        elif key in _KP_TO_RDKAFKA:
            if key == "bootstrap_servers" and not isinstance(value, str):
                value = ",".join(value)
            out[_KP_TO_RDKAFKA[key]] = value
        else:
            unknown.append(key)
    if unknown:
        raise DiasporaUsageError(
            f"the confluent engine cannot use the kafka-python setting(s) {', '.join(unknown)}",
            hint="pass librdkafka settings (dotted names such as 'fetch.max.bytes'), or "
            "engine='kafka-python'",
        )
    return out


class ConfluentSource:
    """librdkafka consumer (``confluent_kafka.Consumer``) as a :class:`~.source.Source`."""

    name = "confluent"

    def __init__(self, config: dict[str, Any], *, group_id: str | None,
                 auto_offset_reset: str = "latest", topics: Sequence[str] = (),
                 headers: bool = False) -> None:
        from confluent_kafka import Consumer

        conf = {**CONFLUENT_TUNING, **to_librdkafka(config)}
        # librdkafka insists on a group id even when partitions are assigned by hand; one under
        # the topic's own prefix is one the reader may describe (nothing is ever committed to it)
        reader_group = f"{topics[0]}/diaspora-notebook-reader" if topics else "diaspora-reader"
        conf.update({
            "group.id": group_id or reader_group,
            "enable.auto.commit": group_id is not None,
            "auto.offset.reset": auto_offset_reset,
            "error_cb": self._on_error,
            "logger": RDKAFKA_LOG,
        })
        self._group_mode = group_id is not None
        if conf.get("security.protocol", "").upper().endswith("SSL"):
            conf.setdefault("ssl.endpoint.identification.algorithm", "https")
        self._errors: list[Any] = []
        self._single_topic = topics[0] if len(topics) == 1 else None
        self._headers = headers
        self._assigned: dict[TP, Any] = {}
        self._paused: set[TP] = set()
        try:
            self.consumer = Consumer(conf)
        except Exception as exc:
            raise SourceError(f"{type(exc).__name__}: {exc}", retriable=False) from exc

    # errors librdkafka reports from its own threads (broker down, TLS, SASL): kept until polled
    def _on_error(self, err: Any) -> None:
        if not self._group_mode and err.code() in GROUP_CODES:  # the unused reader group
            RDKAFKA_LOG.debug("ignored: %s", err)
            return
        self._errors.append(err)

    def broken(self) -> str | None:
        return None  # librdkafka mends its own connections and metadata

    def take_error(self) -> SourceError | None:
        if not self._errors:
            return None
        err, self._errors = self._errors[-1], []
        return _confluent_error(err)

    def _tp(self, tp: TP, offset: int | None = None) -> Any:
        from confluent_kafka import TopicPartition

        return TopicPartition(tp[0], tp[1]) if offset is None else \
            TopicPartition(tp[0], tp[1], offset)

    def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        meta = self._call(self.consumer.list_topics, topic, timeout=timeout)
        info = meta.topics.get(topic)
        if info is None:
            return []
        if info.error is not None:
            if info.error.code() == UNKNOWN_TOPIC:  # the caller says "not found"
                return []
            raise _confluent_error(info.error)  # e.g. authorization: say so, not "not found"
        return sorted(info.partitions)

    def assign(self, offsets: dict[TP, int]) -> None:
        tps = [self._tp(tp, off) for tp, off in offsets.items()]
        self._call(self.consumer.incremental_assign, tps)
        for tp, handle in zip(offsets, tps, strict=True):
            self._assigned[tp] = handle

    def assignment(self) -> list[TP]:
        return list(self._assigned)

    def watermarks(self, tps: Iterable[TP], timeout: float = 10.0) -> dict[TP, tuple[int, int]]:
        return {tp: self._call(self.consumer.get_watermark_offsets, self._tp(tp),
                               timeout=timeout, cached=False) for tp in tps}

    def offsets_for_times(self, tps: Iterable[TP], ms: int,
                          timeout: float = 10.0) -> dict[TP, int | None]:
        found = self._call(self.consumer.offsets_for_times,
                           [self._tp(tp, ms) for tp in tps], timeout=timeout)
        return {(f.topic, f.partition): (f.offset if f.offset >= 0 else None) for f in found}

    def highwater(self, tp: TP) -> int | None:
        try:
            _low, high = self.consumer.get_watermark_offsets(self._tp(tp), cached=True)
        except Exception:  # not fetched yet
            return None
        return high if high is not None and high >= 0 else None

    def position(self, tp: TP) -> int | None:
        got = self._call(self.consumer.position, [self._tp(tp)])
        return got[0].offset if got and got[0].offset >= 0 else None

    def subscribe(self, topics: Sequence[str], on_assign: OnAssign) -> None:
        def assigned(consumer: Any, partitions: list[Any]) -> None:
            tps = [(p.topic, p.partition) for p in partitions]
            wanted = on_assign(tps)
            for p, tp in zip(partitions, tps, strict=True):
                if tp in wanted:
                    p.offset = wanted[tp]
                self._assigned[tp] = p
            consumer.assign(partitions)
            paused = [p for p, tp in zip(partitions, tps, strict=True) if tp in self._paused]
            if paused:
                consumer.pause(paused)

        def revoked(consumer: Any, partitions: list[Any]) -> None:
            for p in partitions:
                self._assigned.pop((p.topic, p.partition), None)
            consumer.unassign()

        self._call(self.consumer.subscribe, list(topics), on_assign=assigned, on_revoke=revoked)

    def pause(self, tps: Iterable[TP]) -> None:
        tps = [tp for tp in tps if tp in self._assigned]
        self._paused.update(tps)
        if tps:
            self._call(self.consumer.pause, [self._tp(tp) for tp in tps])

    def resume(self) -> None:
        tps = [tp for tp in self._paused if tp in self._assigned]
        self._paused.clear()
        if tps:
            self._call(self.consumer.resume, [self._tp(tp) for tp in tps])

    def paused(self) -> set[TP]:
        return set(self._paused)

    def poll(self, timeout: float, max_records: int) -> list[RawBatch]:
        msgs = self.consumer.consume(num_messages=max_records, timeout=timeout)
        if not msgs:
            return []
        errors = [m.error() for m in msgs]
        if any(errors):
            bad = [e for e in errors if e is not None]
            msgs = [m for m, e in zip(msgs, errors, strict=True) if e is None]
            real = [e for e in bad if e.code() != PARTITION_EOF]  # not a problem
            if real and not msgs:
                raise _confluent_error(real[-1])
        return confluent_batches(msgs, self._single_topic, self._headers)

    def close(self, *, commit: bool) -> None:
        if commit:
            self.consumer.close()
            return
        try:  # leave the group without committing what was consumed after the last commit
            self.consumer.unassign()
        finally:
            self.consumer.close()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from confluent_kafka import KafkaException

        try:
            return fn(*args, **kwargs)
        except KafkaException as exc:
            raise _confluent_error(exc.args[0] if exc.args else exc) from exc


def confluent_batches(msgs: list[Any], topic: str | None, headers: bool) -> list[RawBatch]:
    """Messages from ``consume()`` -> one ``RawBatch`` per partition (arrival order kept)."""
    parts = [m.partition() for m in msgs]
    if topic is None:
        topics = [m.topic() for m in msgs]
        groups: dict[TP, list[int]] = {}
        for i, tp in enumerate(zip(topics, parts, strict=True)):
            groups.setdefault(tp, []).append(i)
    elif min(parts) == max(parts):
        groups = {(topic, parts[0]): []}  # all of them: no index lists needed
    else:
        groups = {}
        for i, p in enumerate(parts):
            groups.setdefault((topic, p), []).append(i)
    out = []
    for (t, p), idx in groups.items():
        sel = msgs if not idx else [msgs[i] for i in idx]
        out.append(RawBatch(
            t, p,
            np.array([m.offset() for m in sel], np.int64),
            np.array([m.timestamp()[1] for m in sel], np.int64),
            [m.key() for m in sel],
            [m.value() for m in sel],
            [m.headers() or [] for m in sel] if headers else None,
        ))
    return out


def _confluent_error(err: Any) -> SourceError:
    name = err.name() if hasattr(err, "name") else type(err).__name__
    text = err.str() if hasattr(err, "str") else str(err)
    fatal = bool(getattr(err, "fatal", lambda: False)())
    code = err.code() if hasattr(err, "code") else None
    retriable = not fatal and code not in USAGE_CODES
    hint = ""
    if code in DENIED_CODES or code in AUTHENTICATION_CODES:
        hint = " - check that your key is valid and that you may read the topic"
    elif code in UNKNOWN_TOPIC_CODES:
        # what the brokers answer for a topic this key may no longer describe, too
        hint = (" - the topic was deleted, or this key may no longer read it (access removed "
                "or the key replaced)")
    return SourceError(f"{_camel(name)}: {text}{hint}", code=code, retriable=retriable,
                       fatal=fatal)


def _camel(name: str) -> str:
    """``TOPIC_AUTHORIZATION_FAILED`` -> ``TopicAuthorizationFailedError`` (kafka-python's names,
    so messages read the same whichever engine runs)."""
    words = name.strip("_").split("_")
    return "".join(w.capitalize() for w in words) + "Error"
