"""v3 isolation on the REAL fabric: a namespace is its owner's alone, v1 and v3 never mix.

Every request is real HTTP with real IdP tokens; effects are checked in Kafka.
"""

from __future__ import annotations

import uuid

import pytest

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.service.acls import principal_of
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminGateway
from diaspora_notebook.fabric.service.ownership import TopicAccessManager
from diaspora_notebook.fabric.service.settings import load_settings
from diaspora_notebook.testing.tokens import service_url
from tests.integration.v3_helpers import V3, v3_user


def _topic() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def _topics(fabric: Fabric) -> set[str]:
    admin = fabric.admin_client()
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


@pytest.fixture
def pair(fabric: Fabric) -> tuple[V3, V3, str]:
    """Alice with a topic holding one record, and Bob with a namespace of his own."""
    alice, _ = v3_user(fabric, "v3owner")
    bob, _ = v3_user(fabric, "v3other")
    alice.create_user()
    bob.create_user()
    topic = _topic()
    assert alice.create_topic(topic)["status"] == "success"
    written = alice.produce(topic, {"value": {"type": "JSON", "data": "secret"}})
    assert written.status_code == 200
    return alice, bob, topic


def test_another_identity_cannot_manage_a_namespace(fabric: Fabric,
                                                    pair: tuple[V3, V3, str]) -> None:
    alice, bob, topic = pair
    refusal = {"status": "failure", "message": f"Namespace {alice.ns} not found for {bob.sub}"}
    assert bob.create_topic("intruder", ns=alice.ns) == refusal
    assert bob.delete_topic(topic, ns=alice.ns) == refusal
    assert bob.recreate_topic(topic, ns=alice.ns) == refusal
    assert f"{alice.ns}.{topic}" in _topics(fabric)
    assert f"{alice.ns}.intruder" not in _topics(fabric)
    assert bob.namespaces()["namespaces"] == {bob.ns: []}
    # deleting Bob touches nothing of Alice's
    bob.delete_user()
    assert alice.namespaces()["namespaces"] == {alice.ns: [topic]}


def test_another_identity_cannot_produce_or_consume(fabric: Fabric,
                                                    pair: tuple[V3, V3, str]) -> None:
    alice, bob, topic = pair
    record = {"value": {"type": "JSON", "data": "forged"}}
    for response in (bob.produce(topic, record, ns=alice.ns),
                     bob.produce_batch(topic, [record], ns=alice.ns)):
        assert response.status_code == 404 and response.json()["error_code"] == 40401
    # Bob's consumer routes are in Bob's namespace: Alice's topic name means nothing there
    created = bob.consumer("readers", {"format": "json", "auto.offset.reset": "earliest"})
    uri = created.json()["base_uri"]
    sub = bob.instance(uri, "POST", "/subscription", {"topics": [topic]})
    assert sub.status_code == 404 and sub.json()["error_code"] == 40401
    assign = bob.instance(uri, "POST", "/assignments",
                          {"partitions": [{"topic": topic, "partition": 0}]})
    assert assign.status_code == 404 and assign.json()["error_code"] == 40401
    pattern = bob.instance(uri, "POST", "/subscription", {"topic_pattern": ".*"})
    assert pattern.status_code == 204
    assert bob.fetch(uri, timeout=1500) == []
    # Alice's instance, same group name, is not Bob's to reach
    mine = alice.consumer("readers", {"name": "only-mine", "format": "json",
                                      "auto.offset.reset": "earliest"}).json()["base_uri"]
    for method, route in (("GET", "/subscription"), ("DELETE", ""), ("POST", "/offsets")):
        stolen = bob.instance(mine, method, route)
        assert stolen.status_code == 404 and stolen.json()["error_code"] == 40403
    assert alice.instance(mine, "POST", "/subscription", {"topics": [topic]}).status_code == 204
    assert [r["value"] for r in alice.fetch_until(mine, 1)] == ["secret"]
    alice.instance(mine, "DELETE", "")
    bob.instance(uri, "DELETE", "")
    # groups are namespaced: Alice's "readers" is <alice ns>.readers, Bob's <bob ns>.readers
    admin = fabric.admin_client()
    try:
        groups = {g[0] if isinstance(g, tuple) else g["group_id"] for g in admin.list_groups()}
    finally:
        admin.close()
    assert f"{alice.ns}.readers" in groups and "readers" not in groups


def test_outsiders_are_refused(fabric: Fabric, pair: tuple[V3, V3, str]) -> None:
    alice, _bob, topic = pair
    for token in (None, "x" * 40, alice.token + "x" if alice.token else "y"):
        outsider = V3(service_url(fabric), token, alice.sub)
        assert outsider.create_topic("outside", ns=alice.ns)["status"] == "error"
        assert outsider.delete_user()["status"] == "error"
        assert outsider.create_key()["status"] == "error"
        response = outsider.produce(topic, {"value": {"type": "JSON", "data": 1}}, ns=alice.ns)
        assert response.status_code == 401 and response.json()["error_code"] == 40101
        response = outsider.consumer("g", {"format": "json"})
        assert response.status_code == 401
    assert alice.namespaces()["namespaces"] == {alice.ns: [topic]}
    # an account that never created its v3 user owns no namespace
    stranger, _ = v3_user(fabric, "v3never")
    assert stranger.create_topic("abc")["status"] == "failure"
    assert stranger.consumer("g", {"format": "json"}).status_code == 404
    assert stranger.namespaces()["namespaces"] == {}


def test_v1_and_v3_side_by_side_see_nothing_of_each_other(fabric: Fabric) -> None:
    alice, identity = v3_user(fabric, "v3both")
    alice.create_user()
    name = _topic()
    assert alice.create_topic(name)["status"] == "success"
    v1 = alice.call("POST", "/v1/register_topic", headers={"Topic": name})
    assert v1.status_code == 200, v1.text
    # v1 sees only its literal topic; v3 sees only the namespace's
    assert alice.call("GET", "/v1/list_topics").json()["topics"] == [name]
    assert alice.namespaces()["namespaces"] == {alice.ns: [name]}
    # v1 cannot take a namespaced name, so a v1 topic never falls under <ns>. ACLs
    for reserved in (f"{alice.ns}.{name}", f"{alice.ns}.other", "ns-000000000000.x"):
        refused = alice.call("POST", "/v1/register_topic", headers={"Topic": reserved})
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_topic_name"
    # the operator's orphan sweep never offers a v3 topic for purging
    settings = load_settings(fabric.home.service_dir / "config.json")
    gateway = KafkaAdminGateway(settings)
    try:
        assert not [t for t in TopicAccessManager(gateway).orphans() if t.startswith("ns-")]
        # deleting the v3 user leaves the v1 topic and its ACLs
        alice.delete_user()
        assert alice.call("GET", "/v1/list_topics").json()["topics"] == [name]
        left = gateway.principal_acls(principal_of(identity.id))
        assert left and all(e.resource_name in (name, name + "/") for e in left)
    finally:
        gateway.close()
    assert alice.call("POST", "/v1/unregister_topic", headers={"Topic": name}).status_code == 200
