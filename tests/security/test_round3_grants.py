"""Grants say what they give and never reach the owner's groups (issue 27, item 6).

A grantee used to hold READ on GROUP PREFIXED ``<topic>/``: every group of the topic, so
``topics.reset_group("bt/readers", "latest")`` as a grantee made the owner's consumer skip
unread records. Now a grantee holds ``<topic>/<grantee id>/`` only, and a read-only grant gives
no WRITE. Every attack runs as a real identity with its own key against the session fabric, with
a positive control on the attacker's own group (so a refusal means the ACL, not the harness).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kafka import TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from diaspora_notebook import topics
from diaspora_notebook.errors import KafkaAccessDeniedError
from diaspora_notebook.explore.groups import group_name
from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.kafka_admin import to_kafka_acl
from diaspora_notebook.fabric.service.migrations import migrate_group_acls
from diaspora_notebook.testing.identities import login

from .actors import Actor, actor, fresh_topic, gateway
from .test_group_isolation import REFUSED, all_refused, commit, fetch_offsets

EVERY = ("commit", "offset fetch", "describe", "join")


def delete_group(who: Actor, group: str) -> None:
    with who.admin() as admin:
        results = admin.delete_groups([group])
    for _gid, error in results:
        name = getattr(error, "__name__", type(error).__name__)
        if "Authorization" in name:
            raise GroupAuthorizationFailedError(name)
        assert name in ("NoError", "GroupIdNotFoundError", "NonEmptyGroupError"), name


def refused(action: Callable[[], object]) -> bool:
    """Whether the broker refused ``action`` for want of an ACL (a read-only grantee's
    idempotent producer is refused at InitProducerId: ClusterAuthorizationFailed)."""
    try:
        action()
    except (GroupAuthorizationFailedError, TopicAuthorizationFailedError):
        return True
    except KafkaError as exc:
        if "AuthorizationFailed" in str(exc):
            return True
        raise
    return False


def grant(owner: Actor, topic: str, other: Actor, *, read_only: bool = False) -> dict:
    body = {"topic": topic, "user": other.id, **({"read_only": True} if read_only else {})}
    return owner.ok("post", "v1/grant_user_access", json=body)


@pytest.fixture(scope="module")
def shared(fabric):
    """A owns T with a committed group T/readers; G is granted T, R is granted T read-only."""
    a, g, r = actor(fabric, "gr-own"), actor(fabric, "gr-rw"), actor(fabric, "gr-ro")
    t = fresh_topic("gr")
    a.register(t)
    given = grant(a, t, g)
    given_ro = grant(a, t, r, read_only=True)
    a.produce(t, [b"e0", b"e1", b"e2", b"e3"])
    commit(a, group_name(t, "readers"), t, 1)
    time.sleep(0.5)  # the authorizer applies new ACLs asynchronously
    return a, g, r, t, given, given_ro


def test_grants_say_what_they_give(shared):
    a, g, r, t, given, given_ro = shared
    assert (given["access"], given["groups"]) == ("read-write", f"{t}/{g.id}/")
    assert "produce and consume" in given["message"] and f"{t}/{g.id}/" in given["message"]
    assert (given_ro["access"], given_ro["groups"]) == ("read-only", f"{t}/{r.id}/")
    assert "read-only" in given_ro["message"]
    users = a.ok("get", "v1/list_topic_users", params={"topic": t})
    assert sorted(users["users"]) == sorted([g.id, r.id]) and users["read_only"] == [r.id]
    assert grant(a, t, r, read_only=True)["status"] == "no-op"


@pytest.mark.parametrize("who", ["read-write", "read-only"])
def test_a_grantee_never_reaches_the_owners_group(shared, who):
    a, g, r, t, _given, _given_ro = shared
    grantee = g if who == "read-write" else r
    owners = group_name(t, "readers")
    # positive control: the same operations succeed on the grantee's own group
    mine = group_name(t, "mine", member=grantee.id)
    assert all_refused(grantee, mine, t) == dict.fromkeys(EVERY, "allowed")
    assert all_refused(grantee, owners, t) == dict.fromkeys(EVERY, REFUSED)
    assert refused(lambda: delete_group(grantee, owners))
    # nor another grantee's groups
    other = r if grantee is g else g
    theirs = group_name(t, "theirs", member=other.id)
    commit(other, theirs, t, 2)
    assert all_refused(grantee, theirs, t) == dict.fromkeys(EVERY, REFUSED)
    assert refused(lambda: delete_group(grantee, theirs))
    # the owner's and the other grantee's offsets are untouched; the owner sees every group
    assert fetch_offsets(a, owners, t)[owners][TopicPartition(t, 0)].offset == 1
    assert fetch_offsets(a, theirs, t)[theirs][TopicPartition(t, 0)].offset == 2


def test_a_read_only_grantee_consumes_but_cannot_produce(shared):
    a, g, r, t, _given, _given_ro = shared
    assert r.read_all(t, seconds=3)[:4] == [b"e0", b"e1", b"e2", b"e3"]
    assert refused(lambda: r.produce(t, [b"intrusion"]))
    g.produce(t, [b"from-g"])  # the seed's grant still produces
    # granting again with the other kind changes the grant, both ways
    assert grant(a, t, g, read_only=True)["status"] == "success"
    deadline = time.monotonic() + 15
    while not refused(lambda: g.produce(t, [b"still?"])):
        assert time.monotonic() < deadline, "a grant made read-only still produces"
        time.sleep(0.5)
    assert grant(a, t, g)["status"] == "success"
    deadline = time.monotonic() + 15
    while refused(lambda: g.produce(t, [b"again"])):
        assert time.monotonic() < deadline, "a read-write grant again cannot produce"
        time.sleep(0.5)
    assert r.read_all(t, seconds=3).count(b"intrusion") == 0


def test_the_issue_repro_reset_group_as_a_grantee_is_refused(sdk_identity, topic_name):
    """The exact repro: ``topics.reset_group("<topic>/readers", "latest")`` as a grantee."""
    owner_id, grantee_id = sdk_identity("bt-owner"), sdk_identity("bt-grantee")
    owner, grantee = login(owner_id), login(grantee_id)
    topics.register(topic_name, create=True, client=owner)
    try:
        topics.produce(topic_name, [{"n": i} for i in range(3)], client=owner)
        readers = f"{topic_name}/readers"
        assert topics.reset_group(readers, "earliest", client=owner) == {0: 0}
        owner.grant_user_access(topic_name, grantee_id.username)
        deadline = time.monotonic() + 15
        while True:  # the grant reaches the authorizer asynchronously
            try:
                topics.read(topic_name, client=grantee)
                break
            except KafkaAccessDeniedError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        with pytest.raises(KafkaAccessDeniedError) as bad:
            topics.reset_group(readers, "latest", client=grantee)
        assert "only its own groups" in bad.value.hint
        assert topics.groups(topic_name, client=grantee).empty  # not even listed
        lag = topics.groups(topic_name, client=owner)
        assert int(lag[lag["group"] == readers]["lag"].sum()) == 3  # nothing skipped
        # the grantee's own group, named for it, works
        mine = group_name(topic_name, "readers", client=grantee)
        assert mine == f"{topic_name}/{grantee_id.id}/readers"
        assert topics.reset_group(mine, "latest", client=grantee) == {0: 3}
    finally:
        topics.unregister(topic_name, client=owner)


def test_old_whole_prefix_grants_are_narrowed_at_migration(fabric):
    """A grant of the old shape (READ on ``<topic>/``) reaches the owner's group until the
    migration the service runs at start narrows it to ``<topic>/<grantee>/``."""
    a, g = actor(fabric, "gr-mig-own"), actor(fabric, "gr-mig-g")
    t = fresh_topic("grmig")
    a.register(t)
    grant(a, t, g)
    owners = group_name(t, "readers")
    commit(a, owners, t, 0)
    new = acls.member_group_entries(t, g.id)
    old = [acls.AclEntry(e.principal, "GROUP", acls.group_prefix(t), "PREFIXED", e.operation)
           for e in new]
    admin = fabric.admin_client()
    try:
        assert not admin.create_acls([to_kafka_acl(e) for e in old])["failed"]
        admin.delete_acls([to_kafka_acl(e) for e in new])
    finally:
        admin.close()
    gw = gateway(fabric)
    try:
        assert gw.wait_acls(t, old, new, 10)
        time.sleep(0.5)
        assert not refused(lambda: commit(g, owners, t, 0))  # the old grant: the attack works
        report = migrate_group_acls(gw)
        assert t in report.narrowed_topics and {n for _o, n in report.narrowed} >= set(new)
        assert gw.wait_acls(t, new, old, 10)
        assert migrate_group_acls(gw).narrowed == []  # idempotent
        state = acls.interpret(t, gw.topic_acls(t))
        assert state.owners == [a.id] and state.grantees == [g.id]
    finally:
        gw.close()
    time.sleep(0.5)
    assert refused(lambda: commit(g, owners, t, 0))
    commit(g, group_name(t, "readers", member=g.id), t, 0)  # its own groups still work
    commit(a, owners, t, 0)  # the owner keeps every group
