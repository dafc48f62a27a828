"""Remove everything an account holds in Kafka: its key, its topics (with data), its grants.

Used by ``diaspora-fabric user remove`` and ``client remove`` after the identity provider has
revoked the account's tokens. Each step is idempotent, so running it again after a failure
finishes the job; the report says what was actually removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminBackend
from diaspora_notebook.fabric.service.ownership import TopicAccessManager


@dataclass
class Removal:
    """What :func:`deprovision` removed for one principal."""

    user: str
    key_deleted: bool = False
    topics_deleted: list[str] = field(default_factory=list)  # owned, deleted with their data
    topics_unregistered: list[str] = field(default_factory=list)  # owned, held no data
    grants_removed: list[str] = field(default_factory=list)  # other owners' topics
    other_acls_removed: int = 0

    def merge(self, other: Removal) -> None:
        self.key_deleted |= other.key_deleted
        self.topics_deleted += other.topics_deleted
        self.topics_unregistered += other.topics_unregistered
        self.grants_removed += other.grants_removed
        self.other_acls_removed += other.other_acls_removed

    def lines(self) -> list[str]:
        """Human-readable report, one line per kind of thing."""
        def names(items: list[str]) -> str:
            return ", ".join(sorted(items)) if items else "none"
        return [
            f"Kafka key (SCRAM credential): {'deleted' if self.key_deleted else 'none'}",
            f"owned topics deleted with their events: {names(self.topics_deleted)}",
            f"owned topics unregistered (no data on the brokers): "
            f"{names(self.topics_unregistered)}",
            f"access removed from other owners' topics: {names(self.grants_removed)}",
            f"other ACLs naming the account removed: {self.other_acls_removed}",
        ]


def deprovision(admin: KafkaAdminBackend, user: str, *, mechanism: str = "SCRAM-SHA-512",
                propagation_seconds: float = 10.0) -> Removal:
    """Delete ``user``'s SCRAM credential, owned topics (data and every ACL) and grants.

    :param admin: the Kafka side, authenticated as a super user
    :param user: the principal's name (an identity id, or a confidential client's id)
    """
    report = Removal(user)
    # the key first: from here on no new connection authenticates as the account
    report.key_deleted = admin.delete_scram(user, mechanism)
    manager = TopicAccessManager(admin, propagation_seconds=propagation_seconds)
    principal = acls.principal_of(user)
    entries = admin.principal_acls(principal)
    owned = acls.owned_topics(user, entries)
    for topic in owned:
        result = manager.unregister(topic, user)
        if result.outcome == "success":
            (report.topics_deleted if result.deleted_topic
             else report.topics_unregistered).append(topic)
    for topic in acls.topics_of(user, entries):
        if topic in owned:
            continue
        own = manager.access(topic).entries_of(user)
        if own:
            admin.delete_acls(own)
            report.grants_removed.append(topic)
    # whatever still names the principal (old-convention group ACLs, hand-made ones) goes too
    rest = admin.principal_acls(principal)
    admin.delete_acls(rest)
    report.other_acls_removed = len(rest)
    return report
