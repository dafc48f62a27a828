"""The brokers, not the toolkit, cap what a user's topics may cost (issue 27, items 1 and 5).

Every attack is a real account with its own Kafka key talking straight to the broker (a raw
AdminClient, as an attacker would), against the plugin's create-topic and alter-config
policies: a topic of 4,000 partitions, retention forever, tiny segments, unclean election and
a mixed cleanup policy are refused with POLICY_VIOLATION and a message naming the limit; sane
values pass (the positive control: a refusal is the policy, not the harness).
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from diaspora_notebook.fabric.broker.config import TopicLimits
from diaspora_notebook.fabric.fabric import Fabric

from .actors import Actor, actor, fresh_topic

LIMITS = TopicLimits()
BAD_CONFIGS = [
    {"retention.ms": "-1"},
    {"retention.bytes": "-1"},
    {"segment.ms": "1000"},
    {"segment.bytes": str(1 << 20)},
    {"unclean.leader.election.enable": "true"},
    {"cleanup.policy": "compact,delete"},
    {"flush.messages": "1"},  # not a setting users may touch at all
]
SANE_CONFIGS = {"retention.ms": str(3600 * 1000), "max.message.bytes": str(2 << 20),
                "cleanup.policy": "delete", "segment.bytes": str(64 << 20)}


def admin_of(who: Actor) -> AdminClient:
    return AdminClient({
        "bootstrap.servers": ",".join(who.fabric.bootstrap_servers),
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": who.id, "sasl.password": who.key,
        "ssl.ca.location": str(who.fabric.home.ca_cert),
    })


def outcome(futures: dict[Any, Any]) -> KafkaError | None:
    """The one result of an admin call: None when it succeeded, else its error."""
    (future,) = futures.values()
    try:
        future.result(timeout=60)
    except KafkaException as exc:
        error = exc.args[0]
        assert isinstance(error, KafkaError)
        return error
    return None


def refused_by_policy(error: KafkaError | None, *words: str) -> None:
    assert error is not None, "the broker accepted it"
    assert error.code() == KafkaError.POLICY_VIOLATION, error
    for word in words:
        assert word in error.str(), error.str()


@pytest.fixture(scope="module")
def owner(fabric: Fabric) -> Actor:
    return actor(fabric, "policy")


def test_a_topic_of_4000_partitions_is_refused(owner: Actor) -> None:
    topic = fresh_topic("wide")
    owner.register(topic, create=False)
    admin = admin_of(owner)
    error = outcome(admin.create_topics([NewTopic(topic, 4000, 1)], request_timeout=60))
    refused_by_policy(error, "4000", f"max_partitions_per_topic={LIMITS.max_partitions_per_topic}")
    # just over the cap is refused too; at a sane count it is created
    error = outcome(admin.create_topics(
        [NewTopic(topic, LIMITS.max_partitions_per_topic + 1, 1)]))
    refused_by_policy(error, "max_partitions_per_topic")
    assert outcome(admin.create_topics([NewTopic(topic, 2, 1)])) is None
    assert len(admin.list_topics(topic, timeout=30).topics[topic].partitions) == 2


@pytest.mark.parametrize("config", BAD_CONFIGS, ids=lambda c: "=".join(next(iter(c.items()))))
def test_unsafe_configs_are_refused_at_create(owner: Actor, config: dict[str, str]) -> None:
    topic = fresh_topic("cfg")
    owner.register(topic, create=False)
    admin = admin_of(owner)
    refused_by_policy(outcome(admin.create_topics([NewTopic(topic, 1, 1, config=config)])),
                      next(iter(config)))
    assert topic not in admin.list_topics(timeout=30).topics


def test_unsafe_configs_are_refused_by_alter_and_sane_ones_pass(owner: Actor) -> None:
    topic = fresh_topic("alter")
    owner.register(topic, create=False)
    admin = admin_of(owner)
    assert outcome(admin.create_topics([NewTopic(topic, 1, 1, config=SANE_CONFIGS)])) is None
    for config in BAD_CONFIGS:
        key, value = next(iter(config.items()))
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
        refused_by_policy(outcome(admin.incremental_alter_configs([resource])), key)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", str(2 * 3600 * 1000),
                    incremental_operation=AlterConfigOpType.SET)])
    assert outcome(admin.incremental_alter_configs([resource])) is None
    found = outcome(admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]))
    assert found is None


def test_a_topic_cannot_grow_past_the_cap(owner: Actor) -> None:
    """CreatePartitions reaches no broker policy, so owners hold no ALTER (a raw AdminClient is
    refused, past the cap or not); the service's add_partitions route grows a topic, with the
    service's admin identity, within max_partitions_per_topic and refuses past it."""
    topic = fresh_topic("grow")
    owner.register(topic, create=False)
    admin = admin_of(owner)
    assert outcome(admin.create_topics([NewTopic(topic, 1, 1)])) is None
    for total in (LIMITS.max_partitions_per_topic + 1, 4000, 2):
        error = outcome(admin.create_partitions([NewPartitions(topic, total)]))
        assert error is not None, f"the owner grew its topic to {total} partitions itself"
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    over = owner.call("post", "v1/add_partitions",
                      json={"topic": topic, "partitions": LIMITS.max_partitions_per_topic + 1})
    assert over.status_code == 403, over.text
    body = over.json()
    assert body["code"] == "partition_limit_reached"
    assert f"max_partitions_per_topic = {LIMITS.max_partitions_per_topic}" in body["message"]
    assert "topic-limits.json" in body["hint"]
    grown = owner.ok("post", "v1/add_partitions", json={"topic": topic, "partitions": 3})
    assert grown["status"] == "success" and grown["partitions"] == 3
    assert len(admin.list_topics(topic, timeout=30).topics[topic].partitions) == 3
