"""How topic ownership and sharing are written as Kafka ACLs (pure logic, no I/O).

Kafka is the only source of truth: there is no database. For a topic ``t``:

* the **owner** ``User:<sub>`` holds ALLOW on LITERAL TOPIC ``t`` for every operation a topic
  owner needs (CREATE, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS, READ, WRITE), plus
  READ on GROUP PREFIXED ``t/`` (the topic's consumer groups, ``t/<name>``). Not ALTER: ALTER
  allows CreatePartitions, which no broker policy sees, so an owner could grow a topic to
  thousands of partitions; the service's ``add_partitions`` route grows it within the cap.
  Owners registered before that also hold ALTER (:data:`LEGACY_OWNER_OPERATIONS`), which the
  migration removes and unregister still cleans up;
* a **grantee** holds ALLOW READ, WRITE, DESCRIBE on LITERAL TOPIC ``t`` (a *read-only*
  grantee READ, DESCRIBE: no WRITE) plus READ on GROUP PREFIXED ``t/<grantee>/`` only, so its
  consumer groups are ``t/<grantee>/<name>`` and it can never describe, reset, commit to or
  delete the owner's groups (``t/<name>``) or another grantee's. Grants written before that
  held the whole ``t/`` prefix: :func:`whole_prefix_grant` finds them for the migration;
* the owner is *the principal holding DELETE on the literal topic* (:data:`OWNER_MARK`);
  grantees never get DELETE (nor ALTER).

Group READ implies DESCRIBE, which is all a consumer needs (FindCoordinator, OffsetFetch and
DescribeGroups need DESCRIBE; JoinGroup, SyncGroup, Heartbeat and OffsetCommit need READ).
The group prefix ends in ``/``, a character topic names cannot contain, so it matches the groups
of exactly one topic. Before that convention the prefix was the bare topic name, which also
matched every longer topic's groups (``X`` matched ``Xbar-readers``); :func:`legacy_group_entry`
recognizes those ACLs so the service can migrate them. The names themselves come from
:mod:`diaspora_notebook.naming`, the one module the fabric shares with the toolkit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

# the GROUP PREFIXED resource of a topic's consumer groups is the shared naming rule's prefix
from diaspora_notebook.naming import GROUP_SEPARATOR as GROUP_SEPARATOR
from diaspora_notebook.naming import group_prefix as group_prefix
from diaspora_notebook.naming import member_group_prefix as member_group_prefix

ResourceKind = Literal["TOPIC", "GROUP"]
PatternKind = Literal["LITERAL", "PREFIXED"]

OWNER_TOPIC_OPERATIONS = ("CREATE", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
                          "READ", "WRITE")
# what owners held before partition growth moved to the service (migrations.drop_owner_alter)
LEGACY_OWNER_OPERATIONS = ("ALTER",)
GRANTEE_TOPIC_OPERATIONS = ("READ", "WRITE", "DESCRIBE")
READ_ONLY_TOPIC_OPERATIONS = ("READ", "DESCRIBE")
GROUP_OPERATIONS = ("READ",)
OWNER_MARK = "DELETE"  # only owners hold it
USER_PREFIX = "User:"


@dataclass(frozen=True, order=True)
class AclEntry:
    """One ALLOW ACL, host ``*``: what the service creates, finds and deletes."""

    principal: str
    resource_type: ResourceKind
    resource_name: str
    pattern_type: PatternKind
    operation: str


@dataclass
class TopicAccess:
    """Who may use one topic, read back from its ACLs."""

    topic: str
    owners: list[str] = field(default_factory=list)
    grantees: list[str] = field(default_factory=list)
    entries: list[AclEntry] = field(default_factory=list)
    read_only: list[str] = field(default_factory=list)

    @property
    def owner(self) -> str | None:
        return self.owners[0] if len(self.owners) == 1 else None

    @property
    def registered(self) -> bool:
        return bool(self.owners)

    def entries_of(self, user: str) -> list[AclEntry]:
        principal = principal_of(user)
        return [e for e in self.entries if e.principal == principal]


def principal_of(user: str) -> str:
    return f"{USER_PREFIX}{user}"


def user_of(principal: str) -> str | None:
    return principal[len(USER_PREFIX):] if principal.startswith(USER_PREFIX) else None


def _entries(user: str, topic: str, topic_ops: Iterable[str], groups: str) -> list[AclEntry]:
    principal = principal_of(user)
    out = [AclEntry(principal, "TOPIC", topic, "LITERAL", op) for op in topic_ops]
    out += [AclEntry(principal, "GROUP", groups, "PREFIXED", op) for op in GROUP_OPERATIONS]
    return out


def owner_entries(topic: str, user: str) -> list[AclEntry]:
    """The ACLs that make ``user`` the owner of ``topic`` (all of its groups, ``t/``)."""
    return _entries(user, topic, OWNER_TOPIC_OPERATIONS, group_prefix(topic))


def grantee_entries(topic: str, user: str, *, read_only: bool = False) -> list[AclEntry]:
    """The ACLs that let ``user`` consume from ``topic`` (and produce to it unless
    ``read_only``) without owning it, with its own groups ``t/<user>/`` only."""
    ops = READ_ONLY_TOPIC_OPERATIONS if read_only else GRANTEE_TOPIC_OPERATIONS
    return _entries(user, topic, ops, member_group_prefix(topic, user))


def member_group_entries(topic: str, user: str) -> list[AclEntry]:
    """The group ACLs of a grantee ``user`` of ``topic``: its groups ``t/<user>/...``."""
    return [AclEntry(principal_of(user), "GROUP", member_group_prefix(topic, user), "PREFIXED",
                     op) for op in GROUP_OPERATIONS]


def whole_prefix_grant(entry: AclEntry, access: TopicAccess) -> bool:
    """Whether ``entry`` gives a grantee (not an owner) of ``access.topic`` all of its groups
    (the convention before grantees got ``t/<grantee>/``): to migrate."""
    user = user_of(entry.principal)
    return (user is not None and user in access.grantees and entry.resource_type == "GROUP"
            and entry.pattern_type == "PREFIXED"
            and entry.resource_name == group_prefix(access.topic))


def is_managed(entry: AclEntry, topic: str) -> bool:
    """Whether ``entry`` is of a kind this service writes for ``topic``."""
    if entry.resource_type == "TOPIC":
        return (entry.pattern_type == "LITERAL" and entry.resource_name == topic
                and entry.operation in OWNER_TOPIC_OPERATIONS + LEGACY_OWNER_OPERATIONS)
    if not (entry.resource_type == "GROUP" and entry.pattern_type == "PREFIXED"
            and entry.operation in GROUP_OPERATIONS):
        return False
    if entry.resource_name == group_prefix(topic):
        return True
    user = user_of(entry.principal)
    return (user is not None and entry.resource_name.startswith(group_prefix(topic))
            and entry.resource_name == _member_prefix_or_none(topic, user))


def _member_prefix_or_none(topic: str, user: str) -> str | None:
    try:
        return member_group_prefix(topic, user)
    except ValueError:
        return None


def legacy_group_entry(entry: AclEntry) -> bool:
    """Whether ``entry`` is a group ACL of the old convention (PREFIXED bare topic name)."""
    return (entry.resource_type == "GROUP" and entry.pattern_type == "PREFIXED"
            and entry.operation in GROUP_OPERATIONS and user_of(entry.principal) is not None
            and bool(entry.resource_name) and GROUP_SEPARATOR not in entry.resource_name)


def legacy_owner_entries(access: TopicAccess) -> list[AclEntry]:
    """The owners' ALTER ACLs on ``access.topic`` (the convention before partition growth went
    through the service): to delete. ALTER held by anyone else is not the service's."""
    return [e for e in access.entries
            if e.resource_type == "TOPIC" and e.operation in LEGACY_OWNER_OPERATIONS
            and user_of(e.principal) in access.owners]


