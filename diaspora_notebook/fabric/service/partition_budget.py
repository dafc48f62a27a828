"""Partitions per user and for the fabric: a budget the service keeps and the brokers enforce.

Users create their registered topics themselves (CREATE on the literal name), so the service
never sees the partition count they ask for; the brokers' create-topic policy sees it but
knows no owners (Kafka gives it no principal). So the service writes, for every registered
topic, the most partitions that registration may hold into a file the policy reads (0600,
replaced atomically, re-read by the plugin when it changes)::

    {"version": 1, "topics": {"<topic>": {"max_partitions": 8, "user": "<identity id>",
                                         "budget": 256, "at": 1700000000.0}}}

The rules:

* a registration is allotted ``min(max_partitions_per_topic, left of the user's budget, left
  of the fabric's total)``; with nothing left it is refused (``partition_budget_reached`` 403,
  ``fabric_partitions_full`` 503);
* what a user uses is, over its other registered topics, the actual partition count of those
  created and the allotment of those not created yet; each time the service looks, the
  allotment of a created topic shrinks to its actual count (unused reservation returns);
* growth (the ``add_partitions`` route) is checked against the same budgets by :meth:`grow`
  and raises the allotment;
* unregistering removes the entry.

The fabric's total (``max_partitions_total``) is what the brokers' open-file limit holds, so a
few users together cannot exhaust it. Topics without an entry (the admin's, v3 namespaces',
registrations made before the budget existed) get only the per-topic cap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from diaspora_notebook.fabric.service.errors import ServiceError

log = logging.getLogger(__name__)

DEFAULT_MAX_PARTITIONS_PER_USER = 1024  # 32 registrations not yet created at the 32 cap
MAX_PARTITIONS_KEY = "max_partitions"
# an entry of a registration that never completed (its ACLs were not written) is dropped
# after this long; until then it counts, so a concurrent registration cannot overspend
STALE_SECONDS = 600.0


def partition_budget_reached(user_cap: int, used: int, wanted: int | None = None) -> ServiceError:
    left = max(0, user_cap - used)
    asked = f"{wanted} more requested, " if wanted is not None else ""
    return ServiceError(
        403, "partition_budget_reached",
        f"your topics hold {used} partitions; {asked}{left} left of the most one user may "
        f"have here (max_partitions_per_user = {user_cap})",
        hint="unregister a topic you no longer need, or ask the fabric operator to raise your "
             f"limit: `diaspora-fabric user limits <username> --max-partitions "
             f"{max(user_cap * 2, 1)}` (or max_partitions_per_user in the service config)")


def fabric_partitions_full(total: int, allotted: int) -> ServiceError:
    return ServiceError(
        503, "fabric_partitions_full",
        f"the fabric's brokers hold at most {total} partitions of users' topics "
        f"(max_partitions_total, from their open-file limit) and {allotted} are allotted",
        hint="unregister topics you no longer need, or ask the fabric operator to raise the "
             "brokers' open-file limit (DIASPORA_FABRIC_BROKER_OPEN_FILES, then "
             "`diaspora-fabric down && diaspora-fabric up`)")


class PartitionBudget:
    """The allotment file and the rules above. ``partition_counts(topics)`` returns the actual
    partition count of each of ``topics`` that exists on the brokers."""

    def __init__(self, path: Path | None, *, per_topic: int, per_user: Callable[[str], int],
                 total: int | None,
                 partition_counts: Callable[[list[str]], dict[str, int]]) -> None:
        self.path = path
        self.per_topic = per_topic
        self.per_user = per_user
        self.total = total
        self._counts = partition_counts
        self._lock = threading.Lock()

    # -- the file -----------------------------------------------------------------------------

    def read(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # the brokers keep the last good file; the service rebuilds from what it can read
            log.error("the partition budget file %s is unreadable (%s); starting it anew",
                      self.path, exc)
            return {}
        topics = data.get("topics") if isinstance(data, dict) else None
        return {k: v for k, v in (topics or {}).items()
                if isinstance(v, dict) and isinstance(v.get("max_partitions"), int)}

    def _write(self, topics: dict[str, dict[str, Any]]) -> None:
        from diaspora_notebook.fabric.home import write_private

        assert self.path is not None
        write_private(self.path, json.dumps({"version": 1, "topics": topics}, indent=1,
                                            sort_keys=True) + "\n")

    # -- the rules ----------------------------------------------------------------------------

    def _usage(self, topics: dict[str, dict[str, Any]], user: str, owned: Iterable[str],
               skip: str) -> int:
        """The user's partitions (actual if created, else allotted) over ``owned`` and its
        pending entries; shrinks created topics' allotments to their count (in ``topics``)."""
        now = time.time()
        mine = {t for t, e in topics.items() if e.get("user") == user}
        for name in list(mine - set(owned) - {skip}):  # registrations that never completed
            if now - float(topics[name].get("at", 0)) > STALE_SECONDS:
                del topics[name]
                mine.discard(name)
        names = sorted((set(owned) | mine) - {skip})
        actual = self._counts(names) if names else {}
        used = 0
        for name in names:
            entry = topics.get(name)
            if name in actual:
                used += actual[name]
                if entry is not None:
                    entry["max_partitions"] = max(actual[name], 1)
            elif entry is not None:
                used += int(entry["max_partitions"])
            else:  # registered before the budget existed, not created: the per-topic cap
                used += self.per_topic
        return used

    def _allotted(self, topics: dict[str, dict[str, Any]], skip: str) -> int:
        """Partitions the brokers hold or will hold, over every user's entries: a created
        topic counts its actual partitions (its allotment shrinks to it here, whoever owns
        it), a registration not created yet one (the fewest a topic has). The total guards
        the brokers' open files, which only real partitions use; counting every pending
        registration at its full allotment let registrations that are never created (the
        seed's flow registers first) fill the fabric for everyone. Each user's own budget
        still counts them at their allotment (``_usage``), and each topic is capped by its
        allotment at creation, so one user overshoots the total by at most its pending
        registrations' allotments."""
        names = sorted(set(topics) - {skip})
        actual = self._counts(names) if names else {}
        held = 0
        for name in names:
            if name in actual:
                topics[name]["max_partitions"] = max(actual[name], 1)
                held += actual[name]
            else:
                held += 1
        return held

    def allot(self, topic: str, user: str, owned: Iterable[str]) -> int:
        """Reserve ``topic``'s allotment for ``user`` (who owns ``owned``), or raise."""
        if self.path is None:
            return self.per_topic
        with self._lock:
            topics = self.read()
            cap = self.per_user(user)
            used = self._usage(topics, user, owned, topic)
            allotment = min(self.per_topic, cap - used)
            if allotment < 1:
                raise partition_budget_reached(cap, used)
            if self.total is not None:
                allotted = self._allotted(topics, topic)
                allotment = min(allotment, self.total - allotted)
                if allotment < 1:
                    raise fabric_partitions_full(self.total, allotted)
            topics[topic] = {"max_partitions": allotment, "user": user, "budget": cap,
                             "at": time.time()}
            self._write(topics)
            return allotment

    def grow(self, topic: str, user: str, owned: Iterable[str], new_total: int) -> None:
        """Check growing ``topic`` to ``new_total`` partitions against ``user``'s budget and
        the fabric's total, and raise its allotment (before the brokers are asked)."""
        if self.path is None:
            return
        with self._lock:
            topics = self.read()
            cap = self.per_user(user)
            used = self._usage(topics, user, owned, topic)
            current = self._counts([topic]).get(topic, 0)
            if used + new_total > cap:
                raise partition_budget_reached(cap, used + current, new_total - current)
            if self.total is not None:
                allotted = self._allotted(topics, topic)
                if allotted + new_total > self.total:
                    raise fabric_partitions_full(self.total, allotted + current)
            topics[topic] = {"max_partitions": new_total, "user": user, "budget": cap,
                             "at": time.time()}
            self._write(topics)

    def release(self, topic: str) -> None:
        """Forget ``topic``'s allotment (it was unregistered)."""
        if self.path is None:
            return
        with self._lock:
            topics = self.read()
            if topics.pop(topic, None) is not None:
                self._write(topics)

    def used(self, user: str, owned: Iterable[str]) -> int:
        """What ``user`` uses now (for ``diaspora-fabric user limits``)."""
        if self.path is None:
            return 0
        with self._lock:
            return self._usage(self.read(), user, owned, "")


def partition_budget(settings: Any, admin: Any) -> PartitionBudget | None:
    """The service's budget from its settings (None without a ``partition_budget_file``)."""
    from diaspora_notebook.fabric.service.limits import PartitionCap, UserLimitsFile

    if settings.partition_budget_file is None:
        return None
    return PartitionBudget(
        settings.partition_budget_file, per_topic=settings.max_partitions_per_topic,
        per_user=PartitionCap(settings.max_partitions_per_user,
                              UserLimitsFile(settings.user_limits_file)),
        total=settings.max_partitions_total, partition_counts=admin.partition_counts)
