"""The SDK's kafka-python clients across a broker restart that ends kafka-python's metadata
refresh (see ``diaspora_notebook.kafka.metadata_refresh``): the next ``send`` or ``poll`` starts it
again, so a producer or consumer held in a notebook works once the broker is back.

As in test_live_kafka_python_recovery.py, the exception the ssl module raises when a shutting
down broker resets a queued connection is raised once, at a metadata refresh's connection
attempt during a real outage; the broker, the restart and the clients are real.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

import kafka.net.manager as kafka_manager
import pytest

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.kafka.clients import KafkaConsumer, KafkaProducer
from diaspora_notebook.kafka.metadata_refresh import metadata_refresh_stopped

from .test_live_dataframe import make_topic


class Keys:
    """Kafka settings as a logged-in ``Client`` gives them (here: the fabric's admin)."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric

    def kafka_config(self) -> dict[str, Any]:
        return self.fabric.admin_config()


def end_refreshes_in_an_outage(monkeypatch, fabric: Fabric, clusters: list[Any]) -> None:
    """Stop the broker, make a metadata refresh of each cluster fail with the ssl module's
    ``ConnectionResetError``, and start the broker again."""
    ended = [threading.Event() for _ in clusters]
    connect = kafka_manager.create_connection

    async def reset_once(*args, **kwargs):
        for cluster, done in zip(clusters, ended, strict=True):
            if not done.is_set() and cluster.metadata_refresh_in_progress:
                done.set()
                raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        return await connect(*args, **kwargs)

    monkeypatch.setattr(kafka_manager, "create_connection", reset_once)
    broker = fabric.cluster()
    broker.stop()
    try:
        deadline = time.monotonic() + 30
        while not all(e.is_set() for e in ended) and time.monotonic() < deadline:
            for cluster in clusters:
                cluster.request_update()
            time.sleep(0.2)
        assert all(e.is_set() for e in ended), "a client tried no metadata refresh in the outage"
    finally:
        monkeypatch.setattr(kafka_manager, "create_connection", connect)
        broker.start()
        broker.wait_for_brokers(fabric.home.admin_password(), 1)


@pytest.mark.slow
def test_producer_and_consumer_work_again_after_their_metadata_refresh_ended(
        own_fabric, topic_name, monkeypatch):
    fabric = own_fabric()
    make_topic(fabric, topic_name, partitions=1)
    producer = KafkaProducer(client=Keys(fabric), acks="all", max_block_ms=20_000)
    consumer = KafkaConsumer(topic_name, client=Keys(fabric), auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=f"{topic_name}/readers")
    try:
        producer.send(topic_name, {"i": 0}).get(timeout=30)
        got: list[Any] = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            got += [r for rs in consumer.poll(timeout_ms=500).values() for r in rs]
        assert len(got) == 1

        end_refreshes_in_an_outage(monkeypatch, fabric, [producer._metadata, consumer._cluster])
        # kafka-python's own state: both refresh tasks ended for good (if a release stops
        # ending them on an OSError, this says so, and kafka.metadata_refresh may go)
        assert metadata_refresh_stopped(producer) and metadata_refresh_stopped(consumer)

        started = time.monotonic()
        # a topic this producer never wrote to needs fresh metadata (the old topic's leader is
        # cached, and with one broker it is the same after the restart)
        other = make_topic(fabric, f"{topic_name}-new", partitions=1)
        producer.send(other, {"i": 1}).get(timeout=30)  # without the restart: times out
        producer.send(topic_name, {"i": 1}).get(timeout=30)
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            got += [r for rs in consumer.poll(timeout_ms=500).values() for r in rs]
        assert [r.offset for r in got] == [0, 1]
        assert time.monotonic() - started < 20
        assert metadata_refresh_stopped(producer) is None
        assert metadata_refresh_stopped(consumer) is None
    finally:
        producer.close(timeout=5)
        consumer.close(autocommit=False)
