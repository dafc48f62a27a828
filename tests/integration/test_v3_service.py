"""The v3 API beside v1, against the REAL processes of a local fabric.

Identities log in at the fabric's identity provider (PKCE through the unmodified globus-sdk,
or client credentials), call the v3 routes over HTTP on 127.0.0.1 with those tokens, and the
effects are checked in Kafka (topics, ACLs) and in the IAM key store the broker plugin reads.
"""

from __future__ import annotations

import base64
import json
import stat
import time
import uuid
from typing import Any

import globus_sdk
import pytest

from diaspora_notebook.fabric import webapps
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.service.settings import load_settings
from diaspora_notebook.fabric.service.v3.consumers import ConsumerRegistry
from diaspora_notebook.fabric.service.v3.errors import RestError
from diaspora_notebook.fabric.service.v3.records import kafka_client_config
from diaspora_notebook.fabric.testing.accounts import new_confidential_client
from diaspora_notebook.naming import namespace_of
from diaspora_notebook.testing.tokens import fabric_environment, service_url
from tests.integration.v3_helpers import V3, v3_user

SDK_SCOPE = ("https://auth.globus.org/scopes/2b9d2f5c-fa32-45b5-875b-b24cd343b917/"
             "action_all")


def _topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _key_store(fabric: Fabric) -> dict[str, Any]:
    path = fabric.home.secrets_dir / webapps.IAM_KEY_STORE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _kafka_topics(fabric: Fabric) -> set[str]:
    admin = fabric.admin_client()
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


@pytest.fixture
def alice(fabric: Fabric) -> V3:
    client, _identity = v3_user(fabric, "v3alice")
    return client


def test_service_scope_is_the_sdk_resource_server(fabric: Fabric) -> None:
    """The SDK keeps only the token for resource server 2b9d2f5c-...: the IdP issues it."""
    assert fabric.describe()["service"]["scope"] == SDK_SCOPE
    client_id, secret = new_confidential_client(fabric, "v3-cc")
    auth = globus_sdk.ConfidentialAppAuthClient(client_id, secret,
                                                environment=fabric_environment(fabric))
    tokens = auth.oauth2_client_credentials_tokens([SDK_SCOPE])
    data = tokens.by_resource_server[webapps.DIASPORA_SERVICE_CLIENT_ID]
    assert data["scope"] == SDK_SCOPE
    openid = auth.oauth2_client_credentials_tokens(["openid"])
    userinfo = globus_sdk.AuthClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(
            openid.by_resource_server["auth.globus.org"]["access_token"]),
        environment=fabric_environment(fabric)).userinfo()
    assert userinfo["sub"] == client_id  # a client's identity is its id, as in Globus
    v3 = V3(service_url(fabric), data["access_token"], client_id)
    created = v3.create_user()
    assert created == {"status": "success", "subject": client_id,
                       "namespace": namespace_of(client_id),
                       "message": f"User {client_id} created with namespace "
                                  f"{namespace_of(client_id)}"}
    assert v3.delete_user()["status"] == "success"


def test_user_key_namespace_and_topic_lifecycle(fabric: Fabric, alice: V3) -> None:
    ns = alice.ns
    assert alice.namespaces() == {"status": "success", "namespaces": {},
                                  "message": f"Found 0 namespaces for {alice.sub}"}
    assert alice.create_topic("early")["message"] == f"Namespace {ns} not found for {alice.sub}"
    assert alice.create_user()["namespace"] == ns
    assert alice.create_user()["status"] == "success"  # idempotent
    assert alice.namespaces()["namespaces"] == {ns: []}

    topic = _topic()
    created = alice.create_topic(topic)
    assert created == {"status": "success", "message": f"Topic {topic} created in {ns}",
                       "topics": [topic]}
    assert f"{ns}.{topic}" in _kafka_topics(fabric)
    assert alice.create_topic(topic)["message"] == f"Topic {topic} already exists in {ns}"
    for bad, rule in (("ab", "between 3 and 32"), ("a.bc", "letters, numbers"),
                      ("-abc", "start or end"), ("x" * 33, "between 3 and 32")):
        body = alice.create_topic(bad)
        assert body["status"] == "failure" and rule in body["message"], body
    assert alice.namespaces()["namespaces"] == {ns: [topic]}

    key = alice.create_key()
    assert key["status"] == "success" and key["fresh"] is True
    assert key["access_key"].startswith("AKIA") and len(key["access_key"]) == 20
    assert key["endpoint"]
    again = alice.create_key()
    assert again["fresh"] is False and again["access_key"] == key["access_key"]
    assert again["secret_key"] == key["secret_key"]
    assert again["message"] == f"Access key already exists for {alice.sub}"
    entry = _key_store(fabric)["keys"][key["access_key"]]
    assert entry == {"secret": key["secret_key"], "principal": f"User:{alice.sub}",
                     "subject": alice.sub, "namespace": ns, "created": key["create_date"]}

    assert alice.recreate_topic(topic) == {"status": "success", "message": "Topic recreated"}
    assert alice.recreate_topic("nothere")["message"] == f"Topic nothere not found in {ns}"
    deleted = alice.delete_topic(topic)
    assert deleted == {"status": "success", "message": f"Topic {topic} deleted from {ns}",
                       "topics": []}
    assert alice.delete_topic(topic)["message"] == f"Topic {topic} not found in {ns}"
    assert f"{ns}.{topic}" not in _kafka_topics(fabric)

    assert alice.delete_key() == {"status": "success",
                                  "message": f"Access key deleted for {alice.sub}"}
    assert key["access_key"] not in _key_store(fabric)["keys"]
    assert alice.create_key()["fresh"] is True

    last = _topic()
    alice.create_topic(last)
    assert alice.delete_user() == {"status": "success", "message": f"User {alice.sub} deleted"}
    assert alice.namespaces()["namespaces"] == {}
    assert not [t for t in _kafka_topics(fabric) if t.startswith(ns + ".")]
    assert not [k for k in _key_store(fabric)["keys"].values() if k["subject"] == alice.sub]


