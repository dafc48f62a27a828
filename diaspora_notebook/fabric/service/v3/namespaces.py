"""Users, keys, namespaces and topics of the v3 API, written as Kafka ACLs and topics.

No database, as in v1: a user's namespace ``ns-<12 hex>`` exists when the user's principal
``User:<sub>`` holds the namespace ACLs (:func:`namespace_entries`: PREFIXED ``<ns>.`` on
topics and on consumer groups); its topics are the Kafka topics named ``<ns>.<topic>``; its IAM
key is its entry in the key store. The service creates and deletes the topics itself (the
user's ACLs hold no CREATE or DELETE, as the hosted IAM policy), always after checking that
the caller owns the namespace. Answers have the hosted service's bodies (HTTP 200,
``status`` success or failure).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

from diaspora_notebook.fabric.service.acls import AclEntry, owned_topics, principal_of
from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminBackend
from diaspora_notebook.fabric.service.limits import topic_limit_reached
from diaspora_notebook.fabric.service.v3.errors import failure, success
from diaspora_notebook.fabric.service.v3.keystore import KeyStore
from diaspora_notebook.naming import (
    namespace_of,
    namespace_prefix,
    v3_kafka_topic,
    v3_name_problem,
)

log = logging.getLogger(__name__)

TOPIC_OPERATIONS = ("READ", "WRITE", "DESCRIBE")
GROUP_OPERATIONS = ("READ", "DESCRIBE")
PARTITIONS = 1
REPLICATION = 2  # the hosted service's; at most the number of brokers here
_OWNER_CACHE_SECONDS = 5.0
_RECREATE_SECONDS = 30.0


class NamespaceAdmin(KafkaAdminBackend, Protocol):
    """The Kafka calls v3 needs beyond v1's (implemented by ``KafkaAdminGateway``)."""

    def resource_acls(self, resource_type: str, name: str, pattern: str) -> list[AclEntry]: ...

    def broker_count(self) -> int: ...

    def create_topic(self, topic: str, partitions: int, replication: int) -> bool: ...


def namespace_entries(namespace: str, subject: str) -> list[AclEntry]:
    """The ACLs that make ``subject`` the owner of ``namespace``."""
    principal, prefix = principal_of(subject), namespace_prefix(namespace)
    return ([AclEntry(principal, "TOPIC", prefix, "PREFIXED", op) for op in TOPIC_OPERATIONS]
            + [AclEntry(principal, "GROUP", prefix, "PREFIXED", op) for op in GROUP_OPERATIONS])


