"""The explorer shows nobody else's topic or group: every explorer call as an outsider is
refused by the broker, and a grantee sees exactly what a grant allows (the messages and its own
groups, ``<topic>/<its id>/...``; not the configs, which need more than READ)."""

from __future__ import annotations

import time

import pytest

from diaspora_notebook import topics
from diaspora_notebook.errors import KafkaAccessDeniedError
from diaspora_notebook.explore.groups import group_name
from diaspora_notebook.kafka.clients import KafkaConsumer
from diaspora_notebook.testing.identities import login


def _commit_group(client, topic: str, group: str) -> None:
    con = KafkaConsumer(topic, client=client, group_id=group, auto_offset_reset="earliest",
                        enable_auto_commit=False)
    try:
        deadline = time.monotonic() + 30
        while not con.assignment() and time.monotonic() < deadline:
            con.poll(timeout_ms=300)
        con.poll(timeout_ms=500)
        con.commit()
    finally:
        con.close()


def test_outsider_gets_one_clear_refusal_per_call(sdk_identity, topic_name, tmp_path):
    alice, mallory = login(sdk_identity("alice")), login(sdk_identity("mallory"))
    topics.register(topic_name, create=True, partitions=2, client=alice)
    try:
        topics.produce(topic_name, [{"secret": i} for i in range(5)], client=alice)
        _commit_group(alice, topic_name, f"{topic_name}/alice-readers")
        calls = {
            "read": lambda: topics.read(topic_name, client=mallory),
            "read kafka-python": lambda: topics.read(topic_name, engine="kafka-python",
                                                     client=mallory),
            "read at a time": lambda: topics.read(topic_name, start="2020-01-01",
                                                  client=mallory),
            "details": lambda: topics.details(topic_name, client=mallory),
            "groups": lambda: topics.groups(topic_name, client=mallory),
            "reset_group": lambda: topics.reset_group(f"{topic_name}/alice-readers",
                                                      client=mallory),
            "schema": lambda: topics.schema(topic_name, client=mallory),
            "export": lambda: topics.export(topic_name, tmp_path / "x.parquet", client=mallory),
        }
        for what, call in calls.items():
            with pytest.raises(KafkaAccessDeniedError) as refused:
                call()
            assert refused.value.topic == topic_name, what
            assert "no access" in str(refused.value) and "secret" not in str(refused.value)
        assert not (tmp_path / "x.parquet").exists()
        # alice's group is untouched and mallory's own topic lists none of alice's groups
        own = f"{topic_name}x"
        topics.register(own, create=True, client=mallory)
        try:
            assert topics.groups(own, client=mallory).empty
        finally:
            topics.unregister(own, client=mallory)
        assert topics.groups(topic_name, client=alice)["committed"].sum() == 5
    finally:
        topics.unregister(topic_name, client=alice)


def test_grantee_sees_what_the_grant_allows(sdk_identity, topic_name):
    alice_id, bob_id = sdk_identity("owner"), sdk_identity("grantee")
    alice, bob = login(alice_id), login(bob_id)
    topics.register(topic_name, create=True, client=alice)
    try:
        topics.produce(topic_name, [{"n": i} for i in range(4)], client=alice)
        with pytest.raises(KafkaAccessDeniedError):
            topics.read(topic_name, client=bob)
        alice.grant_user_access(topic_name, bob_id.id)
        deadline = time.monotonic() + 15
        while True:  # ACLs reach the broker's authorizer asynchronously
            try:
                page = topics.read(topic_name, client=bob)
                break
            except KafkaAccessDeniedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert sorted(page.frame["value.n"]) == [0, 1, 2, 3]
        info = topics.details(topic_name, client=bob)
        assert info.on_broker and info.messages == 4
        assert info.configs == {}  # reading configs needs DESCRIBE_CONFIGS, not granted
        bobs = group_name(topic_name, "bob", client=bob)  # a grantee's: <topic>/<its id>/bob
        assert bobs == f"{topic_name}/{bob_id.id}/bob"
        _commit_group(bob, topic_name, bobs)
        seen = topics.groups(topic_name, client=bob)
        assert list(seen["group"].unique()) == [bobs]
        assert topics.reset_group(bobs, "earliest", client=bob) == {0: 0}
        assert topics.groups(topic_name, client=alice)["lag"].sum() == 4  # the owner sees it
        alice.revoke_user_access(topic_name, bob_id.id)
        deadline = time.monotonic() + 15
        while True:
            try:
                topics.read(topic_name, client=bob)
            except KafkaAccessDeniedError:
                break
            assert time.monotonic() < deadline, "the revoked grantee can still read"
            time.sleep(0.5)
        with pytest.raises(KafkaAccessDeniedError):
            topics.groups(topic_name, client=bob)
    finally:
        topics.unregister(topic_name, client=alice)
