"""No event written under one owner of a topic name is readable by a later owner.

Issue 11 item 3. ``unregister_topic`` used to drop the ACLs only: the events stayed on the
brokers and the next registrant of the name read them. Now unregistering deletes the topic, and
a name that exists on the brokers without an owner is refused until the operator purges it.
"""

from __future__ import annotations

import time

from diaspora_notebook.fabric import cli

from .actors import actor, fresh_topic, gateway


def test_unregister_deletes_the_events_and_the_next_owner_reads_nothing(fabric):
    first, second = actor(fabric, "rem-first"), actor(fabric, "rem-second")
    topic = fresh_topic("rem")
    first.register(topic)
    first.produce(topic, [b"first owner's secret 1", b"first owner's secret 2"])
    assert len(first.read_all(topic, seconds=2)) == 2

    answer = first.ok("post", "v1/unregister_topic", json={"topic": topic})
    assert answer["status"] == "success"
    assert "the topic and all its events were deleted" in answer["message"]

    second.register(topic)  # allowed: the name is gone from the brokers
    assert second.read_all(topic, seconds=4) == []
    second.produce(topic, [b"second owner's event"])
    # a new log: offsets restart at 0, so nothing of the old one survives
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**second.config())
    try:
        tp = TopicPartition(topic, 0)
        assert (consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]) == (0, 1)
    finally:
        consumer.close()
    assert second.read_all(topic, seconds=2) == [b"second owner's event"]


def test_an_orphan_topic_blocks_registration_until_the_operator_purges_it(fabric, capsys):
    from kafka.admin import NewTopic

    user = actor(fabric, "rem-user")
    orphan = fresh_topic("rem-orphan")
    admin = fabric.admin_client()
    try:
        admin.create_topics([NewTopic(orphan, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    from kafka import KafkaProducer

    producer = KafkaProducer(**fabric.admin_config(), acks="all")
    producer.send(orphan, b"left behind by someone").get(timeout=30)
    producer.close(timeout=10)

    refused = user.call("post", "v1/register_topic", json={"topic": orphan})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "topic_exists_unowned" and "no owner" in body["message"]
    assert f"diaspora-fabric topic purge {orphan}" in body["hint"]

    home = str(fabric.home.root)
    assert cli.main(["topic", "orphans", "--home", home]) == 0
    assert orphan in capsys.readouterr().out.split()

    # the operator may not purge a topic that has an owner
    owned = fresh_topic("rem-owned")
    user.register(owned)
    assert cli.main(["topic", "purge", owned, "--home", home]) == 1
    err = capsys.readouterr().err
    assert f"topic {owned!r} is registered to {user.id}" in err and "user remove" in err

    assert cli.main(["topic", "purge", orphan, "--home", home]) == 0
    out = capsys.readouterr().out
    assert f"deleted topic {orphan} and all its events" in out
    gw = gateway(fabric)
    try:
        assert not gw.topic_exists(orphan)
    finally:
        gw.close()
    user.register(orphan)
    assert user.read_all(orphan, seconds=3) == []
    # purging a name that is not on the brokers is harmless and says so
    assert cli.main(["topic", "purge", fresh_topic("rem-none"), "--home", home]) == 0
    assert "does not exist on the brokers" in capsys.readouterr().out


def test_the_next_owner_finds_no_group_or_offsets_of_the_old_topic(fabric):
    """Groups, and offsets (with their free-text metadata) committed under the old owner, do
    not survive."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from diaspora_notebook.explore.groups import group_name

    first, second = actor(fabric, "rem-off1"), actor(fabric, "rem-off2")
    topic = fresh_topic("rem-off")
    group = group_name(topic, "readers")
    tp = TopicPartition(topic, 0)
    first.register(topic)
    first.produce(topic, [b"e1", b"e2", b"e3"])
    consumer = KafkaConsumer(**first.config(group_id=group, enable_auto_commit=False))
    try:
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(3, "first owner's note", -1)})
    finally:
        consumer.close(autocommit=False)
    first.ok("post", "v1/unregister_topic", json={"topic": topic})

    second.register(topic)
    with second.admin() as admin:
        # the old owner's group is gone, not only its offsets: its name is not the next
        # owner's to see (the prefix ACL would show it)
        assert [g for g in admin.list_groups() if g["group_id"].startswith(topic + "/")] == []
        offsets = admin.list_group_offsets({group: [tp]})
    found = offsets.get(group, {}).get(tp)
    assert found is None or found.offset == -1, found
    second.produce(topic, [b"new"])
    consumer = KafkaConsumer(topic, **second.config(group_id=group, enable_auto_commit=False,
                                                    auto_offset_reset="earliest"))
    try:
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got += [r.value for r in records]
    finally:
        consumer.close(autocommit=False)
    assert got == [b"new"]  # not skipped by an offset committed on the old topic


def test_a_name_whose_old_group_still_has_members_is_not_handed_over_until_they_leave(fabric):
    """The first owner's consumer is still in its group when the topic is unregistered: the
    next registrant is refused (the group is counted, never named) until the member is gone,
    and then finds no group of the first owner."""
    from kafka import KafkaConsumer

    from diaspora_notebook.explore.groups import group_name

    first, second = actor(fabric, "rem-busy1"), actor(fabric, "rem-busy2")
    topic = fresh_topic("rem-busy")
    first.register(topic)
    first.produce(topic, [b"e1"])
    consumer = KafkaConsumer(topic, **first.config(
        group_id=group_name(topic, "secret-dashboard"), session_timeout_ms=6000,
        heartbeat_interval_ms=1000, auto_offset_reset="earliest", enable_auto_commit=False))
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=500)
        assert consumer.assignment(), "the first owner's consumer never joined its group"
        first.ok("post", "v1/unregister_topic", json={"topic": topic})

        refused = second.call("post", "v1/register_topic", json={"topic": topic})
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["code"] == "previous_groups_active"
        assert "secret-dashboard" not in refused.text  # counted, not named
    finally:
        consumer.close(autocommit=False)  # without access it may not even leave: it times out

    deadline = time.monotonic() + 60
    while True:
        answer = second.call("post", "v1/register_topic", json={"topic": topic})
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        assert answer.json()["code"] == "previous_groups_active", answer.text
        time.sleep(1.0)
    assert answer.status_code == 200, answer.text
    with second.admin() as admin:
        assert [g for g in admin.list_groups() if g["group_id"].startswith(topic + "/")] == []
