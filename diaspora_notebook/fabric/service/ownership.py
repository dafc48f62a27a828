"""Register, share and list topics: the rules, written over :class:`KafkaAdminBackend`.

Ownership lives only in Kafka's ACLs (see :mod:`.acls`). Register and unregister of one topic
are serialized by a per-topic lock in this process, and a registration re-reads the ACLs after
creating its own: if another owner appeared meanwhile (a second service replica), it takes its
ACLs back and reports a conflict, so two users never both own a topic.

No event written under one owner is readable by a later owner of the name: unregistering
deletes the topic (its data) before its ACLs, and a name that exists on the brokers without an
owner cannot be registered until the operator purges it (``diaspora-fabric topic purge``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminBackend
from diaspora_notebook.fabric.service.limits import partition_limit_reached, topic_limit_reached
from diaspora_notebook.fabric.service.partition_budget import PartitionBudget
from diaspora_notebook.naming import is_namespaced

log = logging.getLogger(__name__)

Outcome = Literal["success", "no-op"]
_STRIPES = 64


@dataclass(frozen=True)
class TopicUsers:
    topic: str
    owner: str
    users: list[str]
    read_only: list[str] = field(default_factory=list)


def _owned_by_another(topic: str) -> ServiceError:
    return ServiceError(403, "topic_owned_by_another",
                        f"topic {topic!r} is registered to another user",
                        hint="choose another topic name, or ask its owner to grant you access")


def _exists_without_owner(topic: str) -> ServiceError:
    return ServiceError(409, "topic_exists_unowned",
                        f"topic {topic!r} exists on the brokers but has no owner, so it may hold "
                        "another user's old events",
                        hint="choose another name, or ask the operator to delete it with "
                             f"`diaspora-fabric topic purge {topic}`")


@dataclass(frozen=True)
class Unregistered:
    outcome: Outcome
    deleted_topic: bool  # the topic existed on the brokers and was deleted with its data


def _not_registered(topic: str) -> ServiceError:
    return ServiceError(404, "topic_not_registered", f"topic {topic!r} is not registered",
                        hint="register it first with register_topic")


class TopicAccessManager:
    """Topic ownership and sharing for callers identified by their identity id."""

    def __init__(self, admin: KafkaAdminBackend, *, propagation_seconds: float = 10.0,
                 max_topics: Callable[[str], int] | None = None,
                 max_partitions: int | None = None,
                 budget: PartitionBudget | None = None) -> None:
        self._admin = admin
        self._max_topics = max_topics
        self._max_partitions = max_partitions
        self.budget = budget  # partitions per user and in all (see partition_budget)
        self._propagation = propagation_seconds
        self._locks = [threading.Lock() for _ in range(_STRIPES)]

    def _lock(self, topic: str) -> threading.Lock:
        digest = hashlib.sha256(topic.encode()).digest()
        return self._locks[digest[0] % _STRIPES]

    def access(self, topic: str) -> acls.TopicAccess:
        return acls.interpret(topic, self._admin.topic_acls(topic))

    def _wait(self, topic: str, present: list[acls.AclEntry],
              absent: list[acls.AclEntry]) -> None:
        # Best effort: Kafka has committed the change; brokers catch up within milliseconds.
        if self._propagation > 0:
            self._admin.wait_acls(topic, present, absent, self._propagation)

    def _owned(self, topic: str, caller: str) -> acls.TopicAccess:
        state = self.access(topic)
        if not state.registered:
            raise _not_registered(topic)
        if caller not in state.owners:
            raise ServiceError(403, "not_topic_owner",
                               f"only the owner of topic {topic!r} may do this",
                               hint="ask the topic's owner")
        return state

    def _owned_topics(self, caller: str) -> list[str]:
        return acls.owned_topics(caller, self._admin.principal_acls(acls.principal_of(caller)))

    def register(self, topic: str, caller: str) -> Outcome:
        with self._lock(topic):
            state = self.access(topic)
            if caller in state.owners:
                return "no-op"
            if state.registered:
                raise _owned_by_another(topic)
            if self._max_topics is not None:
                cap = self._max_topics(caller)
                owned = acls.owned_topics(
                    caller, self._admin.principal_acls(acls.principal_of(caller)))
                if len(owned) >= cap:
                    raise topic_limit_reached(caller, len(owned), cap)
            if self._admin.topic_exists(topic):
                raise _exists_without_owner(topic)
            if self.budget is not None:
                # before the ACLs: the brokers know the allotment before the caller may create
                self.budget.allot(topic, caller, self._owned_topics(caller))
            # grants left behind without an owner must not carry over to the new owner's data
            if state.entries:
                self._admin.delete_acls(state.entries)
            # nor groups of the name's earlier owner (their names, members, hosts)
            active = self._admin.delete_groups(acls.group_prefix(topic))
            if active:
                # their names are the earlier owner's: counted, not listed
                raise ServiceError(409, "previous_groups_active",
                                   f"{len(active)} consumer group(s) of an earlier owner of "
                                   f"{topic!r} still have members",
                                   hint="retry in a minute: members without access leave when "
                                        "their session times out")
            wanted = acls.owner_entries(topic, caller)
            self._admin.create_acls(wanted)
            self._wait(topic, wanted, [])
            others = [o for o in self.access(topic).owners if o != caller]
            if others:
                self._admin.delete_acls([e for e in wanted if e not in state.entries])
                raise ServiceError(409, "registration_conflict",
                                   f"topic {topic!r} was registered concurrently by another user",
                                   hint="retry; at most one registration wins")
            return "success"

    def unregister(self, topic: str, caller: str) -> Unregistered:
        with self._lock(topic):
            state = self.access(topic)
            if not state.registered:
                return Unregistered("no-op", deleted_topic=False)
            if caller not in state.owners:
                raise _owned_by_another(topic)
            # data first: if this fails, the caller still owns the topic and can retry
            deleted = self._admin.delete_topic(topic, self._propagation)
            self._admin.delete_acls(state.entries)
            self._wait(topic, [], state.entries)
            if self.budget is not None:
                self.budget.release(topic)
            # the groups' names and members would be the next owner's to see (the offsets of
            # this topic went with it). Best effort: the topic is gone either way, and the next
            # registration of the name sweeps the groups again
            self._forget_groups(topic)
            return Unregistered("success", deleted_topic=deleted)

    def add_partitions(self, topic: str, caller: str, total: int) -> tuple[Outcome, int]:
        """Grow the caller's ``topic`` to ``total`` partitions (the new total, as Kafka's
        CreatePartitions), at most the brokers' per-topic cap. Owners hold no ALTER, so this is
        the only way a topic grows. A total it already has is a no-op.

        :returns: the outcome and the partition count now
        """
        if isinstance(total, bool) or not isinstance(total, int) or total < 1:
            raise ServiceError(400, "invalid_partitions",
                               f"partitions must be a whole number of at least 1, not {total!r}",
                               hint="pass the new total number of partitions")
        with self._lock(topic):
            self._owned(topic, caller)
            if self._max_partitions is not None and total > self._max_partitions:
                raise partition_limit_reached(topic, total, self._max_partitions)
            now = self._admin.partition_count(topic)
            if now is None:
                raise ServiceError(404, "topic_not_found",
                                   f"topic {topic!r} is registered but not on the brokers",
                                   hint="create it first (KafkaAdmin().create_topics or "
                                        "topics.create)")
            if total == now:
                return "no-op", now
            if total < now:
                raise ServiceError(400, "invalid_partitions",
                                   f"topic {topic!r} has {now} partitions; partitions can be "
                                   f"added, never removed (asked for {total})",
                                   hint=f"pass a total above {now}")
            if self.budget is not None:  # the user's and the fabric's partitions
                self.budget.grow(topic, caller, self._owned_topics(caller), total)
            self._admin.add_partitions(topic, total, self._propagation)
            return "success", total

    def purge(self, topic: str) -> tuple[bool, list[acls.AclEntry]]:
        """Operator: delete a topic that has no owner, and any grants left on it.

        :returns: whether a topic was deleted, and the ACLs removed
        """
        with self._lock(topic):
            state = self.access(topic)
            if state.registered:
                raise ServiceError(409, "topic_has_owner",
                                   f"topic {topic!r} is registered to {', '.join(state.owners)}",
                                   hint="its owner unregisters it (which deletes its data), or "
                                        "remove that account with `diaspora-fabric user remove`")
            deleted = self._admin.delete_topic(topic, self._propagation)
            self._admin.delete_acls(state.entries)
            self._forget_groups(topic)
            return deleted, state.entries

    def _forget_groups(self, topic: str) -> None:
        try:
            self._admin.delete_groups(acls.group_prefix(topic))
        except ServiceError as exc:
            log.warning("the consumer groups of %s were not deleted (%s); the next "
                        "registration of the name deletes them", topic, exc)

    def orphans(self) -> list[str]:
        """Topics on the brokers that nobody owns (Kafka's internal ``__`` topics and v3's
        namespaced ``ns-….<topic>`` topics, owned through their namespace, excepted)."""
        return [t for t in self._admin.topic_names()
                if not t.startswith("__") and not is_namespaced(t)
                and not self.access(t).registered]

    def grant(self, topic: str, caller: str, user: str, *, read_only: bool = False) -> Outcome:
        """Let ``user`` consume from ``topic`` (and produce, unless ``read_only``), with its
        own consumer groups ``<topic>/<user>/...`` only. Granting again with the other
        ``read_only`` changes the grant; a grant of the old shape is brought to this one."""
        with self._lock(topic):
            state = self._owned(topic, caller)
            if user in state.owners:
                return "no-op"
            have = set(state.entries_of(user))
            wanted = acls.grantee_entries(topic, user, read_only=read_only)
            if have == set(wanted):
                return "no-op"
            added = [e for e in wanted if e not in have]
            removed = sorted(have - set(wanted))
            self._admin.create_acls(added)  # first: a consumer keeps what it still may do
            self._admin.delete_acls(removed)
            self._wait(topic, wanted, removed)
            return "success"

    def revoke(self, topic: str, caller: str, user: str) -> Outcome:
        with self._lock(topic):
            state = self._owned(topic, caller)
            if user in state.owners:
                raise ServiceError(400, "cannot_revoke_owner",
                                   "the owner's access cannot be revoked",
                                   hint="use unregister_topic to give the topic up")
            entries = state.entries_of(user)
            if not entries:
                return "no-op"
            self._admin.delete_acls(entries)
            self._wait(topic, [], entries)
            return "success"

    def users(self, topic: str, caller: str) -> TopicUsers:
        state = self._owned(topic, caller)
        return TopicUsers(topic=topic, owner=caller, users=state.grantees,
                          read_only=state.read_only)

    def topics(self, caller: str) -> list[str]:
        return acls.topics_of(caller, self._admin.principal_acls(acls.principal_of(caller)))
