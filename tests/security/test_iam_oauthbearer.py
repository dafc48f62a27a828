"""IAM keys over OAUTHBEARER on the fabric's IAM listener (issue 23 item 2), end to end.

A key is written into the fabric's IAM key store exactly as the web service does (its
``KeyStore``); clients sign SDK-identical SigV4 tokens with it (the test signer) and talk
SASL_SSL + OAUTHBEARER to the brokers' IAM listener, TLS verified with the fabric CA. The
plugin maps the key to its owner's principal, so the owner's ACLs apply (own topic yes,
another's no), and a deleted key is refused on the next connection.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError as KafkaPythonError
from kafka.net.sasl.oauth import AbstractTokenProvider

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.service.v3.keystore import IamKey, KeyStore
from diaspora_notebook.fabric.testing.iam_tokens import make_token

from .actors import Actor, actor, fresh_topic


def iam_servers(fabric: Fabric) -> str:
    servers = fabric.describe()["kafka"]["iam_bootstrap_servers"]
    assert servers, "fabric.json names no IAM listener"
    return ",".join(servers)


def key_store(fabric: Fabric) -> KeyStore:
    return KeyStore(fabric.home.secrets_dir / "iam-keys.json")


def confluent_config(fabric: Fabric, key: IamKey, **extra: Any) -> dict[str, Any]:
    def oauth_cb(_config: str) -> tuple[str, float]:
        return make_token(key.access_key, key.secret_key), time.time() + 900

    return {"bootstrap.servers": iam_servers(fabric), "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "OAUTHBEARER", "oauth_cb": oauth_cb,
            "ssl.ca.location": str(fabric.home.ca_cert), **extra}


class TokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """kafka-python's OAUTHBEARER token provider, as diaspora-event-sdk's MSKTokenProvider."""

    def __init__(self, key: IamKey) -> None:
        self.key = key

    def token(self) -> str:
        return make_token(self.key.access_key, self.key.secret_key)


def kafka_python_config(fabric: Fabric, key: IamKey, **extra: Any) -> dict[str, Any]:
    return {"bootstrap_servers": iam_servers(fabric).split(","), "security_protocol": "SASL_SSL",
            "sasl_mechanism": "OAUTHBEARER", "sasl_oauth_token_provider": TokenProvider(key),
            "ssl_cafile": str(fabric.home.ca_cert), **extra}


@pytest.fixture(scope="module")
def owner(fabric: Fabric) -> Actor:
    return actor(fabric, "iam")


@pytest.fixture(scope="module")
def iam_key(fabric: Fabric, owner: Actor) -> IamKey:
    key, _fresh = key_store(fabric).get_or_create(owner.id)
    assert key.principal == f"User:{owner.id}"
    return key


def produce_confluent(fabric: Fabric, key: IamKey, topic: str, values: list[bytes]) -> list[Any]:
    errors: list[Any] = []
    producer = Producer(confluent_config(fabric, key, **{"message.timeout.ms": 20000}))
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(30) == 0
    return errors


def test_confluent_kafka_produces_and_consumes_through_iam(fabric: Fabric, owner: Actor,
                                                           iam_key: IamKey) -> None:
    topic = fresh_topic("iam-ck")
    owner.register(topic)
    assert produce_confluent(fabric, iam_key, topic, [b"one", b"two"]) == [None, None]
    consumer = Consumer(confluent_config(fabric, iam_key, **{
        "group.id": f"{topic}/iam-readers", "auto.offset.reset": "earliest",
        "enable.auto.commit": False}))
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                value = message.value()
                assert isinstance(value, bytes)
                got.append(value)
        assert got == [b"one", b"two"]
        consumer.commit(asynchronous=False)  # the group ACL applies to the IAM principal too
    finally:
        consumer.close()
    # the SCRAM side sees the same events: one principal, two mechanisms
    assert owner.read_all(topic) == [b"one", b"two"]


def test_kafka_python_produces_and_consumes_through_iam(fabric: Fabric, owner: Actor,
                                                        iam_key: IamKey) -> None:
    topic = fresh_topic("iam-kp")
    owner.register(topic)
    producer = KafkaProducer(**kafka_python_config(fabric, iam_key, acks="all",
                                                   max_block_ms=20000))
    try:
        producer.send(topic, b"hello").get(timeout=30)
    finally:
        producer.close(timeout=10)
    consumer = KafkaConsumer(topic, **kafka_python_config(
        fabric, iam_key, group_id=None, auto_offset_reset="earliest",
        consumer_timeout_ms=15000))
    try:
        assert [record.value for record in consumer] == [b"hello"]
    finally:
        consumer.close()


def test_the_owners_acls_apply_to_iam_connections(fabric: Fabric, iam_key: IamKey) -> None:
    stranger = actor(fabric, "iam-other")
    topic = fresh_topic("iam-theirs")
    stranger.register(topic)
    errors = produce_confluent(fabric, iam_key, topic, [b"intrusion"])
    assert errors and errors[0] is not None
    assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]
    assert stranger.read_all(topic, seconds=2) == []


def test_bad_and_deleted_keys_are_refused_on_new_connections(fabric: Fabric,
                                                             owner: Actor) -> None:
    subject = owner.id
    store = key_store(fabric)
    key = store.key_of(subject) or store.get_or_create(subject)[0]
    forged = IamKey(key.access_key, "not-the-secret", subject, key.created)
    unknown = IamKey("AKIA" + uuid.uuid4().hex[:16].upper(), key.secret_key, subject, "")
    assert connects(fabric, key)
    assert not connects(fabric, forged)
    assert not connects(fabric, unknown)
    assert store.delete(subject) == 1
    try:
        assert not connects(fabric, key)
    finally:
        store.get_or_create(subject)  # the module's other tests read with a key of this user


def connects(fabric: Fabric, key: IamKey) -> bool:
    """Whether a NEW IAM connection authenticates (metadata answers) with ``key``."""
    errors: list[KafkaError] = []
    admin = AdminClient(confluent_config(fabric, key, error_cb=errors.append))
    try:
        admin.list_topics(timeout=8)
    except KafkaException:
        admin.poll(2)  # error_cb runs from poll: the refusal must be the broker's verdict
        assert any(e.code() == KafkaError._AUTHENTICATION and "invalid_token" in e.str()
                   for e in errors), errors
        return False
    return True


def test_kafka_python_reports_a_refused_token(fabric: Fabric) -> None:
    key = IamKey("AKIA" + uuid.uuid4().hex[:16].upper(), "x" * 40, "nobody", "")
    with pytest.raises(KafkaPythonError):
        KafkaProducer(**kafka_python_config(fabric, key, max_block_ms=5000,
                                            bootstrap_timeout_ms=5000)).close()
