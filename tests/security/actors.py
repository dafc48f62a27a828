"""Identities that attack (and use) the session fabric over its real interfaces.

An :class:`Actor` is a local account with a service access token and its own Kafka key (SCRAM
password), obtained exactly as a user's client would: the IdP's login form, then the web
service's ``create_key``. Kafka calls go straight to the broker over SASL_SSL with the key.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminGateway
from diaspora_notebook.fabric.service.settings import load_settings
from diaspora_notebook.fabric.testing.secrets import remember_secret
from diaspora_notebook.testing.identities import create_identity
from diaspora_notebook.testing.tokens import service_headers, service_token, service_url


@dataclass
class Actor:
    """One identity: ``id`` is its Kafka principal name, ``key`` its SCRAM password."""

    fabric: Fabric
    username: str
    id: str
    token: str
    key: str

    def __repr__(self) -> str:  # never show the token or the key
        return f"Actor({self.username!r})"

    def call(self, method: str, route: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, service_url(self.fabric) + route, timeout=60,
                                headers=service_headers(self.token, **kwargs.pop("headers", {})),
                                **kwargs)

    def ok(self, method: str, route: str, **kwargs: Any) -> dict[str, Any]:
        response = self.call(method, route, **kwargs)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def register(self, topic: str, *, create: bool = True) -> None:
        assert self.ok("post", "v1/register_topic", json={"topic": topic})["status"] == "success"
        if create:
            with self.admin() as admin:
                admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])

    def grant(self, topic: str, other: Actor) -> None:
        assert self.ok("post", "v1/grant_user_access",
                       json={"topic": topic, "user": other.id})["status"] == "success"

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"bootstrap_servers": self.fabric.bootstrap_servers,
                "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": self.id, "sasl_plain_password": self.key,
                "ssl_cafile": str(self.fabric.home.ca_cert), **extra}

    def admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(**self.config(bootstrap_timeout_ms=15000))

    def produce(self, topic: str, values: list[bytes]) -> None:
        producer = KafkaProducer(**self.config(acks="all", max_block_ms=15000))
        try:
            for value in values:
                producer.send(topic, value).get(timeout=30)
        finally:
            producer.close(timeout=10)

    def read_all(self, topic: str, *, seconds: float = 5.0) -> list[bytes]:
        """Every event of ``topic`` from the earliest offset (no group), for ``seconds``."""
        consumer = KafkaConsumer(**self.config(group_id=None, auto_offset_reset="earliest",
                                               enable_auto_commit=False))
        got: list[bytes] = []
        try:
            from kafka import TopicPartition

            partitions = consumer.partitions_for_topic(topic) or set()
            consumer.assign([TopicPartition(topic, p) for p in partitions])
            consumer.seek_to_beginning()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=500).values():
                    got.extend(r.value for r in records)
        finally:
            consumer.close()
        return got


def actor(fabric: Fabric, prefix: str) -> Actor:
    """A new account, logged in, with a fresh Kafka key."""
    ident = create_identity(fabric, prefix=prefix)
    token = service_token(fabric, ident.username, ident.password)
    found = Actor(fabric, ident.username, ident.id, token, "")
    found.key = found.ok("post", "v1/create_key")["password"]
    remember_secret(found.key)
    return found


def authenticates(fabric: Fabric, user: str, password: str) -> bool:
    """Whether a NEW connection logs in with ``user``/``password``."""
    try:
        client = KafkaAdminClient(
            bootstrap_servers=fabric.bootstrap_servers, security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=user,
            sasl_plain_password=password, ssl_cafile=str(fabric.home.ca_cert),
            bootstrap_timeout_ms=5000)
    except KafkaTimeoutError:  # kafka-python reports a refused SCRAM login as a bootstrap timeout
        return False
    client.close()
    return True


def gateway(fabric: Fabric) -> KafkaAdminGateway:
    """The service's own Kafka gateway (admin super user), built from the home's config."""
    return KafkaAdminGateway(load_settings(fabric.home.service_dir / "config.json"))


def fresh_topic(prefix: str = "sec") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
