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
    """Group ACLs moved from PREFIXED ``<topic>`` to PREFIXED ``<topic>/``."""

    migrated: list[tuple[acls.AclEntry, acls.AclEntry]] = field(default_factory=list)
    left_alone: list[acls.AclEntry] = field(default_factory=list)

    @property
    def topics(self) -> list[str]:
        return sorted({old.resource_name for old, _new in self.migrated})


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
    return report
