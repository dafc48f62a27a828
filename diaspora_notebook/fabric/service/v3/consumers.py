"""The consumer REST API (Confluent REST Proxy v2 shapes, the SDK 0.5.1's ``RESTConsumer``).

An instance is a kafka-python ``KafkaConsumer`` with the service's own Kafka identity in the
consumer group ``<namespace>.<group>`` of the caller's namespace; it is keyed by
``(namespace, group, instance id)``, so nobody reaches another user's instances. Topics are named
without the namespace in requests and replies. A user holds at most :data:`MAX_INSTANCES`
instances; one idle for ``idle_seconds`` (5 min) is closed by a reaper, and later requests get
404 / 40403, which the SDK answers by creating it again.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kafka.errors as kerr
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from diaspora_notebook.fabric.service.v3.errors import RestError, bad_request, instance_gone
from diaspora_notebook.naming import namespace_prefix, v3_kafka_group, v3_kafka_topic

log = logging.getLogger(__name__)

MAX_INSTANCES = 4
MAX_TIMEOUT_MS = 30_000
DEFAULT_TIMEOUT_MS = 5_000
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_GROUP = re.compile(r"[A-Za-z0-9._-]{1,200}")
FORMATS = ("binary", "json")


def not_assigned(what: str) -> RestError:
    return RestError(409, 40903, f"{what} is not assigned to this consumer instance")


@dataclass
class Instance:
    namespace: str
    subject: str
    group: str
    instance_id: str
    format: str
    consumer: KafkaConsumer
    request_timeout_ms: int | None
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def kafka_topic(self, topic: str) -> str:
        return v3_kafka_topic(self.namespace, topic)

    def short(self, kafka_topic: str) -> str:
        prefix = namespace_prefix(self.namespace)
        return kafka_topic[len(prefix):] if kafka_topic.startswith(prefix) else kafka_topic


def _setting(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if kind is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"{name} must be an integer", 42204) from None
    return str(value)


def _encode(data: bytes | None, fmt: str) -> Any:
    if data is None:
        return None
    if fmt == "binary":
        return base64.b64encode(data).decode()
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return base64.b64encode(data).decode()
    try:
        return json.loads(text)
    except ValueError:
        return text


class ConsumerRegistry:
    """Every live instance of this service process."""

    def __init__(self, config: Callable[[], dict[str, Any]], *,
                 topic_exists: Callable[[str], bool], idle_seconds: float = 300.0) -> None:
        self._config = config
        self._topic_exists = topic_exists
        self.idle_seconds = idle_seconds
        self._instances: dict[tuple[str, str, str], Instance] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="rest-consumer-reaper",
                                        daemon=True)
        self._reaper.start()

    # -- lifecycle ------------------------------------------------------------------------

    def create(self, namespace: str, subject: str, group: str, body: Any) -> Instance:
        if not _GROUP.fullmatch(group):
            raise bad_request("invalid group name: use 1-200 characters of a-z A-Z 0-9 . _ -",
                              42204)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object", 42204)
        fmt = str(body.get("format") or "binary")
        if fmt not in FORMATS:
            raise bad_request("format must be 'binary' or 'json'", 42204)
        name = body.get("name")
        instance_id = str(name) if name is not None else uuid.uuid4().hex[:12]
        if not _NAME.fullmatch(instance_id):
            raise bad_request("invalid instance name: use 1-100 characters of a-z A-Z 0-9 . _ -",
                              42204)
        reset = str(body.get("auto.offset.reset") or "latest")
        if reset not in ("earliest", "latest", "none"):
            raise bad_request("auto.offset.reset must be earliest, latest or none", 42204)
        auto_commit = str(body.get("auto.commit.enable") or "false").lower() == "true"
        fetch_min = _setting(body, "fetch.min.bytes", int)
        request_timeout = _setting(body, "consumer.request.timeout.ms", int)
        key = (namespace, group, instance_id)
        with self._lock:
            if key in self._instances:
                raise RestError(409, 40902, f"Consumer instance with the specified name "
                                f"{instance_id!r} already exists")
            if sum(1 for i in self._instances.values() if i.subject == subject) >= MAX_INSTANCES:
                raise RestError(409, 40904, f"a user may hold {MAX_INSTANCES} consumer instances "
                                "at once; delete one first")
            try:
                consumer = KafkaConsumer(
                    **self._config(), group_id=v3_kafka_group(namespace, group),
                    client_id=f"diaspora-rest-{instance_id}",
                    enable_auto_commit=auto_commit, auto_offset_reset=reset,
                    fetch_min_bytes=fetch_min if fetch_min and fetch_min > 0 else 1,
                    allow_auto_create_topics=False)
            except (kerr.KafkaError, OSError) as exc:
                raise RestError(500, 50002, f"cannot create the consumer "
                                f"({type(exc).__name__})") from None
            instance = Instance(namespace, subject, group, instance_id, fmt, consumer,
                                request_timeout)
            self._instances[key] = instance
        return instance

    def get(self, namespace: str, group: str, instance_id: str) -> Instance:
        with self._lock:
            instance = self._instances.get((namespace, group, instance_id))
            if instance is None:
                raise instance_gone()
            instance.last_used = time.monotonic()
            return instance

    def delete(self, namespace: str, group: str, instance_id: str) -> None:
        with self._lock:
            instance = self._instances.pop((namespace, group, instance_id), None)
        if instance is None:
            raise instance_gone()
        self._close(instance)

    def drop_user(self, subject: str) -> None:
        with self._lock:
            mine = [k for k, i in self._instances.items() if i.subject == subject]
            dropped = [self._instances.pop(k) for k in mine]
        for instance in dropped:
            self._close(instance)

    def _close(self, instance: Instance) -> None:
        with instance.lock:
            instance.closed = True
            try:
                instance.consumer.close(autocommit=False)
            except Exception as exc:  # closing must never fail a request
                log.warning("closing a consumer instance failed: %s", type(exc).__name__)

    def _reap_loop(self) -> None:
        while not self._stop.wait(min(30.0, max(0.5, self.idle_seconds / 2))):
            self.reap()

    def reap(self) -> int:
        """Close the instances idle for longer than ``idle_seconds``; returns how many."""
        cutoff = time.monotonic() - self.idle_seconds
        with self._lock:
            idle = [k for k, i in self._instances.items()
                    if i.last_used < cutoff and not i.lock.locked()]
            dropped = [self._instances.pop(k) for k in idle]
        for instance in dropped:
            self._close(instance)
        return len(dropped)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            dropped = list(self._instances.values())
            self._instances.clear()
        for instance in dropped:
            self._close(instance)

    # -- operations (each under the instance's lock) -------------------------------------

    @staticmethod
    def _run(instance: Instance, fn: Callable[[], Any]) -> Any:
        with instance.lock:
            if instance.closed:
                raise instance_gone()
            try:
                return fn()
            except RestError:
                raise
            except kerr.IllegalStateError as exc:
                raise RestError(409, 40903, f"illegal state: {exc}") from None
            except (kerr.KafkaError, OSError) as exc:
                raise RestError(500, 50002, f"Kafka error: {type(exc).__name__}") from None
            finally:
                instance.last_used = time.monotonic()

    def _checked_topics(self, instance: Instance, topics: Any) -> list[str]:
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise bad_request("topics must be a list of topic names", 42204)
        for topic in topics:
            if not self._topic_exists(instance.kafka_topic(topic)):
                raise RestError(404, 40401, f"Topic {topic} not found")
        return [instance.kafka_topic(t) for t in topics]

    def subscribe(self, instance: Instance, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        topics, pattern = body.get("topics"), body.get("topic_pattern")
        if topics and pattern:
            raise RestError(409, 40903, "give topics or topic_pattern, not both")
        if not topics and not pattern:
            raise RestError(422, 42204, "give topics or topic_pattern")
        if pattern:
            if not isinstance(pattern, str):
                raise bad_request("topic_pattern must be a string", 42204)
            try:
                re.compile(pattern)
            except re.error:
                raise bad_request("topic_pattern is not a valid regular expression",
                                  42204) from None
            full = f"^{re.escape(namespace_prefix(instance.namespace))}(?:{pattern})$"
            self._run(instance, lambda: instance.consumer.subscribe(pattern=full))
            return
        names = self._checked_topics(instance, topics)
        self._run(instance, lambda: instance.consumer.subscribe(topics=names))

    def subscription(self, instance: Instance) -> list[str]:
        names = self._run(instance, lambda: instance.consumer.subscription() or set())
        return sorted(instance.short(t) for t in names)

    def unsubscribe(self, instance: Instance) -> None:
        self._run(instance, instance.consumer.unsubscribe)

    def _partitions(self, instance: Instance, items: Any, *, check: bool) -> list[TopicPartition]:
        if not isinstance(items, list):
            raise bad_request("partitions must be a list of {topic, partition}", 42204)
        out = []
        for item in items:
            if (not isinstance(item, dict) or not isinstance(item.get("topic"), str)
                    or not isinstance(item.get("partition"), int)):
                raise bad_request("each partition needs a topic and an int partition", 42204)
            name = instance.kafka_topic(item["topic"])
            if check and not self._topic_exists(name):
                raise RestError(404, 40401, f"Topic {item['topic']} not found")
            out.append(TopicPartition(name, item["partition"]))
        return out

    def assign(self, instance: Instance, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        partitions = self._partitions(instance, body.get("partitions") or [], check=True)
        self._run(instance, lambda: instance.consumer.assign(partitions))

    def assignments(self, instance: Instance) -> list[dict[str, Any]]:
        tps = self._run(instance, lambda: instance.consumer.assignment() or set())
        return [{"topic": instance.short(tp.topic), "partition": tp.partition}
                for tp in sorted(tps)]

    def fetch(self, instance: Instance, timeout_ms: int | None,
              max_bytes: int | None) -> list[dict[str, Any]]:
        wait = timeout_ms if timeout_ms is not None else (instance.request_timeout_ms
                                                          or DEFAULT_TIMEOUT_MS)
        wait = max(0, min(MAX_TIMEOUT_MS, wait))

        def run() -> list[dict[str, Any]]:
            consumer = instance.consumer
            if not consumer.subscription() and not consumer.assignment():
                return []
            deadline = time.monotonic() + wait / 1000
            polled: dict[Any, list[Any]] = {}
            while True:
                remaining = int(max(0.0, deadline - time.monotonic()) * 1000)
                polled = consumer.poll(timeout_ms=remaining, max_records=500)
                if polled or remaining <= 0:
                    break
            records = sorted((r for batch in polled.values() for r in batch),
                             key=lambda r: (r.topic, r.partition, r.offset))
            out: list[dict[str, Any]] = []
            budget = max_bytes
            rewind: dict[TopicPartition, int] = {}
            for record in records:
                tp = TopicPartition(record.topic, record.partition)
                if tp in rewind:
                    continue
                size = len(record.key or b"") + len(record.value or b"")
                if budget is not None and out and size > budget:
                    rewind[tp] = record.offset  # the next fetch starts here
                    continue
                if budget is not None:
                    budget -= size
                out.append({
                    "topic": instance.short(record.topic),
                    "key": _encode(record.key, instance.format),
                    "value": _encode(record.value, instance.format),
                    "partition": record.partition, "offset": record.offset,
                    "headers": [{"name": k, "value": base64.b64encode(v).decode()
                                 if v is not None else None} for k, v in (record.headers or [])],
                })
            for tp, offset in rewind.items():
                consumer.seek(tp, offset)
            return out

        return self._run(instance, run)  # type: ignore[no-any-return]

    def _assigned(self, instance: Instance, tps: list[TopicPartition]) -> None:
        assigned = instance.consumer.assignment() or set()
        for tp in tps:
            if tp not in assigned:
                raise not_assigned(f"partition {instance.short(tp.topic)}/{tp.partition}")

    def commit(self, instance: Instance, body: Any) -> None:
        offsets = body.get("offsets") if isinstance(body, dict) else None

        def run() -> None:
            consumer = instance.consumer
            if offsets:
                tps = self._partitions(instance, offsets, check=False)
                self._assigned(instance, tps)
                wanted = {}
                for tp, item in zip(tps, offsets, strict=True):
                    if not isinstance(item.get("offset"), int) or item["offset"] < 0:
                        raise bad_request("each offset must be a non-negative int", 42204)
                    wanted[tp] = OffsetAndMetadata(item["offset"] + 1, "", -1)
            else:
                wanted = {tp: OffsetAndMetadata(consumer.position(tp), "", -1)
                          for tp in consumer.assignment() or set()}
            if wanted:
                consumer.commit(wanted)

        self._run(instance, run)

    def committed(self, instance: Instance, body: Any) -> list[dict[str, Any]]:
        items = body.get("partitions") if isinstance(body, dict) else None

        def run() -> list[dict[str, Any]]:
            consumer = instance.consumer
            tps = (self._partitions(instance, items, check=False) if items
                   else sorted(consumer.assignment() or set()))
            out = []
            for tp in tps:
                found = consumer.committed(tp)
                offset = found.offset if isinstance(found, OffsetAndMetadata) else found
                if offset is not None and offset >= 0:
                    out.append({"topic": instance.short(tp.topic), "partition": tp.partition,
                                "offset": offset, "metadata": ""})
            return out

        return self._run(instance, run)  # type: ignore[no-any-return]

    def seek(self, instance: Instance, body: Any) -> None:
        offsets = body.get("offsets") if isinstance(body, dict) else None
        if not isinstance(offsets, list) or not offsets:
            raise bad_request("give offsets: [{topic, partition, offset}]", 42204)

        def run() -> None:
            tps = self._partitions(instance, offsets, check=False)
            self._assigned(instance, tps)
            for tp, item in zip(tps, offsets, strict=True):
                if not isinstance(item.get("offset"), int) or item["offset"] < 0:
                    raise bad_request("each offset must be a non-negative int", 42204)
                instance.consumer.seek(tp, item["offset"])

        self._run(instance, run)

    def seek_edge(self, instance: Instance, body: Any, *, end: bool) -> None:
        items = body.get("partitions") if isinstance(body, dict) else None

        def run() -> None:
            consumer = instance.consumer
            tps = self._partitions(instance, items, check=False) if items else []
            self._assigned(instance, tps)
            targets = tps or list(consumer.assignment() or set())
            if not targets:
                return
            if end:
                consumer.seek_to_end(*targets)
            else:
                consumer.seek_to_beginning(*targets)
            for tp in targets:
                consumer.position(tp)  # resolve now, so a later produce is not skipped

        self._run(instance, run)
