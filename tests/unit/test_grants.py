"""Grants say what they give and never reach the owner's groups (issue 27, item 6): the ACL
encoding, the grant rules, the migration of old grants and the shared group-naming rule."""

from __future__ import annotations

import pytest

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.groups import group_name, is_group_of
from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.memory import InMemoryKafkaAdmin
from diaspora_notebook.fabric.service.migrations import migrate_group_acls
from diaspora_notebook.fabric.service.ownership import TopicAccessManager
from diaspora_notebook.naming import NameRuleError, member_group_prefix

A = "2b1b3c4d-0000-4000-8000-00000000000a"
B = "2b1b3c4d-0000-4000-8000-00000000000b"
C = "2b1b3c4d-0000-4000-8000-00000000000c"


def groups_of(entries, user):
    return {e.resource_name for e in entries
            if e.resource_type == "GROUP" and e.principal == acls.principal_of(user)}


def test_a_grantee_gets_its_own_group_prefix_and_the_owner_keeps_all():
    assert groups_of(acls.owner_entries("t", A), A) == {"t/"}
    assert groups_of(acls.grantee_entries("t", B), B) == {f"t/{B}/"}
    assert groups_of(acls.grantee_entries("t", B, read_only=True), B) == {f"t/{B}/"}
    assert {e.operation for e in acls.grantee_entries("t", B, read_only=True)
            if e.resource_type == "TOPIC"} == {"READ", "DESCRIBE"}
    assert {e.operation for e in acls.grantee_entries("t", B)
            if e.resource_type == "TOPIC"} == {"READ", "WRITE", "DESCRIBE"}


def test_interpret_reads_read_only_grantees_and_their_group_acls():
    found = (acls.owner_entries("t", A) + acls.grantee_entries("t", B)
             + acls.grantee_entries("t", C, read_only=True)
             + [acls.AclEntry(f"User:{C}", "GROUP", f"t/{B}/", "PREFIXED", "READ")])  # not C's
    state = acls.interpret("t", found)
    assert (state.owners, state.grantees, state.read_only) == ([A], [B, C], [C])
    assert acls.AclEntry(f"User:{C}", "GROUP", f"t/{B}/", "PREFIXED", "READ") not in state.entries
    assert set(state.entries_of(C)) == set(acls.grantee_entries("t", C, read_only=True))


def test_grant_changes_between_read_write_and_read_only_and_revoke_takes_all():
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin, propagation_seconds=0)
    topics.register("t", A)
    assert topics.grant("t", A, B, read_only=True) == "success"
    assert topics.grant("t", A, B, read_only=True) == "no-op"
    assert topics.users("t", A).read_only == [B]
    assert topics.grant("t", A, B) == "success"
    assert set(topics.access("t").entries_of(B)) == set(acls.grantee_entries("t", B))
    assert topics.users("t", A).read_only == [] and topics.grant("t", A, B) == "no-op"
    assert topics.grant("t", A, A) == "no-op"  # the owner keeps its own ACLs
    assert topics.topics(B) == ["t"]
    assert topics.revoke("t", A, B) == "success"
    assert not [e for e in admin.acls if e.principal == acls.principal_of(B)]


def test_a_grant_of_the_old_shape_is_narrowed_by_granting_again_or_migrating():
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin, propagation_seconds=0)
    topics.register("t", A)
    topics.register("u", A)
    old = [acls.AclEntry(acls.principal_of(user), "GROUP", f"{topic}/", "PREFIXED", "READ")
           for topic, user in (("t", B), ("t", C), ("u", B))]
    admin.acls |= {e for e in acls.grantee_entries("t", B) + acls.grantee_entries("t", C)
                   + acls.grantee_entries("u", B) if e.resource_type == "TOPIC"} | set(old)
    assert topics.grant("t", A, C) == "success"  # granting again brings it to today's shape
    assert groups_of(admin.acls, C) == {f"t/{C}/"}
    report = migrate_group_acls(admin)
    assert report.narrowed_topics == ["t", "u"] and report.migrated == []
    assert groups_of(admin.acls, B) == {f"t/{B}/", f"u/{B}/"}
    assert groups_of(admin.acls, A) == {"t/", "u/"}  # owners keep theirs
    assert migrate_group_acls(admin).narrowed == []  # idempotent
    # a legacy bare-prefix grant goes all the way in one run: "t" -> "t/" -> "t/<grantee>/"
    admin.acls.discard(acls.AclEntry(acls.principal_of(B), "GROUP", f"t/{B}/", "PREFIXED",
                                     "READ"))
    admin.acls.add(acls.AclEntry(acls.principal_of(B), "GROUP", "t", "PREFIXED", "READ"))
    report = migrate_group_acls(admin)
    assert len(report.migrated) == 1 and report.narrowed_topics == ["t"]
    assert groups_of(admin.acls, B) == {f"t/{B}/", f"u/{B}/"}


def test_group_names_of_a_grantee_live_under_its_id():
    assert group_name("t", "readers") == "t/readers"
    assert group_name("t", "readers", member=B) == f"t/{B}/readers" == \
        group_name("t", "readers", B)
    assert member_group_prefix("t", B) == f"t/{B}/" and is_group_of("t", f"t/{B}/readers")
    for bad in ("", "a/b", "x y"):
        with pytest.raises(NameRuleError):
            member_group_prefix("t", bad)
        with pytest.raises(DiasporaUsageError):
            group_name("t", "readers", member=bad)


class _Client:
    def __init__(self, owner: bool) -> None:
        self.owner = owner
        self.subject_openid = B

    def list_topic_users(self, topic: str) -> dict:
        from diaspora_notebook.errors import AccessDeniedError

        if not self.owner:
            raise AccessDeniedError("only the owner of topic 't' may do this")
        return {"owner": B, "users": []}


def test_group_name_for_a_client_asks_whether_it_owns_the_topic():
    assert group_name("t", "live", client=_Client(owner=True)) == "t/live"
    assert group_name("t", "live", client=_Client(owner=False)) == f"t/{B}/live"
