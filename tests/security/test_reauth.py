"""A rotated key stops working on connections opened before it was rotated, and valid keys live
through many re-authentications without losing or duplicating an event (issue 11, item 4).

The broker sets ``connections.max.reauth.ms`` (30 s by default): kafka-python 3.x and librdkafka
re-authenticate on their open connections (KIP-368), and SCRAM re-authentication checks the
password against the current credential, so the old password fails and the broker closes the
connection. A client that could not re-authenticate would be cut at its first request after
the session expired instead.

* The cut is measured on the session fabric (its real 30 s default) with three clients of the
  old key: a kafka-python producer, a kafka-python consumer and a confluent-kafka consumer.
* No loss/no duplicate runs on a fabric of the test's own with 5 s sessions, so that a short
  test sees several re-authentications of every connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import kafka
import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition
from kafka.admin import UserScramCredentialDeletion

from diaspora_notebook.fabric.broker.config import MAX_REAUTH_MS, REAUTH_VARIABLE, reauth_ms
from diaspora_notebook.fabric.errors import FabricUsageError
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.testing.secrets import remember_secret
from diaspora_notebook.kafka.clients import KafkaAdmin, KafkaProducer, NewTopic
from diaspora_notebook.stream import LiveDataFrame
from diaspora_notebook.testing.identities import create_identity

SHORT_SESSION_MS = 5000
SILENCE_S = 8.0  # no delivery for this long, while valid-key traffic flows, means "cut"


class ReauthCounter(logging.Filter):
    """Counts KIP-368 re-authentications in kafka-python's and librdkafka's own log records.

    Installed as a filter on the loggers, it also drops their other DEBUG records before any
    handler formats them (kafka-python logs every request at DEBUG).
    """

    def __init__(self) -> None:
        super().__init__()
        self.started = self.failed = self.lost = 0
        self.connections: set[str] = set()
        self.librdkafka_started = self.librdkafka_failed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if "Beginning SASL re-authentication" in text:
            self.started += 1
            self.connections.add(str(record.args[0]) if record.args else "?")
        elif "SASL re-authentication failed" in text:
            self.failed += 1
        elif "Connection lost" in text:
            self.lost += 1
        elif record.args and "REAUTH" in map(str, record.args):
            message = record.getMessage()
            self.librdkafka_started += "Received REAUTH op" in message
        if record.args and "failed during re-authentication" in record.getMessage():
            self.librdkafka_failed += 1
        return record.levelno > logging.DEBUG


@contextlib.contextmanager
def counting_reauth() -> Iterator[tuple[ReauthCounter, logging.Logger]]:
    counter = ReauthCounter()
    python_logger = logging.getLogger("kafka.net.connection")
    rdkafka_logger = logging.getLogger(f"test.rdkafka.{uuid.uuid4().hex[:6]}")
    saved = python_logger.level
    for logger in (python_logger, rdkafka_logger):
        logger.addFilter(counter)
        logger.setLevel(logging.DEBUG)
    try:
        yield counter, rdkafka_logger
    finally:
        python_logger.setLevel(saved)
        python_logger.removeFilter(counter)
        rdkafka_logger.removeFilter(counter)


@pytest.mark.parametrize("value", ["0", "999", "60001", "3600000", "30s", "-5"])
def test_a_session_setting_that_breaks_the_60s_promise_is_refused(monkeypatch, value):
    monkeypatch.setenv(REAUTH_VARIABLE, value)
    with pytest.raises(FabricUsageError) as info:
        reauth_ms()
    assert REAUTH_VARIABLE in str(info.value) and repr(value) in str(info.value)
    assert "unset it" in info.value.hint


def test_session_setting_default_and_override(monkeypatch):
    monkeypatch.delenv(REAUTH_VARIABLE, raising=False)
    assert reauth_ms() == 30_000
    monkeypatch.setenv(REAUTH_VARIABLE, "60000")
    assert reauth_ms() == MAX_REAUTH_MS


def own_topic(client: Any, partitions: int) -> str:
    """Register a fresh topic, get a key and create the topic with it."""
    topic = f"reauth-{uuid.uuid4().hex[:10]}"
    client.register_topic(topic)
    remember_secret(client.create_key()["password"])
    client.block_until_ready(timeout=60)
    admin = KafkaAdmin(client=client)
    try:
        admin.create_topics(new_topics=[NewTopic(name=topic, num_partitions=partitions,
                                                 replication_factor=1)])
    finally:
        admin.close()
    return topic


def session_ms(fabric: Fabric) -> int:
    props = (fabric.home.node_dir(1) / "server.properties").read_text()
    for line in props.splitlines():
        if line.startswith("listener.name.client.scram-sha-512.connections.max.reauth.ms="):
            return int(line.split("=", 1)[1])
    raise AssertionError("the broker sets no connections.max.reauth.ms")


def confluent_consumer(client: Any, topic: str, partitions: list[int], offset: int,
                       **extra: Any) -> Consumer:
    conf = {**client.connection_config("confluent-kafka"), **extra,
            "group.id": f"{topic}-reauth", "enable.auto.commit": False}
    consumer = Consumer(conf)
    # explicit offsets: no committed-offset lookup, so no group ACL is involved
    consumer.assign([TopicPartition(topic, p, offset) for p in partitions])
    return consumer


def abandon(producer: kafka.KafkaProducer) -> None:
    """Close a producer whose key is dead; left open it would retry against the broker all
    session long, and close() alone waits for ever on the records it can no longer send."""
    try:
        producer.close(timeout=5)
    except kafka.errors.KafkaTimeoutError:
        # kafka-python has no public way to drop unsendable records; its sender's force_close
        # aborts them, after which close() completes
        producer._sender.force_close()
        producer._sender.join(10)
        producer.close(timeout=5)


def cut_after(client: Any, topic: str, revoke: Callable[[], dict[str, Any]],
              ) -> tuple[dict[str, float], int]:
    """Open three old-key clients, ``revoke`` the key, and time when each stops getting through.

    ``revoke`` returns kafka-python settings of a valid identity that keeps producing, so that
    silence means "cut" rather than "nothing to read". Returns, per old-key client, the newest
    event it wrote or read in seconds after the revocation, and how many valid events were
    written meanwhile.
    """
    old_conf = client.kafka_config()
    producer = kafka.KafkaProducer(**old_conf, acks="all", linger_ms=0)
    consumer = kafka.KafkaConsumer(**old_conf, enable_auto_commit=False)
    partitions = sorted(consumer.partitions_for_topic(topic) or [0])
    consumer.assign([kafka.TopicPartition(topic, p) for p in partitions])
    consumer.seek_to_end()
    rd_errors: list[str] = []
    rd = confluent_consumer(client, topic, partitions, OFFSET_END,
                            logger=logging.getLogger("test.rdkafka.old-key"),
                            error_cb=lambda err: rd_errors.append(str(err)))
    valid: kafka.KafkaProducer | None = None
    # per old-key client: when it last succeeded (monotonic), and the newest event it wrote or
    # read (wall clock; an event read late was still fetched before the cut)
    last_ok: dict[str, float] = {}
    newest: dict[str, float] = {}

    def succeeded(name: str, event_time: float) -> None:
        last_ok[name] = time.monotonic()
        newest[name] = max(newest.get(name, 0.0), event_time)

    def delivered(name: str) -> Any:
        return lambda _meta: succeeded(name, time.time())

    def poll_consumers() -> None:
        # whole batches: one message per poll would let a backlog hide the cut
        for records in consumer.poll(timeout_ms=50).values():
            succeeded("kafka-python consumer", max(r.timestamp for r in records) / 1000)
        for message in rd.consume(num_messages=1000, timeout=0.05):
            if not message.error():
                succeeded("confluent-kafka consumer", message.timestamp()[1] / 1000)

    try:
        # every old-key connection carries traffic before the revocation
        deadline = time.monotonic() + 60
        while len(last_ok) < 3 and time.monotonic() < deadline:
            producer.send(topic, b"before").add_callback(delivered("kafka-python producer"))
            poll_consumers()
        assert len(last_ok) == 3, f"old-key clients not all working before: {last_ok}"

        revoked_wall = time.time()
        valid = kafka.KafkaProducer(**revoke(), acks="all", linger_ms=0)
        revoked = time.monotonic() - (time.time() - revoked_wall)
        valid_sent: list[float] = []

        def all_cut(now: float) -> bool:
            latest = max(last_ok.values())
            return (now - latest >= SILENCE_S
                    and sum(1 for t in valid_sent if t > latest + 1) >= 20)

        deadline = revoked + 90
        while time.monotonic() < deadline and not all_cut(time.monotonic()):
            valid.send(topic, b"valid").add_callback(lambda _m: valid_sent.append(time.monotonic()))
            producer.send(topic, b"old-key").add_callback(delivered("kafka-python producer"))
            poll_consumers()
        cut = {name: round(t - revoked_wall, 1) for name, t in newest.items()}
        assert all_cut(time.monotonic()), (
            f"old-key clients still working {time.monotonic() - revoked:.0f} s later: {cut}")
        assert len(valid_sent) >= 20, "the valid identity could not produce meanwhile"
        assert any("re-authentication" in e or "_AUTHENTICATION" in e for e in rd_errors), \
            rd_errors[:3]
        return cut, len(valid_sent)
    finally:
        rd.close()
        consumer.close()
        if valid is not None:
            valid.close(timeout=10)
        abandon(producer)


def test_rotated_key_is_cut_on_connections_opened_before_within_60s(fabric, sdk_identity,
                                                                    capsys):
    lifetime = session_ms(fabric)
    assert lifetime <= MAX_REAUTH_MS, lifetime
    alice = sdk_identity("reauth")
    remember_secret(alice.password)
    client = alice.client()
    client.login()
    topic = own_topic(client, partitions=1)

    def rotate() -> dict[str, Any]:
        remember_secret(client.create_key()["password"])
        client.block_until_ready(timeout=60)
        return client.kafka_config()

    cut, valid = cut_after(client, topic, rotate)
    with capsys.disabled():
        print(f"\nreauth: session {lifetime} ms; newest event each old-key client wrote or "
              f"read, s after rotation: {cut}; valid-key events meanwhile: {valid}")
    assert all(v <= 60 for v in cut.values()), cut


@pytest.fixture(scope="module")
def short_session_fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    """A fabric of this module's own whose client sessions last 5 s."""
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:  # only while `up` writes the configuration
            patch.setenv(REAUTH_VARIABLE, str(SHORT_SESSION_MS))
            fab = stack.enter_context(
                Fabric.at(tmp_path_factory.mktemp("reauth-home")).running())
        yield fab


