"""Login throttling: failed password logins lock an account, and an address, for a while.

Pure logic with an injectable clock (no HTTP, no logging). Two independent counters:

* per account (the normalized username, known or not, so throttling reveals nothing about
  which accounts exist): after ``max_failures`` failures the account is locked for
  ``lock_seconds``, and each further failure doubles the lock, up to ``lock_max_seconds``;
* per source address: the same rule with a higher limit, against password spraying (one
  password tried on many accounts), which no per-account counter sees.

Only failures count. A login refused because of a lock checks no password and counts nothing
(the lock cannot be stretched by hammering, and the password cannot be guessed during it), and a
successful login is never throttled by the counters of others. A success clears its account's
counter but not its address's, so an attacker cannot launder a spraying run by logging into an
account of their own. A counter starts over after ``window_seconds`` without a failure.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Scope = Literal["account", "source"]
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free and how long the locks after them last."""

    max_failures: int
    lock_seconds: float
    lock_max_seconds: float
    window_seconds: float

    def lock_for(self, failures: int) -> float:
        """Seconds to lock after the ``failures``-th failure (0: no lock yet)."""
        if failures < self.max_failures:
            return 0.0
        doublings = min(failures - self.max_failures, 64)  # 2**64 s is past any cap
        return min(self.lock_seconds * 2.0 ** doublings, self.lock_max_seconds)


@dataclass(frozen=True)
class Refusal:
    """A login refused (or just locked) by throttling: which counter, and for how long."""

    scope: Scope
    retry_after: int
    first: bool = True  # the first refusal of this lock (later ones are not logged: flooding)

    @property
    def message(self) -> str:
        what = ("this account" if self.scope == "account" else "your address")
        return (f"Too many failed login attempts for {what}; "
                f"try again in {self.retry_after} s.")


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0
    refusal_reported: bool = False


class LoginThrottle:
    """Thread-safe failure counters per account and per source address (in memory)."""

    def __init__(self, per_account: ThrottlePolicy, per_source: ThrottlePolicy, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_ENTRIES) -> None:
        self._policies: dict[Scope, ThrottlePolicy] = {"account": per_account,
                                                       "source": per_source}
        self._records: dict[tuple[Scope, str], _Record] = {}
        self._clock = clock
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def check(self, username: str, source: str) -> Refusal | None:
        """The longest lock on this account or address now, or ``None`` to go ahead."""
        now = self._clock()
        with self._lock:
            return self._longest(now, username, source, report=True)

    def failure(self, username: str, source: str) -> Refusal | None:
        """Count a wrong password; the lock it starts (or ``None`` while still free)."""
        now = self._clock()
        with self._lock:
            for key in self._keys(username, source):
                record = self._records.get(key)
                if record is None:
                    self._make_room(now)
                    record = self._records[key] = _Record()
                policy = self._policies[key[0]]
                if now - record.last_failure > policy.window_seconds:
                    record.failures = 0
                record.failures += 1
                record.last_failure = now
                lock = policy.lock_for(record.failures)
                if lock:
                    record.locked_until = max(record.locked_until, now + lock)
                    record.refusal_reported = False
            return self._longest(now, username, source)

    def success(self, username: str) -> None:
        """A correct password: the account's counter starts over (its address's does not)."""
        with self._lock:
            self._records.pop(("account", normalize(username)), None)

    def failures(self, username: str, source: str) -> tuple[int, int]:
        """Current failure counts ``(account, source)`` (for the log line)."""
        with self._lock:
            return tuple(  # type: ignore[return-value]
                r.failures if (r := self._records.get(key)) else 0
                for key in self._keys(username, source))

    def _keys(self, username: str, source: str) -> tuple[tuple[Scope, str], ...]:
        return (("account", normalize(username)), ("source", source))

    def _longest(self, now: float, username: str, source: str, *,
                 report: bool = False) -> Refusal | None:
        worst: Refusal | None = None
        first = False
        for key in self._keys(username, source):
            record = self._records.get(key)
            if record is None or record.locked_until <= now:
                continue
            if report:
                first = first or not record.refusal_reported
                record.refusal_reported = True
            refusal = Refusal(key[0], max(1, math.ceil(record.locked_until - now)))
            if worst is None or refusal.retry_after > worst.retry_after:
                worst = refusal
        if worst is not None and report:
            worst = Refusal(worst.scope, worst.retry_after, first=first)
        return worst

    def _make_room(self, now: float) -> None:
        """Bound memory: drop forgotten counters, then the stalest half if still full."""
        if len(self._records) < self._max_entries:
            return
        for key, record in list(self._records.items()):
            if (now - record.last_failure > self._policies[key[0]].window_seconds
                    and record.locked_until <= now):
                del self._records[key]
        if len(self._records) >= self._max_entries:
            stalest = sorted(self._records, key=lambda k: self._records[k].last_failure)
            for key in stalest[: len(stalest) // 2 + 1]:
                del self._records[key]


def normalize(username: str) -> str:
    """The account key: how the login form looks accounts up (trimmed, lower case)."""
    return username.strip().lower()[:320]


def from_settings(max_per_user: int, max_per_source: int, lock_seconds: float,
                  lock_max_seconds: float, window_seconds: float) -> LoginThrottle:
    """A throttle with the same lock schedule for both counters and their own limits."""
    def policy(limit: int) -> ThrottlePolicy:
        return ThrottlePolicy(limit, lock_seconds, lock_max_seconds, window_seconds)
    return LoginThrottle(policy(max_per_user), policy(max_per_source))