def test_management_auth_failures_have_the_hosted_shape(fabric: Fabric, alice: V3) -> None:
    anonymous = V3(service_url(fabric), None, alice.sub)
    assert anonymous.create_user() == {"status": "error",
                                       "reason": 'Auth token must start with "Bearer ".'}
    forged = V3(service_url(fabric), "A" * 40, alice.sub)
    assert forged.create_user() == {"status": "error", "reason": "Token is inactive."}
    other = V3(service_url(fabric), alice.token, str(uuid.uuid4()))
    assert other.create_user() == {"status": "error",
                                   "reason": "Token does not belong to the user."}
    response = anonymous.produce("abc", {"value": {"type": "JSON", "data": 1}})
    assert response.status_code == 401 and response.json()["error_code"] == 40101


def test_produce_and_consume_over_rest(fabric: Fabric, alice: V3) -> None:
    alice.create_user()
    topic = _topic()
    alice.create_topic(topic)
    one = alice.produce(topic, {
        "key": {"type": "STRING", "data": "job-42"}, "value": {"type": "JSON", "data": {"a": 1}},
        "headers": [{"name": "trace", "value": "AAE="}, {"name": "n", "value": None}],
        "timestamp": "2026-03-01T00:00:00+00:00"})
    assert one.status_code == 200, one.text
    body = one.json()
    assert (body["topic_name"], body["partition_id"], body["offset"]) == (topic, 0, 0)
    assert body["timestamp"] == "2026-03-01T00:00:00Z"
    assert body["value"] == {"type": "JSON", "size": len(b'{"a":1}')}

    batch = alice.produce_batch(topic, [
        {"id": "2", "value": {"type": "JSON", "data": "done"}},
        {"id": "3", "key": {"type": "JSON", "data": 5},
         "value": {"type": "BINARY", "data": base64.b64encode(b"\x00\xff").decode()}},
        {"id": "4", "value": {"type": "STRING", "data": "plain text"}},
        {"id": "bad", "value": {"type": "JSON", "data": 1}, "timestamp": "2026-03-01T00:00:00"},
    ])
    assert batch.status_code == 207, batch.text
    result = batch.json()
    assert [s["id"] for s in result["successes"]] == ["2", "3", "4"]
    assert [s["offset"] for s in result["successes"]] == [1, 2, 3]
    assert [(f["id"], f["error_code"]) for f in result["failures"]] == [("bad", 40005)]
    too_many = alice.produce_batch(topic, [{"value": {"type": "JSON", "data": i}}
                                           for i in range(501)])
    assert too_many.status_code == 400 and too_many.json()["error_code"] == 40002
    empty = alice.produce(topic, {"headers": []})
    assert empty.status_code == 400 and empty.json()["error_code"] == 40002
    missing = alice.produce("not-a-topic", {"value": {"type": "JSON", "data": 1}})
    assert missing.status_code == 404 and missing.json()["error_code"] == 40401

    group = f"g-{uuid.uuid4().hex[:8]}"
    created = alice.consumer(group, {"name": "demo-inst", "format": "json",
                                     "auto.offset.reset": "earliest",
                                     "consumer.request.timeout.ms": 2000})
    assert created.status_code == 200, created.text
    uri = created.json()["base_uri"]
    assert uri == f"{alice.base}/api/v2/consumers/{group}/instances/demo-inst"
    dup = alice.consumer(group, {"name": "demo-inst", "format": "json"})
    assert dup.status_code == 409 and dup.json()["error_code"] == 40902
    assert alice.instance(uri, "POST", "/subscription", {"topics": [topic]}).status_code == 204
    assert alice.instance(uri, "GET", "/subscription").json() == {"topics": [topic]}
    gone_topic = alice.instance(uri, "POST", "/subscription", {"topics": ["nope-nope"]})
    assert gone_topic.status_code == 404 and gone_topic.json()["error_code"] == 40401
    no_accept = alice.call("GET", uri + "/records", headers={"Accept": "application/json"})
    assert no_accept.status_code == 406

    records = alice.fetch_until(uri, 4)
    assert [r["offset"] for r in records] == [0, 1, 2, 3]
    assert records[0]["key"] == "job-42" and records[0]["value"] == {"a": 1}
    assert records[0]["topic"] == topic and records[0]["partition"] == 0
    # kafka-python's producer cannot write a null header value: it arrives empty
    assert records[0]["headers"] == [{"name": "trace", "value": "AAE="},
                                     {"name": "n", "value": ""}]
    assert records[1]["value"] == "done" and records[2]["key"] == 5
    assert records[3]["value"] == "plain text"

    commit = alice.instance(uri, "POST", "/offsets")
    assert commit.status_code == 200 and commit.json() == []
    part = {"partitions": [{"topic": topic, "partition": 0}]}
    offsets = alice.instance(uri, "GET", "/offsets", part).json()["offsets"]
    assert [(o["topic"], o["offset"]) for o in offsets] == [(topic, 4)]
    assert alice.instance(uri, "POST", "/offsets",
                          {"offsets": [{"topic": topic, "partition": 0, "offset": 1}]}
                          ).json() == []
    assert alice.instance(uri, "GET", "/offsets", part).json()["offsets"][0]["offset"] == 2

    assert alice.instance(uri, "POST", "/positions/beginning", {"partitions": []}
                          ).status_code == 204
    assert [r["offset"] for r in alice.fetch_until(uri, 4)] == [0, 1, 2, 3]
    assert alice.instance(uri, "POST", "/positions",
                          {"offsets": [{"topic": topic, "partition": 0, "offset": 2}]}
                          ).status_code == 204
    assert [r["offset"] for r in alice.fetch_until(uri, 2)] == [2, 3]
    assert alice.instance(uri, "POST", "/positions/end", {"partitions": []}).status_code == 204
    assert alice.fetch(uri, timeout=500) == []
    budget = alice.instance(uri, "POST", "/positions/beginning", {"partitions": []})
    assert budget.status_code == 204
    assert len(alice.fetch(uri, max_bytes=1)) == 1  # the first record even if larger

    assert alice.instance(uri, "DELETE", "/subscription").status_code == 204
    assert alice.instance(uri, "POST", "/assignments", part).status_code == 204
    assert alice.instance(uri, "GET", "/assignments").json() == {
        "partitions": [{"topic": topic, "partition": 0}]}
    unassigned = alice.instance(uri, "POST", "/offsets",
                                {"offsets": [{"topic": topic, "partition": 7, "offset": 0}]})
    assert unassigned.status_code == 409 and unassigned.json()["error_code"] == 40903

    assert alice.instance(uri, "DELETE", "").status_code == 204
    after = alice.instance(uri, "GET", "/subscription")
    assert after.status_code == 404
    assert after.json()["error_code"] == 40403
    assert after.headers["content-type"].startswith("application/")

    binary = alice.consumer(group + "-bin", {"format": "binary",
                                             "auto.offset.reset": "earliest"})
    buri = binary.json()["base_uri"]
    alice.instance(buri, "POST", "/subscription", {"topics": [topic]})
    found = alice.fetch_until(buri, 4, fmt="binary")
    assert base64.b64decode(found[0]["value"]) == b'{"a":1}'
    assert base64.b64decode(found[2]["value"]) == b"\x00\xff"
    # at most 4 instances per user
    extra = [alice.consumer(group, {"format": "binary"}) for _ in range(4)]
    assert [r.status_code for r in extra] == [200, 200, 200, 409]
    assert extra[-1].json()["error_code"] == 40904
    for response in [binary, *extra[:3]]:
        alice.instance(response.json()["base_uri"], "DELETE", "")
    alice.delete_user()


def test_idle_instances_are_dropped(fabric: Fabric) -> None:
    """The reaper closes an instance idle for longer than its timeout (5 min in service)."""
    settings = load_settings(fabric.home.service_dir / "config.json")
    registry = ConsumerRegistry(lambda: kafka_client_config(settings),
                                topic_exists=lambda _t: True, idle_seconds=1.0)
    try:
        instance = registry.create("ns-000000000000", "sub", "g", {"format": "binary"})
        registry.get("ns-000000000000", "g", instance.instance_id)
        time.sleep(3.0)  # the reaper runs every idle_seconds / 2
        with pytest.raises(RestError) as info:
            registry.get("ns-000000000000", "g", instance.instance_id)
        assert (info.value.status, info.value.error_code) == (404, 40403)
    finally:
        registry.close()
