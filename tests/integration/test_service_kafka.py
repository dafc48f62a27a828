"""The service's Kafka side against a REAL broker, checked with real kafka-python clients.

Registration, sharing and keys go through ``kafka_admin.py`` (plus the ownership and key
logic on top of it); every effect is then proven by users connecting over SASL_SSL with
SCRAM-SHA-512, verifying the fabric CA.
"""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)

from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.app import create_app
from diaspora_notebook.fabric.service.auth import get_introspector
from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminGateway
from diaspora_notebook.fabric.service.ownership import TopicAccessManager
from diaspora_notebook.fabric.service.provisioning import KafkaKeyProvisioner
from diaspora_notebook.fabric.service.settings import ServiceSettings

from .kafka_helpers import consume, produce, user_config

SCOPE = "https://auth.example/scopes/svc/all"
DENIED = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)


def _settings(fabric: Any, tmp_path: Any, **overrides: Any) -> ServiceSettings:
    secret = tmp_path / "client.secret"
    secret.write_text("unused")
    secret.chmod(0o600)
    values = dict(bootstrap_servers=list(fabric.bootstrap_servers), admin_username="admin",
                  admin_password_file=fabric.home.admin_password_file,
                  ca_file=fabric.home.ca_cert, auth_url="http://127.0.0.1:1/",
                  client_id="svc", client_secret_file=secret, resource_server="svc",
                  required_scope=SCOPE)
    values.update(overrides)
    return ServiceSettings(**values)


@pytest.fixture
def gateway(fabric, tmp_path):
    gw = KafkaAdminGateway(_settings(fabric, tmp_path))
    yield gw
    gw.close()


def _authenticates(fabric, user, password) -> bool:
    try:
        client = KafkaAdminClient(**user_config(fabric, user, password), bootstrap_timeout_ms=5000)
    except KafkaTimeoutError:  # kafka-python reports a rejected SCRAM login as a bootstrap timeout
        return False
    client.close()
    return True


def _user() -> str:
    return str(uuid.uuid4())


def test_register_share_revoke_with_real_clients(fabric, gateway, topic_name):
    topics = TopicAccessManager(gateway)
    keys = KafkaKeyProvisioner(gateway)
    alice, bob = _user(), _user()
    alice_pw, bob_pw = keys.rotate(alice), keys.rotate(bob)

    assert topics.register(topic_name, alice) == "success"
    assert topics.register(topic_name, alice) == "no-op"
    with pytest.raises(ServiceError) as err:
        topics.register(topic_name, bob)
    assert err.value.code == "topic_owned_by_another"
    assert topics.topics(alice) == [topic_name]

    # the owner creates the topic itself (CREATE on the literal topic), then uses it
    owner_admin = KafkaAdminClient(**user_config(fabric, alice, alice_pw),
                                   bootstrap_timeout_ms=10000)
    try:
        owner_admin.create_topics({topic_name: {"num_partitions": 1, "replication_factor": 1}})
    finally:
        owner_admin.close()
    sent = produce(fabric, alice, alice_pw, topic_name, [b"one", b"two"])
    assert [m.offset for m in sent] == [0, 1]
    assert consume(fabric, alice, alice_pw, topic_name, 2, group=f"{topic_name}/alice") == [
        b"one", b"two"]

    # bob is denied until granted
    with pytest.raises(TopicAuthorizationFailedError):
        produce(fabric, bob, bob_pw, topic_name, [b"intrusion"])
    with pytest.raises(DENIED):
        consume(fabric, bob, bob_pw, topic_name, 1, group=f"{topic_name}/bob", timeout=5)

    assert topics.grant(topic_name, alice, bob) == "success"
    assert topics.users(topic_name, alice).users == [bob]
    assert topics.topics(bob) == [topic_name]
    got = consume(fabric, bob, bob_pw, topic_name, 2, group=f"{topic_name}/{bob}/readers")
    assert got == [b"one", b"two"]
    produce(fabric, bob, bob_pw, topic_name, [b"from-bob"])

    assert topics.revoke(topic_name, alice, bob) == "success"
    assert topics.topics(bob) == []
    with pytest.raises(DENIED):
        consume(fabric, bob, bob_pw, topic_name, 1, group=f"{topic_name}/bob2", timeout=5)

    # unregister deletes the topic with its data, then every ACL: the former owner is denied
    topics.grant(topic_name, alice, bob)
    result = topics.unregister(topic_name, alice)
    assert (result.outcome, result.deleted_topic) == ("success", True)
    assert acls.interpret(topic_name, gateway.topic_acls(topic_name)).entries == []
    assert not gateway.topic_exists(topic_name)
    with pytest.raises(TopicAuthorizationFailedError):
        produce(fabric, alice, alice_pw, topic_name, [b"after"])
    assert topics.unregister(topic_name, alice).outcome == "no-op"


