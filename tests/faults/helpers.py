"""Shared helpers of the fault suite: a fabric per module, a logged-in user with a topic."""

from __future__ import annotations

import json
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from diaspora_notebook.client import Client
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.testing.secrets import remember_secret
from diaspora_notebook.testing.identities import Identity, create_identity


def own_fabric(home: Path, brokers: int = 1) -> AbstractContextManager[Fabric]:
    """A fabric of the test's own (so the session fabric stays healthy); always ``down``."""
    return Fabric.at(home).running(brokers=brokers)


@dataclass
class User:
    identity: Identity
    client: Client
    topic: str
    key: dict[str, Any] = field(default_factory=dict)


def user_with_topic(fabric: Fabric, user_dir: Path, topic: str, *, partitions: int = 1,
                    replicas: int = 1, configs: dict[str, str] | None = None) -> User:
    """A fresh account logged in through the SDK, owning ``topic`` (created by the admin)."""
    identity = create_identity(fabric, user_dir, prefix="fault")
    remember_secret(identity.password)
    client = identity.client()
    client.login()
    client.register_topic(topic)
    key = client.create_key()
    remember_secret(key.get("password"))
    admin = fabric.admin_client()
    try:
        admin.create_topics({topic: {"num_partitions": partitions,
                                     "replication_factor": replicas,
                                     "configs": dict(configs or {})}})
    finally:
        admin.close()
    client.block_until_ready(timeout=60)
    return User(identity, client, topic, key)


def topic_records(fabric: Fabric, topic: str, timeout: float = 60.0) -> list[tuple[int, int, Any]]:
    """Every ``(partition, offset, decoded value)`` in ``topic``, read as the admin."""
    consumer = KafkaConsumer(**fabric.admin_config(), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        seen: list[tuple[int, int, Any]] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, "could not read the topic back in time"
            for records in consumer.poll(timeout_ms=500).values():
                seen.extend((r.partition, r.offset, json.loads(r.value)) for r in records)
        return seen
    finally:
        consumer.close()


def leader_of(fabric: Fabric, topic: str, partition: int = 0) -> tuple[int, list[int]]:
    """``(leader node id, ISR)`` of one partition, asked as the admin."""
    admin = fabric.admin_client(request_timeout_ms=10000)
    try:
        for part in admin.describe_topics([topic])[0]["partitions"]:
            if part["partition_index"] == partition:
                return part["leader_id"], list(part["isr_nodes"])
        raise AssertionError(f"{topic} has no partition {partition}")
    finally:
        admin.close()


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class AckedLog:
    """Thread-safe record of what a producer had acknowledged, and of its failures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.acked: list[int] = []
        self.failed: list[BaseException] = []

    def ok(self, i: int) -> None:
        with self._lock:
            self.acked.append(i)

    def error(self, exc: BaseException) -> None:
        with self._lock:
            self.failed.append(exc)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def snapshot(self) -> list[int]:
        with self._lock:
            return list(self.acked)