def migrated(entry: AclEntry) -> AclEntry:
    """The new-convention twin of a :func:`legacy_group_entry` ACL."""
    return AclEntry(entry.principal, "GROUP", group_prefix(entry.resource_name), "PREFIXED",
                    entry.operation)


def interpret(topic: str, entries: Iterable[AclEntry]) -> TopicAccess:
    """Read ownership and grants of ``topic`` from the ACLs found on it."""
    managed = sorted({e for e in entries if is_managed(e, topic) and user_of(e.principal)})
    owners: set[str] = set()
    users: set[str] = set()
    writers: set[str] = set()
    for entry in managed:
        user = user_of(entry.principal)
        assert user is not None
        if entry.resource_type == "TOPIC" and entry.operation in OWNER_TOPIC_OPERATIONS:
            users.add(user)
            if entry.operation == OWNER_MARK:
                owners.add(user)
            if entry.operation == "WRITE":
                writers.add(user)
    return TopicAccess(topic=topic, owners=sorted(owners), grantees=sorted(users - owners),
                       entries=managed, read_only=sorted(users - owners - writers))


def owned_topics(user: str, entries: Iterable[AclEntry]) -> list[str]:
    """Topics ``user`` owns (holds the owner mark on), from the ACLs naming its principal."""
    principal = principal_of(user)
    return sorted({e.resource_name for e in entries
                   if e.principal == principal and e.resource_type == "TOPIC"
                   and e.pattern_type == "LITERAL" and e.operation == OWNER_MARK})


def topics_of(user: str, entries: Iterable[AclEntry]) -> list[str]:
    """Topics ``user`` can use (owned or granted), from the ACLs naming its principal."""
    principal = principal_of(user)
    return sorted({e.resource_name for e in entries
                   if e.principal == principal and e.resource_type == "TOPIC"
                   and e.pattern_type == "LITERAL" and e.operation in GRANTEE_TOPIC_OPERATIONS})