def test_create_key_twice_invalidates_the_first(fabric, gateway):
    keys = KafkaKeyProvisioner(gateway)
    user = _user()
    first = keys.rotate(user)
    assert _authenticates(fabric, user, first)
    second = keys.rotate(user)
    assert second != first
    assert _authenticates(fabric, user, second)
    assert not _authenticates(fabric, user, first)


def test_acls_read_back_match_the_encoding(gateway, topic_name):
    owner, grantee = _user(), _user()
    gateway.create_acls(acls.owner_entries(topic_name, owner)
                        + acls.grantee_entries(topic_name, grantee))
    try:
        state = acls.interpret(topic_name, gateway.topic_acls(topic_name))
        assert state.owners == [owner] and state.grantees == [grantee]
        assert gateway.wait_acls(topic_name, state.entries, [], timeout=5)
        assert acls.topics_of(grantee, gateway.principal_acls(f"User:{grantee}")) == [topic_name]
    finally:
        everything = (acls.owner_entries(topic_name, owner)
                      + acls.grantee_entries(topic_name, grantee))
        gateway.delete_acls(everything)
    # each broker answers DescribeAcls from its own cache: wait until all have caught up
    assert gateway.wait_acls(topic_name, [], everything, timeout=5)
    assert gateway.topic_acls(topic_name) == []


def test_http_routes_against_real_kafka(fabric, tmp_path, topic_name):
    """The app with its real Kafka gateway; only token introspection is stood in for."""
    alice = _user()

    class Introspector:
        def introspect(self, token):
            return {"active": True, "sub": alice, "scope": SCOPE, "aud": ["svc"], "exp": 4e9}

    app = create_app(_settings(fabric, tmp_path), introspector=Introspector())
    app.dependency_overrides[get_introspector] = Introspector
    headers = {"Authorization": "Bearer t"}
    with TestClient(app) as client:
        key = client.post("/v1/create_key", headers=headers).json()
        assert key["username"] == alice and key["endpoint"] == ",".join(fabric.bootstrap_servers)
        r = client.post("/v1/register_topic", headers=headers, json={"topic": topic_name})
        assert r.json()["status"] == "success"
        assert client.get("/v1/list_topics", headers=headers).json()["topics"] == [topic_name]
        cluster = client.get("/v1/cluster", headers=headers).json()
        assert cluster["ca_cert_pem"] == fabric.home.ca_cert.read_text()
        owner_admin = KafkaAdminClient(**user_config(fabric, alice, key["password"]),
                                       bootstrap_timeout_ms=10000)
        try:
            owner_admin.create_topics({topic_name: {"num_partitions": 1,
                                                    "replication_factor": 1}})
        finally:
            owner_admin.close()
        produce(fabric, alice, key["password"], topic_name, [b"via-http"])
        assert client.post("/v1/unregister_topic", headers={**headers, "Topic": topic_name}
                           ).json()["status"] == "success"
        counts = client.get("/metrics").json()["requests"]
        assert counts["POST /v1/register_topic"] == {"200": 1}


def test_unreachable_kafka_is_a_bounded_503(tmp_path, fabric):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = KafkaAdminGateway(_settings(fabric, tmp_path, bootstrap_servers=[f"127.0.0.1:{port}"],
                                     kafka_timeout_seconds=2))
    try:
        start = time.monotonic()
        with pytest.raises(ServiceError) as err:
            gw.topic_acls("anything")
        assert time.monotonic() - start < 6
        assert (err.value.status_code, err.value.code) == (503, "kafka_unavailable")
        # the client is recreated on the next call, still bounded
        with pytest.raises(ServiceError):
            gw.principal_acls("User:x")
    finally:
        gw.close()


def test_gateway_recovers_after_a_failure(gateway, topic_name):
    gateway._reset()  # as after a failure: the next call builds a fresh admin client
    assert gateway.topic_acls(topic_name) == []