@pytest.mark.parametrize("engine", ["confluent", "kafka-python"])
def test_valid_key_streams_across_many_reauthentications_without_loss_or_duplicate(
        short_session_fabric, tmp_path, capsys, engine):
    fabric = short_session_fabric
    assert session_ms(fabric) == SHORT_SESSION_MS
    bob = create_identity(fabric, tmp_path / "bob")
    remember_secret(bob.password)
    client = bob.client()
    client.login()
    topic = own_topic(client, partitions=2)
    n = 300

    with counting_reauth() as (counter, rd_logger):
        live = LiveDataFrame(topic, client=client, start="earliest", engine=engine)
        producer = KafkaProducer(client=client, acks="all", linger_ms=0)
        partitions = sorted(producer.partitions_for(topic))
        rd_errors: list[str] = []
        rd = confluent_consumer(client, topic, partitions, OFFSET_BEGINNING,
                                debug="security,broker", logger=rd_logger,
                                error_cb=lambda err: rd_errors.append(str(err)))
        rd_seen: list[tuple[int, int, int]] = []
        try:
            started = time.monotonic()
            futures = []
            for i in range(n):  # ~4.5 sessions of 5 s
                futures.append(producer.send(topic, {"i": i}))
                pause_until = started + (i + 1) * 0.075
                while time.monotonic() < pause_until:
                    message = rd.poll(0.02)
                    if message is not None and not message.error():
                        rd_seen.append((message.partition(), message.offset(),
                                        json.loads(message.value())["i"]))
            for future in futures:
                future.get(timeout=60)
            deadline = time.monotonic() + 60
            while len(rd_seen) < n and time.monotonic() < deadline:
                message = rd.poll(0.2)
                if message is not None and not message.error():
                    rd_seen.append((message.partition(), message.offset(),
                                    json.loads(message.value())["i"]))
            live.wait(n, timeout=60)
            time.sleep(1)  # a duplicate would arrive after the n-th event
            df = live.df
            elapsed = time.monotonic() - started
        finally:
            rd.close()
            live.stop()
            producer.close(timeout=10)

    with capsys.disabled():
        print(f"\nreauth: {n} events over {elapsed:.0f} s with {SHORT_SESSION_MS} ms sessions, "
              f"LiveDataFrame on {engine}: "
              f"kafka-python re-authentications {counter.started} on "
              f"{len(counter.connections)} connection(s) (failed {counter.failed}, "
              f"connections lost {counter.lost}), "
              f"librdkafka {counter.librdkafka_started} (failed {counter.librdkafka_failed})")
    pairs = list(zip(df["partition"].tolist(), df["offset"].tolist(), strict=True))
    assert len(pairs) == len(set(pairs)) == n, f"{len(pairs)} rows, {len(set(pairs))} distinct"
    assert sorted(df["i"].tolist()) == list(range(n))
    assert live.error is None, live.error
    assert len(rd_seen) == len({(p, o) for p, o, _ in rd_seen}) == n, len(rd_seen)
    assert sorted(i for _, _, i in rd_seen) == list(range(n))
    # several re-authentications: the producer's connection, and the LiveDataFrame's when it
    # runs on kafka-python (on librdkafka its log is its own; the confluent consumer here
    # shows that engine re-authenticating)
    assert counter.started >= 3 and counter.failed == 0, vars(counter)
    assert len(counter.connections) >= (2 if engine == "kafka-python" else 1), vars(counter)
    assert counter.librdkafka_started >= 3 and counter.librdkafka_failed == 0, vars(counter)
    assert not any("_AUTHENTICATION" in e for e in rd_errors), rd_errors[:3]


def test_removed_key_is_cut_on_connections_opened_before(short_session_fabric, tmp_path,
                                                         capsys):
    """Deleting the SCRAM credential (what `user remove` does to the key) cuts open connections
    too; the account's ACLs stay here, so only authentication can stop it."""
    fabric = short_session_fabric
    carol = create_identity(fabric, tmp_path / "carol")
    remember_secret(carol.password)
    client = carol.client()
    client.login()
    topic = own_topic(client, partitions=1)

    def remove() -> dict[str, Any]:
        admin = fabric.admin_client()
        try:
            result = admin.alter_user_scram_credentials(
                [UserScramCredentialDeletion(carol.id, "SCRAM-SHA-512")])
        finally:
            admin.close()
        assert result == {carol.id: None}, result
        return fabric.admin_config()

    cut, valid = cut_after(client, topic, remove)
    with capsys.disabled():
        print(f"\nreauth: session {SHORT_SESSION_MS} ms; newest event each removed-key client "
              f"wrote or read, s after removal: {cut}; admin events meanwhile: {valid}")
    assert all(v <= 2 * SHORT_SESSION_MS / 1000 for v in cut.values()), cut
