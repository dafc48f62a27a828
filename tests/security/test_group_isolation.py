"""Consumer groups are per topic: the owner of ``X`` cannot squat the groups of ``Xbar``.

Issue 11 item 1. Group permissions used to be GROUP PREFIXED ``<topic>``, so the owner of ``X``
could describe, join, lead and commit in ``Xbar-readers``. Now they are GROUP PREFIXED
``<topic>/`` and groups are named ``<topic>/<name>``. Every attack runs as a real identity with
its own key against the session fabric; a positive control on the attacker's own group shows
each operation does succeed where it is allowed, so a refusal means the ACL, not the harness.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import GroupAuthorizationFailedError
from kafka.structs import OffsetAndMetadata

from diaspora_notebook.explore.groups import group_name
from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.kafka_admin import to_kafka_acl
from diaspora_notebook.fabric.service.migrations import migrate_group_acls

from .actors import Actor, actor, fresh_topic, gateway

REFUSED = "refused"


def _outcome(action: Callable[[], object]) -> str:
    try:
        action()
    except GroupAuthorizationFailedError:
        return REFUSED
    return "allowed"


def describe(who: Actor, group: str) -> None:
    with who.admin() as admin:
        node = admin.describe_cluster()["brokers"][0]["broker_id"]
        # straight to the coordinator: DescribeGroups itself is checked, not just the lookup
        found = admin.describe_groups([group], group_coordinator_id=node)
    error = found[group]["error"]
    if error and "GroupAuthorizationFailed" in error:
        raise GroupAuthorizationFailedError(error)
    assert error is None, error  # authorized: the group (made by commit()) is described


def fetch_offsets(who: Actor, group: str, topic: str) -> dict:
    with who.admin() as admin:
        return admin.list_group_offsets({group: [TopicPartition(topic, 0)]})


def commit(who: Actor, group: str, topic: str, offset: int) -> None:
    consumer = KafkaConsumer(**who.config(group_id=group, enable_auto_commit=False))
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close(autocommit=False)


def join(who: Actor, group: str, topic: str) -> None:
    """Subscribe and poll: JoinGroup + SyncGroup (and the leader's assignment)."""
    consumer = KafkaConsumer(topic, **who.config(group_id=group, enable_auto_commit=False,
                                                 auto_offset_reset="earliest",
                                                 session_timeout_ms=10000))
    try:
        deadline = time.monotonic() + 20
        while not consumer.assignment():
            consumer.poll(timeout_ms=500)
            assert time.monotonic() < deadline, "joined no group within 20 s"
    finally:
        consumer.close(autocommit=False)


def all_refused(who: Actor, group: str, own_topic: str) -> dict[str, str]:
    """Every group operation as ``who`` (on a topic it may read): what the broker said."""
    return {
        "commit": _outcome(lambda: commit(who, group, own_topic, 1)),
        "offset fetch": _outcome(lambda: fetch_offsets(who, group, own_topic)),
        "describe": _outcome(lambda: describe(who, group)),
        "join": _outcome(lambda: join(who, group, own_topic)),
    }


def admin_commit(fabric, group: str, topic: str, offset: int) -> None:
    """Make ``group`` exist with a committed offset, as the fabric's super user."""
    consumer = KafkaConsumer(**fabric.admin_config(), group_id=group, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close(autocommit=False)


def plant_old_group_acls(fabric, tag: str) -> tuple[str, list, list]:
    """A registered topic whose group ACLs have the old shape (PREFIXED ``<topic>``), as an
    existing home has them: ``(topic, new_entries, old_entries)``."""
    owner = actor(fabric, tag)
    topic = fresh_topic(tag)
    owner.register(topic, create=False)
    return (topic, *to_old_shape(fabric, topic, owner.id))


def to_old_shape(fabric, topic: str, owner_id: str) -> tuple[list, list]:
    """Replace ``owner_id``'s group ACLs on ``topic`` by the old shape: ``(new, old)``."""
    new = [e for e in acls.owner_entries(topic, owner_id) if e.resource_type == "GROUP"]
    old = [acls.AclEntry(e.principal, "GROUP", topic, "PREFIXED", e.operation) for e in new]
    admin = fabric.admin_client()
    try:
        assert not admin.create_acls([to_kafka_acl(e) for e in old])["failed"]
        admin.delete_acls([to_kafka_acl(e) for e in new])
    finally:
        admin.close()
    return new, old


def assert_migrated(fabric, topic: str, new: list, old: list) -> None:
    gw = gateway(fabric)
    try:
        seen = set(gw.topic_acls(topic)) | set(gw.prefixed_group_acls())
        assert set(new) <= seen and not set(old) & seen
    finally:
        gw.close()


@pytest.fixture(scope="module")
def owners(fabric):
    """A owns X, B owns Xbar (X is a prefix of Xbar); C is granted Xbar; one event in each."""
    a, b, c = actor(fabric, "grp-a"), actor(fabric, "grp-b"), actor(fabric, "grp-c")
    x = fresh_topic("grp")
    xbar = x + "bar"
    a.register(x)
    b.register(xbar)
    b.grant(xbar, c)
    a.produce(x, [b"a-event"])
    b.produce(xbar, [b"b-event"])
    return a, b, c, x, xbar


def test_the_victim_uses_its_own_group(owners):
    _a, b, _c, _x, xbar = owners
    mine = group_name(xbar, "readers")
    commit(b, mine, xbar, 1)
    assert fetch_offsets(b, mine, xbar)[mine][TopicPartition(xbar, 0)].offset == 1
    describe(b, mine)
    join(b, mine, xbar)


def test_owner_of_a_prefix_is_refused_every_group_of_the_longer_topic(fabric, owners):
    a, b, _c, x, xbar = owners
    # positive control: the same four operations succeed on A's own group
    assert all_refused(a, group_name(x, "readers"), x) == dict.fromkeys(
        ("describe", "offset fetch", "commit", "join"), "allowed")
    victims = [xbar, f"{xbar}-readers", f"{xbar}.readers", f"{xbar}/readers", f"{xbar}_readers",
               group_name(xbar, "dashboard")]
    for group in victims:
        admin_commit(fabric, group, xbar, 1)  # the group exists: a refusal is not "not found"
        assert all_refused(a, group, x) == dict.fromkeys(
            ("describe", "offset fetch", "commit", "join"), REFUSED), group
    # and the victim's committed offset is untouched by the attempts
    mine = group_name(xbar, "readers")
    commit(b, mine, xbar, 1)
    assert fetch_offsets(b, mine, xbar)[mine][TopicPartition(xbar, 0)].offset == 1


def test_a_grantee_uses_its_own_groups_of_the_topic_and_no_others(owners):
    _a, _b, c, x, xbar = owners
    own = group_name(xbar, "readers", member=c.id)  # <topic>/<grantee id>/readers
    commit(c, own, xbar, 1)
    assert fetch_offsets(c, own, xbar)[own][TopicPartition(xbar, 0)].offset == 1
    join(c, own, xbar)
    # the grant is for c's groups of Xbar only: not the owner's, not X's, not a bare prefix
    assert all_refused(c, group_name(xbar, "readers"), xbar)["commit"] == REFUSED
    assert all_refused(c, group_name(x, "readers"), xbar)["commit"] == REFUSED
    assert all_refused(c, f"{xbar}-readers", xbar)["join"] == REFUSED


def test_old_convention_acls_are_migrated_and_the_squat_closes(fabric, owners, caplog):
    """An ACL of the old shape (PREFIXED ``X``) lets A squat ``Xbar-readers``; migration ends it."""
    from diaspora_notebook.fabric.service.__main__ import migrate

    a, _b, _c, x, xbar = owners
    new, old = to_old_shape(fabric, x, a.id)
    gw = gateway(fabric)
    try:
        assert gw.wait_acls(x, [], new, 10)
        time.sleep(0.5)  # the authorizer applies metadata asynchronously
        # the attack works while the old ACL exists: this test can fail
        assert _outcome(lambda: commit(a, f"{xbar}-readers", x, 1)) == "allowed"
        with caplog.at_level(logging.INFO, logger="diaspora_notebook.fabric.service"):
            migrate(gw)
        # other tests of the session may have left old-shape ACLs too: at least ours is named
        assert any(re.search(rf"migrated \d+ consumer-group ACLs .*\b{x}\b", r.getMessage())
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
        assert gw.wait_acls(x, new, [], 10)
        seen = set(gw.prefixed_group_acls())
        assert set(new) <= seen and not set(old) & seen
        assert migrate_group_acls(gw).migrated == []  # idempotent
    finally:
        gw.close()
    time.sleep(0.5)
    assert _outcome(lambda: commit(a, f"{xbar}-readers", x, 2)) == REFUSED
    commit(a, group_name(x, "readers"), x, 1)  # A keeps its own groups


def test_the_service_migrates_old_group_acls_when_it_starts_and_logs_it(fabric):
    """A service process started on a cluster with old-shape ACLs (an existing home) migrates
    them before serving, and its log names the topics."""
    import socket
    import subprocess
    import sys

    topic, new, old = plant_old_group_acls(fabric, "grp-mig")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = subprocess.Popen(
        [sys.executable, "-m", "diaspora_notebook.fabric.service", "--config",
         str(fabric.home.service_dir / "config.json"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = service.stderr.readline()
            assert line, f"the service exited: {lines}"
            lines.append(line)
            if "serving on" in line:
                break
    finally:
        service.terminate()
        service.wait(timeout=20)
    migrated = [ln for ln in lines if "migrated" in ln and "consumer-group ACLs" in ln]
    assert migrated and topic in migrated[0], lines
    assert_migrated(fabric, topic, new, old)


def test_up_on_an_existing_home_migrates_old_group_acls_and_says_so(fabric):
    """`diaspora-fabric up` after an upgrade: the old-shape group ACLs of an existing home are
    moved to the `<topic>/` prefix, and `up` names the topics it migrated."""
    import subprocess
    import sys

    topic, new, old = plant_old_group_acls(fabric, "grp-up")
    done = subprocess.run(
        [sys.executable, "-m", "diaspora_notebook.fabric.cli", "up", "--home",
         str(fabric.home.root)], capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(rf"migrated the consumer-group ACLs of \d+ topic\(s\).*\b{topic}\b", output)
    assert_migrated(fabric, topic, new, old)
