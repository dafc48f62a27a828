"""The kafka-python engine of ``LiveDataFrame`` across a broker restart: kafka-python 3.0 can end
its metadata refresh for good (see ``sources.metadata_refresh_stopped``); the stream must notice,
read on with a new consumer within seconds, and neither repeat nor skip an event.

The failure needs a connection reset in a window of microseconds (a broker shutting down resets a
connection still queued on its listening socket before ``ssl.SSLSocket()`` is built), which a test
cannot hit at will. So this test raises the very exception the ssl module raises there, once, at
a metadata refresh's connection attempt during a real outage; everything else is real.
"""

from __future__ import annotations

import errno
import threading
import time

import kafka.net.manager as kafka_manager
import pytest
from kafka import KafkaProducer

from diaspora_notebook.stream import LiveDataFrame

from .test_live_dataframe import assert_exactly_once, make_topic, send, topic_contents


def produce(fabric, topic: str, values: list[dict]) -> None:
    producer = KafkaProducer(**fabric.admin_config(), acks="all", linger_ms=2)
    try:
        send(producer, topic, values)
    finally:
        producer.close(timeout=10)


@pytest.mark.slow
def test_ended_metadata_refresh_gets_a_new_consumer_without_duplicate_or_gap(
        own_fabric, topic_name, monkeypatch, capsys):
    fabric = own_fabric()  # the broker is stopped: never the session's
    make_topic(fabric, topic_name, partitions=2)
    broker = fabric.cluster()
    produce(fabric, topic_name, [{"i": i} for i in range(100)])
    with LiveDataFrame(topic_name, consumer_config=fabric.admin_config(), engine="kafka-python",
                       start="earliest") as live:
        live.wait(n=100, timeout=60)
        first = live._loop.source.consumer
        reset = threading.Event()
        connect = kafka_manager.create_connection

        async def reset_once(*args, **kwargs):
            if not reset.is_set() and first._cluster.metadata_refresh_in_progress:
                reset.set()
                raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
            return await connect(*args, **kwargs)

        monkeypatch.setattr(kafka_manager, "create_connection", reset_once)
        broker.stop()
        try:
            assert reset.wait(30), "the consumer tried no metadata refresh during the outage"
            deadline = time.monotonic() + 30
            while live.error is None and time.monotonic() < deadline:
                time.sleep(0.1)
            outage_error = live.error
        finally:
            broker.start()
            broker.wait_for_brokers(fabric.home.admin_password(), 1)
        back = time.monotonic()
        produce(fabric, topic_name, [{"i": i} for i in range(100, 200)])
        live.wait(n=200, timeout=60)
        recovered_after = time.monotonic() - back
        current = live._loop.source
        live.wait(timeout=30)
        df = live.df
        stats = live.stats
    with capsys.disabled():
        print(f"\nkafka-python metadata refresh ended in the outage: new consumer, all 100 new "
              f"events {recovered_after:.1f} s after the broker was back")
    # the library failure this test is about did happen (if a kafka-python release stops ending
    # its refresh task on an OSError, this says so: the workaround may then go)
    ended = first._cluster._refresh_loop_future
    assert ended is not None and isinstance(ended.exception, ConnectionResetError)
    assert outage_error is not None
    assert current is not None and current.consumer is not first, "the consumer was not rebuilt"
    assert recovered_after < 15, f"{recovered_after:.1f} s after the broker was back"
    assert stats.error is None
    assert_exactly_once(df, topic_contents(fabric, topic_name))
    assert sorted(df["i"].astype(int)) == list(range(200))