class NamespaceManager:
    """The v3 management operations for callers identified by their ``sub``."""

    def __init__(self, admin: NamespaceAdmin, keys: KeyStore | None, *,
                 endpoint: Callable[[], str],
                 on_user_deleted: Callable[[str], None] = lambda _sub: None,
                 max_topics: Callable[[str], int] | None = None) -> None:
        self._admin = admin
        self._max_topics = max_topics
        self._keys = keys
        self._endpoint = endpoint
        self._on_user_deleted = on_user_deleted
        self._locks = [threading.Lock() for _ in range(32)]
        self._owner_cache: dict[str, tuple[float, bool]] = {}
        self._cache_lock = threading.Lock()

    def _lock(self, namespace: str) -> threading.Lock:
        return self._locks[hashlib.sha256(namespace.encode()).digest()[0] % len(self._locks)]

    # -- ownership -------------------------------------------------------------------------

    def _namespace_acls(self, namespace: str) -> list[AclEntry]:
        return self._admin.resource_acls("TOPIC", namespace_prefix(namespace), "PREFIXED")

    def _state(self, namespace: str, subject: str) -> tuple[bool, bool]:
        """``(mine, taken_by_another)`` from the namespace's topic ACLs."""
        principals = {e.principal for e in self._namespace_acls(namespace)}
        mine = principal_of(subject) in principals
        return mine, bool(principals - {principal_of(subject)})

    def owns(self, subject: str, namespace: str) -> bool:
        """Whether ``subject`` owns ``namespace`` (cached a few seconds)."""
        if namespace != namespace_of(subject):
            return False  # one namespace per user, derived from its identity
        key = f"{subject} {namespace}"
        now = time.monotonic()
        with self._cache_lock:
            hit = self._owner_cache.get(key)
            if hit and hit[0] > now:
                return hit[1]
        mine, _ = self._state(namespace, subject)
        with self._cache_lock:
            if mine:  # a positive answer only: a new user must not wait for the cache
                self._owner_cache[key] = (now + _OWNER_CACHE_SECONDS, True)
        return mine

    def _forget(self, subject: str) -> None:
        with self._cache_lock:
            self._owner_cache = {k: v for k, v in self._owner_cache.items()
                                 if not k.startswith(subject + " ")}

    def topics(self, namespace: str) -> list[str]:
        prefix = namespace_prefix(namespace)
        return sorted(t[len(prefix):] for t in self._admin.topic_names()
                      if t.startswith(prefix) and not v3_name_problem(t[len(prefix):]))

    # -- users -----------------------------------------------------------------------------

    def create_user(self, subject: str) -> dict[str, Any]:
        namespace = namespace_of(subject)
        with self._lock(namespace):
            mine, taken = self._state(namespace, subject)
            if taken and not mine:
                return failure(f"Failed to create namespace: Namespace already taken: "
                               f"{namespace}")
            if not mine:
                wanted = namespace_entries(namespace, subject)
                self._admin.create_acls(wanted)
        return success(f"User {subject} created with namespace {namespace}",
                       subject=subject, namespace=namespace)

    def delete_user(self, subject: str) -> dict[str, Any]:
        namespace = namespace_of(subject)
        # the key first: from here on no new IAM connection authenticates as the user
        if self._keys is not None:
            self._keys.delete(subject)
        self._on_user_deleted(subject)
        with self._lock(namespace):
            mine, _ = self._state(namespace, subject)
            if mine:
                for topic in self.topics(namespace):
                    self._admin.delete_topic(v3_kafka_topic(namespace, topic), 10.0)
                self._admin.delete_groups(namespace_prefix(namespace))
            own = [e for e in self._admin.principal_acls(principal_of(subject))
                   if e.pattern_type == "PREFIXED"
                   and e.resource_name == namespace_prefix(namespace)]
            self._admin.delete_acls(own)
            self._forget(subject)
        return success(f"User {subject} deleted")

    # -- keys ------------------------------------------------------------------------------

    def create_key(self, subject: str) -> dict[str, Any]:
        if self._keys is None:
            return failure("Failed to create IAM access key: this service issues no IAM keys "
                           "(no iam_key_store configured)")
        created = self.create_user(subject)
        if created["status"] != "success":
            return failure(f"Failed to create user: {created['message']}")
        try:
            key, fresh = self._keys.get_or_create(subject)
        except OSError as exc:
            log.error("cannot write the IAM key store: %s", exc.strerror)
            return failure("Failed to create IAM access key: the key store is not writable")
        message = (f"Access key created for {subject}" if fresh
                   else f"Access key already exists for {subject}")
        return success(message, access_key=key.access_key, secret_key=key.secret_key,
                       create_date=key.created, endpoint=self._endpoint(), fresh=fresh)

    def delete_key(self, subject: str) -> dict[str, Any]:
        if self._keys is not None:
            self._keys.delete(subject)
        return success(f"Access key deleted for {subject}")

    # -- namespaces and topics -------------------------------------------------------------

    def list_namespaces(self, subject: str) -> dict[str, Any]:
        namespace = namespace_of(subject)
        found = {namespace: self.topics(namespace)} if self.owns(subject, namespace) else {}
        return success(f"Found {len(found)} namespaces for {subject}", namespaces=found)

    def _owned(self, subject: str, namespace: str) -> dict[str, Any] | None:
        if not self.owns(subject, namespace):
            return failure(f"Namespace {namespace} not found for {subject}")
        return None

    def _replication(self) -> int:
        return max(1, min(REPLICATION, self._admin.broker_count()))

    def create_topic(self, subject: str, namespace: str, topic: str) -> dict[str, Any]:
        problem = v3_name_problem(topic)
        if problem:
            return failure(problem)
        refused = self._owned(subject, namespace)
        if refused:
            return refused
        kafka_name = v3_kafka_topic(namespace, topic)
        with self._lock(namespace):
            if topic in self.topics(namespace):
                return success(f"Topic {topic} already exists in {namespace}",
                               topics=self.topics(namespace))
            refused = self._over_topic_cap(subject, namespace)
            if refused:
                return refused
            try:
                self._admin.create_topic(kafka_name, PARTITIONS, self._replication())
            except ServiceError as exc:
                return failure(f"Failed to create Kafka topic: {exc.message}")
            return success(f"Topic {topic} created in {namespace}",
                           topics=self.topics(namespace))

    def _over_topic_cap(self, subject: str, namespace: str) -> dict[str, Any] | None:
        """The per-user topic cap of v1 (``max_topics_per_user`` or the user's own limit)
        counts the namespace's topics and the v1 topics the user owns together."""
        if self._max_topics is None:
            return None
        cap = self._max_topics(subject)
        owned = len(self.topics(namespace)) + len(owned_topics(
            subject, self._admin.principal_acls(principal_of(subject))))
        if owned < cap:
            return None
        refused = topic_limit_reached(subject, owned, cap)
        return failure(f"Failed to create topic: {refused.message}; {refused.hint}")

    def delete_topic(self, subject: str, namespace: str, topic: str) -> dict[str, Any]:
        refused = self._owned(subject, namespace)  # before anything is deleted
        if refused:
            return refused
        with self._lock(namespace):
            if topic not in self.topics(namespace):
                return success(f"Topic {topic} not found in {namespace}",
                               topics=self.topics(namespace))
            try:
                self._admin.delete_topic(v3_kafka_topic(namespace, topic), 10.0)
            except ServiceError as exc:
                return failure(f"Failed to delete Kafka topic: {exc.message}")
            remaining = [t for t in self.topics(namespace) if t != topic]
            return success(f"Topic {topic} deleted from {namespace}", topics=remaining)

    def recreate_topic(self, subject: str, namespace: str, topic: str) -> dict[str, Any]:
        refused = self._owned(subject, namespace)
        if refused:
            return refused
        kafka_name = v3_kafka_topic(namespace, topic)
        with self._lock(namespace):
            if topic not in self.topics(namespace):
                return failure(f"Topic {topic} not found in {namespace}")
            try:
                self._admin.delete_topic(kafka_name, 10.0)
                self._create_after_delete(kafka_name)
            except ServiceError as exc:
                return failure(f"Failed to recreate Kafka topic: {exc.message}")
        return success("Topic recreated")

    def _create_after_delete(self, kafka_name: str) -> None:
        """Create a topic that was just deleted (Kafka may still be removing the old one)."""
        deadline = time.monotonic() + _RECREATE_SECONDS
        while True:
            if self._admin.create_topic(kafka_name, PARTITIONS, self._replication()):
                return
            if time.monotonic() > deadline:
                raise ServiceError(503, "kafka_error", "the old topic is still being deleted")
            time.sleep(0.5)

    def namespace_topics(self, subject: str) -> Collection[str]:
        """The caller's topics (empty if it owns no namespace)."""
        namespace = namespace_of(subject)
        return self.topics(namespace) if self.owns(subject, namespace) else []


def remove_v3_account(admin: Any, iam_key_store: Any, subject: str) -> None:
    """Operator sweep (``diaspora-fabric user remove``): the subject's IAM keys, namespace
    topics with their data, groups and namespace ACLs, as ``DELETE /api/v3/user`` does."""
    keys = KeyStore(iam_key_store) if iam_key_store else None
    NamespaceManager(admin, keys, endpoint=lambda: "").delete_user(subject)
