"""ACL conventions that changed, and how an existing cluster is brought up to date.

Run at service start (``python -m diaspora_notebook.fabric.service``), so every deployment,
local or not, is migrated before it serves a request. Each migration is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminBackend


@dataclass
class GroupMigration:
    """Group ACLs moved from PREFIXED ``<topic>`` to PREFIXED ``<topic>/`` (``migrated``), and
    grantees' group ACLs narrowed from ``<topic>/`` to ``<topic>/<grantee>/`` (``narrowed``)."""

    migrated: list[tuple[acls.AclEntry, acls.AclEntry]] = field(default_factory=list)
    left_alone: list[acls.AclEntry] = field(default_factory=list)
    narrowed: list[tuple[acls.AclEntry, acls.AclEntry]] = field(default_factory=list)
    # owners' ALTER on their topics, deleted (partition growth is the service's route now)
    owner_alter: list[acls.AclEntry] = field(default_factory=list)

    @property
    def topics(self) -> list[str]:
        return sorted({old.resource_name for old, _new in self.migrated})

    @property
    def narrowed_topics(self) -> list[str]:
        return sorted({old.resource_name.rstrip(acls.GROUP_SEPARATOR)
                       for old, _new in self.narrowed})

    @property
    def owner_alter_topics(self) -> list[str]:
        return sorted({e.resource_name for e in self.owner_alter})


def migrate_group_acls(admin: KafkaAdminBackend) -> GroupMigration:
    """Replace old-convention group ACLs (PREFIXED bare topic name) by ``<topic>/`` ones.

    The old prefix ``X`` also matched the groups of every topic whose name starts with ``X``
    (``Xbar-readers``). Only ACLs whose principal holds a topic ACL on that very name are
    migrated (those are the service's); any other is reported and left alone. The new ACL is
    created before the old one is deleted, so no consumer loses access in between.
    """
    report = GroupMigration()
    legacy = [e for e in admin.prefixed_group_acls() if acls.legacy_group_entry(e)]
    topics_by_principal: dict[str, set[str]] = {}
    for entry in legacy:
        if entry.principal not in topics_by_principal:
            user = acls.user_of(entry.principal)
            assert user is not None
            topics_by_principal[entry.principal] = set(
                acls.topics_of(user, admin.principal_acls(entry.principal)))
        if entry.resource_name in topics_by_principal[entry.principal]:
            report.migrated.append((entry, acls.migrated(entry)))
        else:
            report.left_alone.append(entry)
    if report.migrated:
        admin.create_acls([new for _old, new in report.migrated])
        admin.delete_acls([old for old, _new in report.migrated])
    report.narrowed = narrow_grantee_group_acls(admin)
    report.owner_alter = drop_owner_alter(admin)
    return report


def narrow_grantee_group_acls(admin: KafkaAdminBackend
                              ) -> list[tuple[acls.AclEntry, acls.AclEntry]]:
    """Give each grantee its own groups only: its GROUP PREFIXED ``<topic>/`` ACL (all of the
    topic's groups, the owner's included: a grantee could reset the owner's group) becomes
    ``<topic>/<grantee>/``. Owners keep ``<topic>/``. Idempotent; new before old, as above.

    :returns: the ``(old, new)`` pairs replaced
    """
    whole = [e for e in admin.prefixed_group_acls()
             if acls.user_of(e.principal) is not None
             and e.resource_name.endswith(acls.GROUP_SEPARATOR)
             and e.resource_name.count(acls.GROUP_SEPARATOR) == 1
             and len(e.resource_name) > 1]
    pairs: list[tuple[acls.AclEntry, acls.AclEntry]] = []
    for topic in sorted({e.resource_name[:-1] for e in whole}):
        access = acls.interpret(topic, admin.topic_acls(topic))
        for entry in whole:
            if entry.resource_name[:-1] == topic and acls.whole_prefix_grant(entry, access):
                user = acls.user_of(entry.principal)
                assert user is not None
                pairs.append((entry, acls.AclEntry(
                    entry.principal, "GROUP", acls.member_group_prefix(topic, user), "PREFIXED",
                    entry.operation)))
    if pairs:
        admin.create_acls([new for _old, new in pairs])
        admin.delete_acls([old for old, _new in pairs])
    return pairs


def drop_owner_alter(admin: KafkaAdminBackend) -> list[acls.AclEntry]:
    """Take ALTER from topic owners: it allows CreatePartitions, which reaches no broker
    policy, so an owner could grow a topic past ``max_partitions_per_topic`` (the service's
    ``add_partitions`` route grows topics within it now). Owners keep every other operation
    (DELETE is the owner mark). Idempotent.

    Every owner holds READ on GROUP PREFIXED ``<topic>/`` (:func:`migrate_group_acls` has
    moved the older convention there first), so those name the topics to look at.

    :returns: the ALTER ACLs deleted
    """
    topics = sorted({e.resource_name[:-1] for e in admin.prefixed_group_acls()
                     if acls.user_of(e.principal) is not None
                     and e.resource_name.endswith(acls.GROUP_SEPARATOR)
                     and e.resource_name.count(acls.GROUP_SEPARATOR) == 1
                     and len(e.resource_name) > 1})
    dropped: list[acls.AclEntry] = []
    for topic in topics:
        dropped += acls.legacy_owner_entries(acls.interpret(topic, admin.topic_acls(topic)))
    if dropped:
        admin.delete_acls(dropped)
    return dropped
