"""Small helpers shared by the broker tests: users, ACLs and clients on the real fabric."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
    UserScramCredentialUpsertion,
)

from diaspora_notebook.fabric.fabric import Fabric


def user_config(fabric: Fabric, user: str, password: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": fabric.bootstrap_servers,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        "ssl_cafile": str(fabric.home.ca_cert),
    }


def create_user(admin: Any, user: str, password: str) -> None:
    result = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, "SCRAM-SHA-512", password)]
    )
    assert result == {user: None}, result
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        described = admin.describe_user_scram_credentials([user])
        if described[user]["credential_infos"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"SCRAM credential for {user} never propagated")


def allow_topic_owner(admin: Any, user: str, topic: str) -> None:
    acls = [
        ACL(f"User:{user}", "*", op, ACLPermissionType.ALLOW,
            ResourcePattern(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL))
        for op in (ACLOperation.CREATE, ACLOperation.DELETE, ACLOperation.READ,
                   ACLOperation.WRITE, ACLOperation.DESCRIBE, ACLOperation.DESCRIBE_CONFIGS)
    ]
    # the service's shape: the topic's consumer groups are "<topic>/<name>"
    acls.append(ACL(f"User:{user}", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                    ResourcePattern(ResourceType.GROUP, topic + "/",
                                    ACLResourcePatternType.PREFIXED)))
    result = admin.create_acls(acls)
    assert not result["failed"], result


def produce(fabric: Fabric, user: str, password: str, topic: str, values: list[bytes],
            **extra: Any) -> list[Any]:
    producer = KafkaProducer(**user_config(fabric, user, password), acks="all",
                             max_block_ms=15000, **extra)
    try:
        return [producer.send(topic, v).get(timeout=30) for v in values]
    finally:
        producer.close(timeout=10)


def consume(fabric: Fabric, user: str, password: str, topic: str, expected: int,
            *, group: str | None = None, timeout: float = 30.0) -> list[bytes]:
    consumer = KafkaConsumer(topic, **user_config(fabric, user, password), group_id=group,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000,
                             enable_auto_commit=group is not None)
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
    finally:
        consumer.close()
    return got


def wait_until_writable(fabric: Fabric, user: str, password: str, topic: str,
                        timeout: float = 30.0) -> None:
    """Produce one probe event until it succeeds: new ACLs reach each broker asynchronously,
    and an idempotent producer refused its producer id stays broken for its lifetime."""
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    while True:
        try:
            produce(fabric, user, password, topic, [b"probe"])
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
