"""The Kafka wrappers against the real fabric: isolation, key rotation, no extra service calls."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import requests

from diaspora_notebook.errors import KafkaAuthenticationError
from diaspora_notebook.kafka.clients import KafkaAdmin, KafkaConsumer, KafkaProducer, NewTopic
from diaspora_notebook.testing.identities import login


def _create(client, topic):
    client.register_topic(topic)
    client.block_until_ready(timeout=30)
    admin = KafkaAdmin(client=client)
    try:
        admin.create_topics(new_topics=[NewTopic(name=topic, num_partitions=1,
                                                 replication_factor=1)])
    finally:
        admin.close()


def _run(env, code, timeout=120):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_another_identity_cannot_use_my_topic(sdk_identity, topic_name):
    alice_id, bob_id = sdk_identity("alice"), sdk_identity("bob")
    alice = login(alice_id)
    _create(alice, topic_name)
    producer = KafkaProducer(client=alice)
    producer.send(topic_name, {"secret": "alice's"}).get(timeout=30)
    producer.close(timeout=10)

    result = _run(bob_id.subprocess_env(), f"""
        import json
        from diaspora_notebook import Client, KafkaProducer, KafkaConsumer, DiasporaError
        out = {{"me": Client().subject_openid}}
        producer = KafkaProducer()
        try:
            producer.send({topic_name!r}, {{"from": "bob"}}).get(timeout=10)
            out["produce"] = "sent"
        except DiasporaError as exc:
            out["produce"] = exc.one_line()
            out["produce_type"] = type(exc).__name__
        producer.close(timeout=5)
        got = []
        try:
            consumer = KafkaConsumer({topic_name!r}, auto_offset_reset="earliest",
                                     consumer_timeout_ms=5000)
            got = [m.value.decode() for m in consumer]
            out["consume"] = "ended"
        except Exception as exc:
            out["consume"] = type(exc).__name__
        out["got"] = got
        print(json.dumps(out))
    """)
    assert result["me"] == bob_id.id
    assert result["produce_type"] == "KafkaAccessDeniedError"
    assert topic_name in result["produce"] and "grant" in result["produce"]
    assert result["got"] == []
    alice.unregister_topic(topic_name)


def test_key_rotation(sdk_identity, topic_name):
    alice = login(sdk_identity("alice"))
    _create(alice, topic_name)
    old = alice.retrieve_key()
    new = alice.create_key()
    assert new["password"] != old["password"]
    assert alice.retrieve_key()["password"] == new["password"]  # the cache was replaced
    alice.block_until_ready(timeout=30)
    producer = KafkaProducer(client=alice)
    producer.send(topic_name, {"n": 1}).get(timeout=30)
    producer.close(timeout=10)
    with pytest.raises(KafkaAuthenticationError) as info:
        KafkaProducer(client=alice, sasl_plain_password=old["password"],
                      bootstrap_timeout_ms=5000)
    assert "create_key" in info.value.hint or "retrieve_key" in info.value.hint
    consumer = KafkaConsumer(topic_name, client=alice, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000)
    assert [json.loads(m.value) for m in consumer] == [{"n": 1}]
    consumer.close()
    alice.unregister_topic(topic_name)


def _service_calls(service_url: str) -> int:
    counts = requests.get(service_url + "metrics", timeout=10).json()["requests"]
    return sum(sum(by_status.values()) for route, by_status in counts.items()
               if " /v1/" in route)


def test_a_hundred_producers_make_at_most_one_service_call(sdk_identity, fabric):
    alice_id = sdk_identity("alice")
    service_url = fabric.describe()["service"]["url"]
    result = _run(alice_id.subprocess_env(), f"""
        import json, requests
        from diaspora_notebook import Client, KafkaProducer

        def calls():
            counts = requests.get({service_url!r} + "metrics", timeout=10).json()["requests"]
            return sum(sum(v.values()) for k, v in counts.items() if " /v1/" in k)

        Client().subject_openid          # log in (IdP only)
        before = calls()
        for _ in range(100):
            KafkaProducer().close(timeout=5)
        print(json.dumps({{"calls": calls() - before}}))
    """, timeout=300)
    assert result["calls"] <= 1
    # and the cache makes the next process need none at all
    before = _service_calls(service_url)
    _run(alice_id.subprocess_env(), """
        from diaspora_notebook import KafkaProducer
        KafkaProducer().close(timeout=5)
        print("{}")
    """)
    assert _service_calls(service_url) - before == 0


def test_create_partitions_goes_through_the_service_within_the_cap(sdk_identity, topic_name):
    """Owners hold no ALTER (CreatePartitions reaches no broker policy): the seed's
    ``KafkaAdmin.create_partitions`` asks the service's add_partitions route, which grows the
    topic within max_partitions_per_topic and refuses past it, naming the limit."""
    from diaspora_notebook.errors import AccessDeniedError

    alice = login(sdk_identity("alice"))
    _create(alice, topic_name)
    admin = KafkaAdmin(client=alice)
    try:
        answer = admin.create_partitions({topic_name: 3})
        assert answer[topic_name]["status"] == "success"
        assert len(admin.describe_topics([topic_name])[0]["partitions"]) == 3
        cap = answer[topic_name]["max_partitions"]
        with pytest.raises(AccessDeniedError) as refused:
            admin.create_partitions({topic_name: cap + 1})
        assert f"max_partitions_per_topic = {cap}" in str(refused.value)
        assert "topic-limits.json" in refused.value.one_line()
        assert len(admin.describe_topics([topic_name])[0]["partitions"]) == 3
    finally:
        admin.close()
        alice.unregister_topic(topic_name)
