"""A 3-node KRaft cluster survives SIGKILL of a partition leader with no acknowledged loss."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from diaspora_notebook.fabric.fabric import Fabric

from .kafka_helpers import (
    allow_topic_owner,
    consume,
    create_user,
    user_config,
    wait_until_writable,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    with Fabric.at(Path(tmp_path_factory.mktemp("fabric3"))).running(brokers=3) as fab:
        yield fab


def _leader(fabric: Fabric, topic: str) -> tuple[int, list[int]]:
    admin = fabric.admin_client()
    try:
        partition = admin.describe_topics([topic])[0]["partitions"][0]
        return partition["leader_id"], partition["isr_nodes"]
    finally:
        admin.close()


def test_kill_the_leader_producers_and_consumers_go_on(cluster3: Fabric) -> None:
    topic = "replicated"
    user, password = "rep-dave", "dave-password-0123456789"
    admin = cluster3.admin_client()
    try:
        assert len(admin.describe_cluster()["brokers"]) == 3
        create_user(admin, user, password)
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 3,
                                     "configs": {"min.insync.replicas": "2"}}})
        allow_topic_owner(admin, user, topic)
    finally:
        admin.close()
    wait_until_writable(cluster3, user, password, topic)

    producer = KafkaProducer(**user_config(cluster3, user, password), acks="all",
                             enable_idempotence=True, retries=2**31 - 1, max_block_ms=60000,
                             request_timeout_ms=10000, delivery_timeout_ms=120000)
    acked: list[bytes] = []
    failed: list[Exception] = []
    stop = threading.Event()

    def produce_loop() -> None:
        i = 0
        while not stop.is_set() and i < 5000:
            value = f"event-{i}".encode()
            try:
                producer.send(topic, value).get(timeout=120)
                acked.append(value)
            except Exception as exc:  # recorded: a failed send is fine, a lost ack is not
                failed.append(exc)
            i += 1
            time.sleep(0.005)

    thread = threading.Thread(target=produce_loop, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(acked) < 100 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(acked) >= 100, failed[:3]

    leader, isr = _leader(cluster3, topic)
    assert len(isr) == 3
    cluster3.cluster().kill(leader)
    before_kill = len(acked)
    deadline = time.monotonic() + 60
    while len(acked) < before_kill + 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(acked) >= before_kill + 200, f"producing stalled after the kill: {failed[:3]}"
    new_leader, _ = _leader(cluster3, topic)
    assert new_leader != leader

    cluster3.cluster().start([leader])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(_leader(cluster3, topic)[1]) == 3:
            break
        time.sleep(0.5)
    assert len(_leader(cluster3, topic)[1]) == 3, "the restarted broker never rejoined the ISR"

    stop.set()
    thread.join(timeout=150)
    producer.close(timeout=10)
    got = consume(cluster3, user, password, topic, len(acked), timeout=60)
    assert set(acked) <= set(got), f"{len(set(acked) - set(got))} acknowledged events lost"
    assert len(got) == len(set(got)), "the idempotent producer wrote duplicates"
