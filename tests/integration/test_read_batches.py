"""``kafka.read.read_batches`` / ``read_frame`` (what peek and the topic views read with)
against the real broker, on both engines."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaProducer
from kafka.admin import NewTopic

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.errors import SourceError
from diaspora_notebook.kafka.read import read_batches, read_frame


@pytest.fixture(params=["confluent", "kafka-python"])
def engine(request) -> str:
    return request.param


@pytest.fixture
def filled(fabric, topic_name):
    admin = fabric.admin_client()
    try:
        admin.create_topics([NewTopic(topic_name, 2, 1)])
    finally:
        admin.close()
    prod = KafkaProducer(**fabric.admin_config(), acks="all")
    try:
        for p in (0, 1):
            for i in range(20):
                value = b"oops" if (p, i) == (1, 7) else json.dumps(
                    {"i": i, "p": p, "deep": {"x": i * 10}}).encode()
                prod.send(topic_name, value, key=f"k{i}".encode(), partition=p,
                          headers=[("trace", f"t{i}".encode())])
        prod.flush(30)
    finally:
        prod.close(timeout=10)
    return topic_name


def test_batches_carry_meta_headers_raw_values_and_fields(engine, fabric, filled):
    batches = list(read_batches(None, filled, config=fabric.admin_config(), engine=engine))
    rows = [r for b in batches for r in b.to_pylist()]
    assert sorted((r["partition"], r["offset"]) for r in rows) == \
        sorted((p, o) for p in (0, 1) for o in range(20))
    first = next(r for r in rows if (r["partition"], r["offset"]) == (0, 3))
    assert first["key"] == b"k3" and first["deep.x"] == 30 and first["i"] == 3
    assert first["headers"] == [{"name": "trace", "value": b"t3"}]
    assert first["value"] == json.dumps({"i": 3, "p": 0, "deep": {"x": 30}}).encode()
    bad = next(r for r in rows if (r["partition"], r["offset"]) == (1, 7))
    assert bad["value"] == b"oops" and bad["_error"].startswith("not JSON")


def test_start_stop_and_max_records_bound_the_read(engine, fabric, filled):
    cfg = fabric.admin_config()
    last = read_frame(None, filled, config=cfg, engine=engine, start=-3)
    assert sorted(last["offset"]) == [17, 17, 18, 18, 19, 19]
    part = read_frame(None, filled, config=cfg, engine=engine, partitions=[1], start=5,
                      stop_offsets={1: 9})
    assert part["offset"].tolist() == [5, 6, 7, 8] and set(part["partition"]) == {1}
    assert part["_error"].notna().tolist() == [False, False, True, False]
    few = read_frame(None, filled, config=cfg, engine=engine, partitions=[0], max_records=4)
    assert few["offset"].tolist() == [0, 1, 2, 3]
    assert list(few.columns[:5]) == ["topic", "partition", "offset", "timestamp", "key"]
    assert few["key"].tolist() == ["k0", "k1", "k2", "k3"]


def test_a_missing_topic_and_a_bad_start_say_so(engine, fabric, topic_name):
    with pytest.raises(SourceError, match="not found"):
        list(read_batches(None, topic_name, config=fabric.admin_config(), engine=engine))
    with pytest.raises(DiasporaUsageError, match="start must be"):
        list(read_batches(None, "__consumer_offsets", config=fabric.admin_config(),
                          engine=engine, start="middle"))
