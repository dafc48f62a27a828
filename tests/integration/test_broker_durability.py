"""`down` then `up` keeps topics, messages, SCRAM users and ACLs; `down` leaves no JVM."""

from __future__ import annotations

from collections.abc import Callable

from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePatternFilter,
    ResourceType,
)

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.launcher import tagged_processes

from .kafka_helpers import (
    allow_topic_owner,
    consume,
    create_user,
    produce,
    wait_until_writable,
)


def test_down_then_up_keeps_topics_messages_users_and_acls(own_fabric: Callable[..., Fabric],
                                                           topic_name: str) -> None:
    fabric = own_fabric()  # stopped below: never the session fabric other tests share
    admin = fabric.admin_client()
    try:
        create_user(admin, "durable-carol", "carol-password-0123456789")
        admin.create_topics({topic_name: {"num_partitions": 2, "replication_factor": 1}})
        allow_topic_owner(admin, "durable-carol", topic_name)
    finally:
        admin.close()
    # a fresh fabric applies new ACLs asynchronously: probe (one b"probe" event) first
    wait_until_writable(fabric, "durable-carol", "carol-password-0123456789", topic_name)
    produce(fabric, "durable-carol", "carol-password-0123456789", topic_name,
            [f"before-{i}".encode() for i in range(10)])
    ports_before = fabric.bootstrap_servers

    stopped = fabric.down()
    assert "broker-1" in stopped
    assert tagged_processes(str(fabric.home.root)) == []
    fabric.up()

    assert fabric.bootstrap_servers == ports_before
    got = consume(fabric, "durable-carol", "carol-password-0123456789", topic_name, 11)
    assert sorted(got) == sorted([b"probe", *(f"before-{i}".encode() for i in range(10))])
    admin = fabric.admin_client()
    try:
        acls, _error = admin.describe_acls(ACLFilter(
            principal="User:durable-carol", host="*", operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, topic_name,
                                                   ACLResourcePatternType.LITERAL)))
        assert {a.operation for a in acls} >= {ACLOperation.READ, ACLOperation.WRITE}
        topics = admin.describe_topics([topic_name])
        assert len(topics[0]["partitions"]) == 2
    finally:
        admin.close()


def test_up_on_a_running_fabric_is_a_no_op(fabric: Fabric) -> None:
    pids = {row["name"]: row["pid"] for row in fabric.status()["processes"]}
    messages: list[str] = []
    fabric.up(progress=messages.append)
    assert "the fabric is already running" in messages
    assert {row["name"]: row["pid"] for row in fabric.status()["processes"]} == pids
