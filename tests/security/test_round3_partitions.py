"""Partitions per user, enforced by the brokers (issue 27 item 1), and each limit a toolkit
user can hit is one clear error naming the limit and how to raise it (item "Each refusal...").

The service allots every registration a share of its owner's partition budget
(``max_partitions_per_user``) and writes it to the file the brokers' create-topic policy reads:
a raw AdminClient with the user's own key is refused (POLICY_VIOLATION) past its share, the
next registration is refused once the budget is spent, and growth through ``add_partitions``
counts against the same budget. Bounded: one account, a budget of 10 partitions, a handful of
calls.
"""

from __future__ import annotations

import pytest
from confluent_kafka.admin import NewTopic as RawNewTopic

from diaspora_notebook import topics
from diaspora_notebook.errors import LimitReachedError, TopicLimitError
from diaspora_notebook.fabric.broker.config import TopicLimits
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.limits_cli import user_limits
from diaspora_notebook.kafka.clients import KafkaAdmin, NewTopic
from diaspora_notebook.testing.identities import create_identity

from .actors import actor, fresh_topic
from .test_broker_policies import admin_of, outcome, refused_by_policy

BUDGET = 10
PER_TOPIC = TopicLimits().max_partitions_per_topic


def test_a_users_partitions_are_capped_by_the_brokers(fabric: Fabric) -> None:
    owner = actor(fabric, "budget")
    assert user_limits(fabric.home, owner.username, max_partitions=BUDGET).max_partitions \
        == BUDGET
    try:
        first, second, third = (fresh_topic("budget") for _ in range(3))
        owner.register(first, create=False)
        raw = admin_of(owner)
        # under the per-topic cap, over this registration's share of the user's budget
        refused_by_policy(outcome(raw.create_topics([RawNewTopic(first, BUDGET + 1, 1)])),
                          f"at most {BUDGET}", f"max_partitions_per_user={BUDGET}")
        assert outcome(raw.create_topics([RawNewTopic(first, 4, 1)])) is None
        # created with 4: the next registration gets what is left (6), no more
        owner.register(second, create=False)
        refused_by_policy(outcome(raw.create_topics([RawNewTopic(second, 7, 1)])),
                          "at most 6")
        # the second's 6 stay reserved until it is created: the budget is spent
        refused = owner.call("post", "v1/register_topic", json={"topic": third})
        assert refused.status_code == 403, refused.text
        body = refused.json()
        assert body["code"] == "partition_budget_reached"
        assert f"max_partitions_per_user = {BUDGET}" in body["message"]
        assert "--max-partitions" in body["hint"]
        assert outcome(raw.create_topics([RawNewTopic(second, 2, 1)])) is None
        # growth counts too: 4 + 2 in use, so the first may grow to 8, not to 9
        over = owner.call("post", "v1/add_partitions", json={"topic": first, "partitions": 9})
        assert over.status_code == 403 and over.json()["code"] == "partition_budget_reached"
        assert owner.ok("post", "v1/add_partitions",
                        json={"topic": first, "partitions": 8})["partitions"] == 8
        # giving a topic up gives its partitions back
        owner.ok("post", "v1/unregister_topic", json={"topic": second})
        owner.register(third, create=False)
    finally:
        user_limits(fabric.home, owner.username, reset=True)


def test_each_limit_is_one_toolkit_error_naming_it(fabric: Fabric, tmp_path) -> None:
    identity = create_identity(fabric, tmp_path / "user", prefix="limits")
    client = identity.client()
    client.login()
    client.create_key()
    topic = fresh_topic("tk")
    client.register_topic(topic)

    # partitions per topic, at create (the brokers' policy): topics.create and the seed's admin
    with pytest.raises(TopicLimitError) as error:
        topics.create(topic, partitions=PER_TOPIC + 1, client=client)
    assert f"max_partitions_per_topic={PER_TOPIC}" in str(error.value)
    assert "topic-limits.json" in error.value.hint
    admin = KafkaAdmin(client=client)
    try:
        with pytest.raises(TopicLimitError) as error:
            admin.create_topics([NewTopic(topic, 4000, 1)])
        assert "4000" in str(error.value) and "max_partitions_per_topic" in str(error.value)
        topics.create(topic, partitions=1, client=client)
        # partitions per topic, at growth (the service's add_partitions route)
        with pytest.raises(LimitReachedError) as grown:
            admin.create_partitions({topic: PER_TOPIC + 1})
        assert grown.value.code == "partition_limit_reached"
        assert f"max_partitions_per_topic = {PER_TOPIC}" in str(grown.value)
        assert grown.value.hint
    finally:
        admin.close()

    # partitions per user (the service's budget)
    user_limits(fabric.home, identity.username, max_partitions=1)
    try:
        with pytest.raises(LimitReachedError) as budget:
            client.register_topic(fresh_topic("tk"))
        assert budget.value.code == "partition_budget_reached"
        assert "max_partitions_per_user = 1" in str(budget.value)
        assert "diaspora-fabric user limits" in budget.value.hint
        # topics per user
        user_limits(fabric.home, identity.username, max_topics=1, max_partitions=100)
        with pytest.raises(LimitReachedError) as count:
            client.register_topic(fresh_topic("tk"))
        assert count.value.code == "topic_limit_reached"
        assert "max_topics_per_user = 1" in str(count.value)
        assert "diaspora-fabric user limits" in count.value.hint
        assert count.value.one_line().startswith("LimitReachedError: could not register")
    finally:
        user_limits(fabric.home, identity.username, reset=True)
