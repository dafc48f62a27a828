"""Faults on a one-broker fabric of this module's own: kill -9 of the broker under a live stream
and an idempotent producer, and restarts of the identity provider and the web service.

Every fault hits a fabric started here in a temporary home, never the session fabric.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from diaspora_notebook.client import Client
from diaspora_notebook.environments import load_local
from diaspora_notebook.errors import DiasporaError
from diaspora_notebook.explore.groups import group_name
from diaspora_notebook.fabric import webapps
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.kafka.clients import KafkaConsumer as SdkConsumer
from diaspora_notebook.kafka.clients import KafkaProducer as SdkProducer
from diaspora_notebook.login import ProgrammaticLoginFlowManager
from diaspora_notebook.stream import LiveDataFrame

from .helpers import AckedLog, own_fabric, topic_records, user_with_topic, wait_until

pytestmark = pytest.mark.slow

TOTAL = 6000  # most events the producer loop sends (bounded in count and in time)


@pytest.fixture(scope="module")
def fabric1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    with own_fabric(Path(tmp_path_factory.mktemp("faults-fabric1"))) as fab:
        yield fab


def test_kill9_broker_mid_stream_loses_no_ack_and_duplicates_nothing(fabric1, tmp_path):
    topic = f"crash-{time.time_ns():x}"
    user = user_with_topic(fabric1, tmp_path / "user", topic, partitions=2)
    config = user.client.kafka_config()
    producer = KafkaProducer(**config, acks="all", enable_idempotence=True, retries=2**31 - 1,
                             delivery_timeout_ms=180_000, request_timeout_ms=5_000,
                             max_block_ms=180_000, linger_ms=5, retry_backoff_ms=100)
    log = AckedLog()
    stop = threading.Event()

    def produce_loop() -> None:
        deadline = time.monotonic() + 240
        for i in range(TOTAL):
            if stop.is_set() or time.monotonic() > deadline:
                break
            future = producer.send(topic, json.dumps({"id": i}).encode(), key=f"k{i % 7}".encode())
            future.add_callback(lambda _meta, i=i: log.ok(i))
            future.add_errback(log.error)
            time.sleep(0.003)

    live = LiveDataFrame(topic, start="earliest", max_rows=TOTAL * 2, client=user.client)
    thread = threading.Thread(target=produce_loop, daemon=True)
    cluster = fabric1.cluster()
    try:
        live.wait(timeout=60)  # assigned and caught up with the empty topic
        thread.start()
        wait_until(lambda: log.count() >= 300, 60, "300 acknowledged events before the crash")
        old_pid = cluster.node(1).process.pid()
        cluster.kill(1)  # SIGKILL: no clean shutdown, in-flight batches are cut off
        assert not cluster.node(1).process.is_running()
        at_kill = log.count()
        time.sleep(3)  # producer and stream both see the broker gone
        outage_state = live.state
        fabric1.cluster().start()
        assert cluster.node(1).process.pid() not in (None, old_pid)
        wait_until(lambda: log.count() >= at_kill + 300, 120,
                   f"300 more acks after the restart (failures: {log.failed[:3]})")
        stop.set()
        thread.join(timeout=60)
        producer.flush(timeout=180)
        acked = set(log.snapshot())
        assert not log.failed, f"{len(log.failed)} sends failed, e.g. {log.failed[:3]!r}"

        def every_ack_in_view() -> bool:
            ids = live.df.get("id")
            return ids is not None and acked <= set(ids.dropna().astype(int))

        wait_until(every_ack_in_view, 120, "every acknowledged event in the view")
        live.wait(timeout=60)  # caught up: nothing more is coming
        df = live.df
        stats = live.stats
    finally:
        stop.set()
        producer.close(timeout=10)
        live.stop()

    assert outage_state in ("retrying", "running"), outage_state
    assert stats.error is None, stats.error
    pairs = list(zip(df["topic"], df["partition"], df["offset"], strict=True))
    dup_offsets = [p for p, n in Counter(pairs).items() if n > 1]
    assert not dup_offsets, f"rows repeated in the view: {dup_offsets[:5]}"
    ids = df["id"].astype(int).tolist()
    dup_ids = [i for i, n in Counter(ids).items() if n > 1]
    assert not dup_ids, f"payload ids repeated in the view: {dup_ids[:5]}"
    assert acked <= set(ids), f"{len(acked - set(ids))} acknowledged events lost"
    # the log itself holds no duplicate either (idempotence held across the crash)
    stored = topic_records(fabric1, topic)
    stored_ids = Counter(value["id"] for _, _, value in stored)
    assert not [i for i, n in stored_ids.items() if n > 1], "the broker stored duplicates"
    assert {(p, o) for p, o, _ in stored} == {(p, o) for _, p, o in pairs}
    print(f"\nkill -9: {len(acked)} acked ({at_kill} before the kill), {len(stored)} stored, "
          f"view {len(df)} rows, 0 duplicates, consumer errors {stats.consumer_errors}")


class _NoLogin(ProgrammaticLoginFlowManager):
    """A login manager that fails the test if a login is ever attempted."""

    def __init__(self) -> None:
        super().__init__("nobody", "never-used-password")
        self.calls = 0

    def run_login_flow(self, auth_parameters):  # type: ignore[override]
        self.calls += 1
        raise AssertionError("a new login was needed after the restart")


def _consume_all(client: Client, topic: str, expected: int, timeout: float = 60) -> list[dict]:
    consumer = SdkConsumer(topic, client=client, group_id=group_name(topic, "check"),
                           auto_offset_reset="earliest", enable_auto_commit=False)
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(json.loads(r.value) for r in records)
    finally:
        consumer.close()
    return got


def _stop_web(fabric: Fabric) -> None:
    state = fabric.state()
    assert state is not None
    for proc, port in ((webapps.service_process(fabric.home, state.service_port),
                        state.service_port),
                       (webapps.idp_process(fabric.home, state.idp_port), state.idp_port)):
        assert proc.stop(timeout=15), f"{proc.name} was not running"
        assert not webapps.healthy(port)


@pytest.mark.parametrize("what", ["web servers", "whole fabric"])
def test_restart_keeps_logins_and_keys(fabric1, tmp_path, monkeypatch, what):
    topic = f"restart-{time.time_ns():x}"
    user = user_with_topic(fabric1, tmp_path / "user", topic)
    client = user.client
    before = client.list_topics()["topics"]
    assert before == [topic]
    producer = SdkProducer(client=client, acks="all", retries=10)
    producer.send(topic, {"n": 0, "when": "before"}).get(timeout=30)
    broker_pid = fabric1.cluster().node(1).process.pid()

    if what == "web servers":
        _stop_web(fabric1)
        # while they are down, a call fails with a typed error (no raw requests traceback)
        started = time.monotonic()
        with pytest.raises(DiasporaError):
            client.list_topics()
        down_error_seconds = time.monotonic() - started
        fabric1.up()
        assert fabric1.cluster().node(1).process.pid() == broker_pid, "the broker was touched"
    else:
        fabric1.down(timeout=30)
        down_error_seconds = 0.0
        fabric1.up()

    # no new login anywhere from here on: the login form may not be filled again
    def no_form(*args, **kwargs):
        raise AssertionError("the login form was filled again after the restart")

    monkeypatch.setattr("diaspora_notebook.login.form.complete_login_form", no_form)
    assert client.list_topics()["topics"] == before  # the client logged in before the restart
    no_login = _NoLogin()
    fresh = Client(load_local(fabric1.home.root), user_dir=user.identity.user_dir,
                   login_flow_manager=no_login)
    assert fresh.list_topics()["topics"] == before  # tokens on disk are still honoured
    assert fresh.retrieve_key()["password"] == user.key["password"]  # the cached key
    assert no_login.calls == 0

    # the old key still produces: the producer built before, and a new one from the cache
    if what == "web servers":
        producer.send(topic, {"n": 1, "when": "old producer"}).get(timeout=60)
    producer.close(timeout=10)
    again = SdkProducer(client=fresh, acks="all")
    try:
        again.send(topic, {"n": 2, "when": "new producer, cached key"}).get(timeout=60)
    finally:
        again.close(timeout=10)
    expected = 3 if what == "web servers" else 2
    got = _consume_all(fresh, topic, expected)
    assert sorted(m["n"] for m in got) == ([0, 1, 2] if expected == 3 else [0, 2])
    print(f"\nrestart of the {what}: old login and key kept working; while down, the call "
          f"failed with a typed error after {down_error_seconds:.1f} s")
