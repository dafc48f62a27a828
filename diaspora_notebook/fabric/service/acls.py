"""How topic ownership and sharing are written as Kafka ACLs (pure logic, no I/O).

Kafka is the only source of truth: there is no database. For a topic ``t``:

* the **owner** ``User:<sub>`` holds ALLOW on LITERAL TOPIC ``t`` for every operation a topic
  owner needs (CREATE, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS, ALTER, READ, WRITE),
  plus READ on GROUP PREFIXED ``t/`` (the topic's consumer groups, ``t/<name>``);
* a **grantee** holds ALLOW READ, WRITE, DESCRIBE on LITERAL TOPIC ``t`` plus READ on GROUP
  PREFIXED ``t/``;
* the owner is *the principal holding ALTER on the literal topic*; grantees never get ALTER.

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

ResourceKind = Literal["TOPIC", "GROUP"]
PatternKind = Literal["LITERAL", "PREFIXED"]

OWNER_TOPIC_OPERATIONS = ("CREATE", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
                          "ALTER", "READ", "WRITE")
GRANTEE_TOPIC_OPERATIONS = ("READ", "WRITE", "DESCRIBE")
GROUP_OPERATIONS = ("READ",)
OWNER_MARK = "ALTER"
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


def _entries(user: str, topic: str, topic_ops: Iterable[str]) -> list[AclEntry]:
    principal = principal_of(user)
    out = [AclEntry(principal, "TOPIC", topic, "LITERAL", op) for op in topic_ops]
    out += [AclEntry(principal, "GROUP", group_prefix(topic), "PREFIXED", op)
            for op in GROUP_OPERATIONS]
    return out


def owner_entries(topic: str, user: str) -> list[AclEntry]:
    """The ACLs that make ``user`` the owner of ``topic``."""
    return _entries(user, topic, OWNER_TOPIC_OPERATIONS)


def grantee_entries(topic: str, user: str) -> list[AclEntry]:
    """The ACLs that let ``user`` produce to and consume from ``topic`` without owning it."""
    return _entries(user, topic, GRANTEE_TOPIC_OPERATIONS)


def is_managed(entry: AclEntry, topic: str) -> bool:
    """Whether ``entry`` is of a kind this service writes for ``topic``."""
    if entry.resource_type == "TOPIC":
        return (entry.pattern_type == "LITERAL" and entry.resource_name == topic
                and entry.operation in OWNER_TOPIC_OPERATIONS)
    return (entry.resource_type == "GROUP" and entry.pattern_type == "PREFIXED"
            and entry.resource_name == group_prefix(topic) and entry.operation in GROUP_OPERATIONS)


def legacy_group_entry(entry: AclEntry) -> bool:
    """Whether ``entry`` is a group ACL of the old convention (PREFIXED bare topic name)."""
    return (entry.resource_type == "GROUP" and entry.pattern_type == "PREFIXED"
            and entry.operation in GROUP_OPERATIONS and user_of(entry.principal) is not None
            and bool(entry.resource_name) and GROUP_SEPARATOR not in entry.resource_name)


def migrated(entry: AclEntry) -> AclEntry:
    """The new-convention twin of a :func:`legacy_group_entry` ACL."""
    return AclEntry(entry.principal, "GROUP", group_prefix(entry.resource_name), "PREFIXED",
                    entry.operation)


def interpret(topic: str, entries: Iterable[AclEntry]) -> TopicAccess:
    """Read ownership and grants of ``topic`` from the ACLs found on it."""
    managed = sorted({e for e in entries if is_managed(e, topic) and user_of(e.principal)})
    owners: set[str] = set()
    users: set[str] = set()
    for entry in managed:
        user = user_of(entry.principal)
        assert user is not None
        if entry.resource_type == "TOPIC":
            users.add(user)
            if entry.operation == OWNER_MARK:
                owners.add(user)
    return TopicAccess(topic=topic, owners=sorted(owners), grantees=sorted(users - owners),
                       entries=managed)


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
