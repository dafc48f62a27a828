"""Every Kafka call against another user's resources is refused (issue 27's intro: "held"),
kept so that it keeps holding.

An account with its own valid key, but no grant, talks straight to the broker with a raw
AdminClient / producer / consumer (as an attacker would) against another account's topic and
consumer group: topic configs (describe, alter), DeleteRecords, CreatePartitions, DeleteTopics,
ACLs (create, describe), SCRAM credentials (describe, alter the owner's), transactions (a
transactional id), ``__consumer_offsets`` and the owner's group offsets (read, alter, delete).
Each call is refused with an authorization error (or "unknown topic", which hides the name),
and afterwards the owner's topic, data, config, partition count, group offset and key are all
as they were. Bounded: one owner, one attacker, one call of each kind.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)
from kafka.admin import UserScramCredentialUpsertion as KafkaPythonUpsertion
from kafka.errors import KafkaError as KafkaPythonError

from diaspora_notebook.fabric.fabric import Fabric

from .actors import Actor, actor, authenticates, fresh_topic
from .test_broker_policies import admin_of

#: TOPIC_, GROUP_, CLUSTER_, TRANSACTIONAL_ID_AUTHORIZATION_FAILED; unknown topic or
#: partition (the broker hides names one may not describe: 3, librdkafka -188 / -190), and
#: librdkafka's _NOENT "no leaders found" (-156: the metadata of a topic one may not describe
#: names no leader, so the request has nowhere to go)
REFUSED = {29, 30, 31, 53, 3, -188, -190, -156}
EVENTS = [b"one", b"two", b"three"]


def _conf(who: Actor, **extra: Any) -> dict[str, Any]:
    return {"bootstrap.servers": ",".join(who.fabric.bootstrap_servers),
            "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": who.id, "sasl.password": who.key,
            "ssl.ca.location": str(who.fabric.home.ca_cert), **extra}


def _refused(result: Any, what: str) -> None:
    """``result`` (a future, or a dict/list of them) fails with an authorization error."""
    futures = list(result.values()) if isinstance(result, dict) else \
        result if isinstance(result, list) else [result]
    for future in futures:
        try:
            future.result(timeout=60)
        except KafkaException as exc:
            error = exc.args[0]
            code = error.code() if isinstance(error, KafkaError) else None
            assert code in REFUSED, f"{what}: refused for another reason: {error}"
        else:
            raise AssertionError(f"{what}: the broker let another user do it")


@pytest.fixture(scope="module")
def victim(fabric: Fabric) -> tuple[Actor, str, str]:
    owner = actor(fabric, "victim")
    topic = fresh_topic("victim")
    owner.register(topic)
    owner.produce(topic, EVENTS)
    group = f"{topic}/readers"
    consumer = Consumer(_conf(owner, **{"group.id": group, "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    finally:
        consumer.close()
    return owner, topic, group


@pytest.fixture(scope="module")
def attacker(fabric: Fabric) -> Actor:
    return actor(fabric, "attacker")


def test_every_admin_call_on_another_users_topic_is_refused(victim, attacker) -> None:
    owner, topic, _group = victim
    admin = admin_of(attacker)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    _refused(admin.describe_configs([resource]), "describe the topic's configs")
    _refused(admin.incremental_alter_configs([ConfigResource(
        ConfigResource.Type.TOPIC, topic, incremental_configs=[ConfigEntry(
            "retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)])]),
        "alter the topic's retention")
    _refused(admin.delete_records([TopicPartition(topic, 0, 2)]), "DeleteRecords")
    _refused(admin.create_partitions([NewPartitions(topic, 2)]), "CreatePartitions")
    _refused(admin.delete_topics([topic], operation_timeout=30), "DeleteTopics")
    _refused(admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.latest()}),
             "ListOffsets")

    # the owner's view afterwards: all there, unchanged
    own = admin_of(owner)
    (configs,) = own.describe_configs([resource]).values()
    assert configs.result(timeout=60)["retention.ms"].value != "60000"
    assert len(own.list_topics(topic, timeout=30).topics[topic].partitions) == 1
    assert owner.read_all(topic) == EVENTS


def test_acls_scram_and_transactions_of_others_are_refused(victim, attacker) -> None:
    owner, topic, _group = victim
    admin = admin_of(attacker)
    grant = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL,
                       f"User:{attacker.id}", "*", AclOperation.ALL, AclPermissionType.ALLOW)
    _refused(admin.create_acls([grant]), "grant itself the topic (CreateAcls)")
    # DescribeAcls: refused, or at least no ACL of anyone else (who owns what) is shown
    everything = admin.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
        AclPermissionType.ANY))
    try:
        shown = everything.result(timeout=60)
    except KafkaException as exc:
        assert exc.args[0].code() in REFUSED, exc
    else:
        assert not [b for b in shown if b.principal != f"User:{attacker.id}"], \
            "DescribeAcls showed another user's ACLs"
    # SCRAM through kafka-python (librdkafka 2.16 aborts the process on a refused
    # AlterUserScramCredentials)
    with attacker.admin() as raw:
        try:
            described = raw.describe_user_scram_credentials([owner.id])
        except KafkaPythonError as exc:
            assert "Authorization" in type(exc).__name__, exc
        else:
            entries = described.values() if isinstance(described, dict) else described
            assert not [e for e in entries if isinstance(e, dict)
                        and e.get("credential_infos")], f"described: {described!r}"
        try:
            answer = raw.alter_user_scram_credentials([KafkaPythonUpsertion(
                owner.id, "SCRAM-SHA-512", "taken-over", iterations=8192)])
        except KafkaPythonError as exc:
            assert "Authorization" in type(exc).__name__, exc
        else:
            assert answer.get(owner.id), f"the owner's SCRAM was replaced: {answer!r}"
    producer = Producer(_conf(attacker, **{"transactional.id": f"{topic}-tx"}))
    with pytest.raises(KafkaException) as error:
        producer.init_transactions(30)
    assert error.value.args[0].code() in REFUSED, error.value
    # the owner's key still works, and the attacker's grant did not happen
    assert authenticates(owner.fabric, owner.id, owner.key)
    assert not authenticates(owner.fabric, owner.id, "taken-over")
    assert owner.read_all(topic, seconds=2) == EVENTS


def test_consumer_offsets_and_the_owners_groups_are_refused(victim, attacker) -> None:
    owner, topic, group = victim
    admin = admin_of(attacker)
    _refused(admin.list_offsets({TopicPartition("__consumer_offsets", 0):
                                 OffsetSpec.latest()}), "ListOffsets of __consumer_offsets")
    _refused(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)]),
             "read the owner's group offsets")
    _refused(admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, 0, 3)])]), "move the owner's group offset")
    _refused(admin.delete_consumer_groups([group]), "delete the owner's group")
    _refused(admin.describe_consumer_groups([group]), "describe the owner's group")
    consumer = Consumer(_conf(attacker, **{"group.id": f"{attacker.id}-probe",
                                           "enable.auto.commit": False}))
    try:
        consumer.assign([TopicPartition("__consumer_offsets", 0, 0)])
        message = None
        for _ in range(10):
            message = consumer.poll(1.0)
            if message is not None:
                break
        assert message is not None and message.error() is not None, \
            "the attacker read __consumer_offsets"
        assert message.error().code() in REFUSED, message.error()
    finally:
        consumer.close()
    # the owner's group offset is where the owner left it
    own = admin_of(owner)  # held: a collected AdminClient never resolves its futures
    (answer,) = own.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)]).values()
    offsets = answer.result(timeout=60).topic_partitions
    assert [(tp.topic, tp.offset) for tp in offsets] == [(topic, 2)]
