"""3-broker fabric: SIGKILL the leader of a replicated topic, then the group coordinator, while a
producer AND a consumer-group member run; both go on and the consumer sees every acked event.

tests/integration/test_three_brokers.py covers the producer side with raw kafka-python; this adds
the consumer group and runs everything through the SDK (login, register, key, wrappers).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from diaspora_notebook.explore.groups import group_name
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.kafka.clients import KafkaConsumer, KafkaProducer

from .helpers import AckedLog, leader_of, own_fabric, user_with_topic, wait_until

pytestmark = pytest.mark.slow

TOTAL = 20_000


@pytest.fixture(scope="module")
def fabric3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    with own_fabric(Path(tmp_path_factory.mktemp("faults-fabric3")), brokers=3) as fab:
        yield fab


class Received:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: list[int] = []
        self.errors: list[BaseException] = []

    def count(self) -> int:
        with self.lock:
            return len(self.ids)

    def seen(self) -> set[int]:
        with self.lock:
            return set(self.ids)


def _kill_and_recover(fabric: Fabric, node: int, log: AckedLog, got: Received,
                      what: str) -> dict[str, float]:
    """Kill ``node``; both sides must make progress; restart it and wait for a full ISR."""
    cluster = fabric.cluster()
    acked0, got0 = log.count(), got.count()
    killed_at = time.monotonic()
    cluster.kill(node)
    wait_until(lambda: log.count() >= acked0 + 200, 90,
               f"the producer to go on after killing {what} {node} ({log.failed[:2]})")
    produce_gap = time.monotonic() - killed_at
    wait_until(lambda: got.count() >= got0 + 200, 90,
               f"the consumer to go on after killing {what} {node} ({got.errors[:2]})")
    consume_gap = time.monotonic() - killed_at
    fabric.cluster().start([node])
    return {"node": node, "produce_resumed_s": produce_gap, "consume_resumed_s": consume_gap}


def test_leader_and_coordinator_killed_producer_and_group_consumer_go_on(fabric3, tmp_path):
    topic = f"failover-{time.time_ns():x}"
    user = user_with_topic(fabric3, tmp_path / "user", topic, partitions=2, replicas=3,
                           configs={"min.insync.replicas": "2"})
    client = user.client
    producer = KafkaProducer(client=client, acks="all", enable_idempotence=True,
                             retries=2**31 - 1, delivery_timeout_ms=120_000,
                             request_timeout_ms=10_000, max_block_ms=60_000, linger_ms=5)
    consumer = KafkaConsumer(topic, client=client, group_id=group_name(topic, "readers"),
                             auto_offset_reset="earliest", enable_auto_commit=True,
                             auto_commit_interval_ms=500, session_timeout_ms=15_000,
                             heartbeat_interval_ms=1_000, request_timeout_ms=20_000)
    log = AckedLog()
    got = Received()
    stop = threading.Event()

    def produce_loop() -> None:
        deadline = time.monotonic() + 300
        for i in range(TOTAL):
            if stop.is_set() or time.monotonic() > deadline:
                break
            future = producer.send(topic, {"id": i})
            future.add_callback(lambda _meta, i=i: log.ok(i))
            future.add_errback(log.error)
            time.sleep(0.004)

    def consume_loop() -> None:
        deadline = time.monotonic() + 400
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                batch = consumer.poll(timeout_ms=300)
            except Exception as exc:  # recorded; a member must keep polling through a failover
                got.errors.append(exc)
                time.sleep(0.2)
                continue
            ids = [json.loads(r.value)["id"] for records in batch.values() for r in records]
            with got.lock:
                got.ids.extend(ids)

    threads = [threading.Thread(target=produce_loop, daemon=True),
               threading.Thread(target=consume_loop, daemon=True)]
    for t in threads:
        t.start()
    timings = {}
    try:
        wait_until(lambda: log.count() >= 300 and got.count() >= 200, 90,
                   "traffic before the first kill")
        leader, isr = leader_of(fabric3, topic)
        assert len(isr) == 3, isr
        timings["leader"] = _kill_and_recover(fabric3, leader, log, got, "topic leader")
        assert leader_of(fabric3, topic)[0] != leader
        wait_until(lambda: len(leader_of(fabric3, topic)[1]) == 3, 90,
                   "the restarted leader to rejoin the ISR")

        coordinator, _ = leader_of(fabric3, "__consumer_offsets")
        timings["coordinator"] = _kill_and_recover(fabric3, coordinator, log, got,
                                                   "group coordinator")
        wait_until(lambda: len(leader_of(fabric3, "__consumer_offsets")[1]) == 3, 90,
                   "the restarted coordinator to rejoin the ISR")
        stop_at = log.count() + 100
        wait_until(lambda: log.count() >= stop_at, 60, "a last stretch of traffic")
        stop.set()
        threads[0].join(timeout=150)
        producer.flush(timeout=120)
        acked = set(log.snapshot())
        assert not log.failed, f"{len(log.failed)} sends failed: {log.failed[:3]!r}"
        # keep consuming (the consumer thread stopped) until every ack has been seen
        threads[1].join(timeout=30)
        deadline = time.monotonic() + 120
        while not acked <= got.seen() and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                with got.lock:
                    got.ids.extend(json.loads(r.value)["id"] for r in records)
    finally:
        stop.set()
        producer.close(timeout=10)
        consumer.close()
    missing = acked - got.seen()
    assert not missing, (f"{len(missing)} acknowledged events never consumed, "
                         f"e.g. {sorted(missing)[:5]}")
    print(f"\nfailover: {len(acked)} acked, {got.count()} consumed "
          f"({got.count() - len(got.seen())} redelivered after the coordinator moved), "
          f"consumer errors {len(got.errors)}; "
          + "; ".join(f"{k} (node {v['node']}) killed: producer went on after "
                      f"{v['produce_resumed_s']:.1f} s, consumer after "
                      f"{v['consume_resumed_s']:.1f} s"
                      for k, v in timings.items()))
