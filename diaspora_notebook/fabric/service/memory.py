"""A dict-backed :class:`~.kafka_admin.KafkaAdminBackend` for unit tests of the HTTP layer.

It keeps ACLs and SCRAM credentials the way a single broker would report them, so the
ownership rules and routes can be tested without a cluster. Never used in a deployment.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection

from diaspora_notebook.fabric.service.acls import AclEntry
from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.naming import group_prefix


class InMemoryKafkaAdmin:
    """ACLs as a set, SCRAM users as ``{user: (mechanism, iterations, password digest)}``,
    topics on the brokers as ``{name: [events]}`` (tests add them as a user's client would)."""

    def __init__(self) -> None:
        self.acls: set[AclEntry] = set()
        self.topics: dict[str, list[bytes]] = {}
        self.partitions: dict[str, int] = {}  # topic -> partitions, when not 1
        self.groups: dict[str, int] = {}  # consumer group id -> members (tests add them)
        self.scram: dict[str, tuple[str, int, str]] = {}
        self.quotas: dict[str, dict[str, float]] = {}
        self.calls: list[str] = []
        self.down = False
        self.closed = False
        self._lock = threading.Lock()

    def _enter(self, name: str) -> None:
        with self._lock:
            self.calls.append(name)
        if self.down:
            raise ServiceError(503, "kafka_unavailable", "Kafka did not answer (fake)",
                               hint="retry")

    def topic_acls(self, topic: str) -> list[AclEntry]:
        self._enter("topic_acls")
        with self._lock:
            return sorted(e for e in self.acls if (
                (e.resource_type, e.pattern_type, e.resource_name) == ("TOPIC", "LITERAL", topic)
                or ((e.resource_type, e.pattern_type) == ("GROUP", "PREFIXED")
                and e.resource_name.startswith(group_prefix(topic)))))

    def principal_acls(self, principal: str) -> list[AclEntry]:
        self._enter("principal_acls")
        with self._lock:
            return sorted(e for e in self.acls if e.principal == principal)

    def prefixed_group_acls(self) -> list[AclEntry]:
        self._enter("prefixed_group_acls")
        with self._lock:
            return sorted(e for e in self.acls
                          if e.resource_type == "GROUP" and e.pattern_type == "PREFIXED")

    def topic_exists(self, topic: str) -> bool:
        self._enter("topic_exists")
        with self._lock:
            return topic in self.topics

    def topic_names(self) -> list[str]:
        self._enter("topic_names")
        with self._lock:
            return sorted(self.topics)

    def partition_counts(self, topics: list[str]) -> dict[str, int]:
        self._enter("partition_counts")
        with self._lock:
            return {t: self.partitions.get(t, 1) for t in topics if t in self.topics}

    def delete_topic(self, topic: str, timeout: float) -> bool:
        self._enter("delete_topic")
        with self._lock:
            return self.topics.pop(topic, None) is not None

    def partition_count(self, topic: str) -> int | None:
        self._enter("partition_count")
        with self._lock:
            return self.partitions.get(topic, 1) if topic in self.topics else None

    def add_partitions(self, topic: str, total: int, timeout: float) -> None:
        self._enter("add_partitions")
        with self._lock:
            if topic not in self.topics or total <= self.partitions.get(topic, 1):
                raise ServiceError(400, "invalid_partitions", "Kafka refused (fake)")
            self.partitions[topic] = total

    def delete_groups(self, prefix: str) -> list[str]:
        self._enter("delete_groups")
        with self._lock:
            matched = sorted(g for g in self.groups if g.startswith(prefix))
            for name in matched:
                if not self.groups[name]:  # Kafka deletes only groups without members
                    del self.groups[name]
            return [g for g in matched if g in self.groups]

    def create_acls(self, entries: Collection[AclEntry]) -> None:
        self._enter("create_acls")
        with self._lock:
            self.acls |= set(entries)

    def delete_acls(self, entries: Collection[AclEntry]) -> None:
        self._enter("delete_acls")
        with self._lock:
            self.acls -= set(entries)

    def wait_acls(self, topic: str, present: Collection[AclEntry],
                  absent: Collection[AclEntry], timeout: float) -> bool:
        self._enter("wait_acls")
        with self._lock:
            return set(present) <= self.acls and not (set(absent) & self.acls)

    def scram_iterations(self, user: str, mechanism: str) -> int | None:
        self._enter("scram_iterations")
        with self._lock:
            cred = self.scram.get(user)
        return cred[1] if cred and cred[0] == mechanism else None

    def upsert_scram(self, user: str, mechanism: str, password: str, iterations: int) -> None:
        self._enter("upsert_scram")
        digest = hashlib.sha256(password.encode()).hexdigest()
        with self._lock:
            self.scram[user] = (mechanism, iterations, digest)

    def wait_scram(self, user: str, mechanism: str, iterations: int, timeout: float) -> bool:
        self._enter("wait_scram")
        return self.scram_iterations(user, mechanism) == iterations

    def delete_scram(self, user: str, mechanism: str) -> bool:
        self._enter("delete_scram")
        with self._lock:
            cred = self.scram.get(user)
            if cred is None or cred[0] != mechanism:
                return False
            del self.scram[user]
            return True

    def authenticates(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s current key (what a broker would check)."""
        cred = self.scram.get(user)
        return cred is not None and cred[2] == hashlib.sha256(password.encode()).hexdigest()

    def user_quotas(self, user: str) -> dict[str, float]:
        self._enter("user_quotas")
        return dict(self.quotas.get(user, {}))

    def set_user_quotas(self, user: str, quotas: dict[str, float | None]) -> None:
        self._enter("set_user_quotas")
        mine = self.quotas.setdefault(user, {})
        for key, value in quotas.items():
            if value is None:
                mine.pop(key, None)
            else:
                mine[key] = float(value)
        if not mine:
            del self.quotas[user]

    def close(self) -> None:
        self.closed = True
