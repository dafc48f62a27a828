"""The refresher: calls a view's ``refresh`` in a daemon thread at an adaptive rate.

It watches only the stream's :class:`~diaspora_notebook.stream.views.LiveFeed` (its version,
whether it runs, how it ended), never prints, and ends with the stream or ``close()``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diaspora_notebook.stream.views import LiveFeed

log = logging.getLogger(__name__)

#: states a stream ends in (its thread records one when it is done)
ENDED = ("stopped", "failed")


class Refresher:
    """Calls ``refresh`` at most ``hz`` times a second until the stream stops or ``close()``,
    slower when refreshing is expensive or the kernel is busy (an adaptive throttle).

    Like Perspective's throttle, the period is at least a multiple of what refreshes cost, so
    views never take more than a fraction of a core. The cost is the mean of the last few
    refreshes (Perspective's moving window): one slow refresh, such as the first (8,000 rows at
    once, code paths run for the first time) must not stretch the next wait to half a second
    while events pile up. When the refresher wakes up late (the kernel's main thread holds the
    GIL doing the user's work), the period grows, then decays back to ``1/hz`` once wake-ups are
    on time again. Refreshes start a period apart (not a period after the last one ended), so a
    refresh's cost is not added to every event's wait. When a period passes with no new rows,
    the refresher waits for the next ones (up to ``IDLE_S``, so counters stay current) and
    refreshes as they land: the first event after a quiet spell, and every event of a slow
    stream, is shown at once instead of on the next tick (up to a period later).

    :param live: the stream watched (its end ends the refresher after one last refresh)
    :param refresh: what to call; exceptions are logged at debug level, never printed
    :param hz: most calls per second
    """

    COST_FACTOR = 5.0  # refresh at most 1/5 of the time: views stay a small share of a core
    # waking up this late means the process is starved (the kernel's cell or the stream itself
    # holds the GIL); below it is scheduling noise on a loaded machine, not worth slowing for
    LATE_S = 0.25
    MAX_PERIOD_S = 1.0
    COST_WINDOW = 5  # refreshes whose mean cost sets the floor (Perspective averages 5 renders)
    IDLE_S = 0.25  # most time between refreshes while no rows arrive (counters, state)

    def __init__(self, live: LiveFeed, refresh: Callable[[], None], hz: float,
                 *, start: bool = True) -> None:
        self.live = live
        self.refresh = refresh
        self.base = 1.0 / hz
        self.period = self.base
        # counted as cheap until measured: the first refreshes alone do not set the floor
        self.costs: deque[float] = deque([0.0] * self.COST_WINDOW, maxlen=self.COST_WINDOW)
        self.late = 0.0
        self.refreshes = 0
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, name="diaspora-live-view", daemon=True)
        if start:
            self.thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        planned = last + self.period
        seen = self.live.version
        while True:
            if self.closed.wait(max(planned - time.monotonic(), 0.0)):
                return
            self.late = max(time.monotonic() - planned, 0.0)
            if self.live.running:  # nothing new yet: refresh when the next rows land
                self.live.wait_changed(seen, max(last + self.IDLE_S - time.monotonic(), 0.0))
                if self.closed.is_set():
                    return
            version = self.live.version
            had_rows, seen = version != seen, version
            done = not self.live.running
            if done:  # the last refresh must show how it ended, not a stale "running"
                self._settle()
            started = time.monotonic()
            try:
                self.refresh()
            except Exception:  # a view must never break the kernel or print from a thread
                log.debug("live view refresh failed", exc_info=True)
            self.costs.append(time.monotonic() - started)
            self.refreshes += 1
            self.period = self.next_period(self.period, sum(self.costs) / len(self.costs),
                                           self.late)
            if done:
                return
            # the period spaces refreshes that carry rows; after one that only updated the
            # counters, the next rows are shown as they land
            last = started
            planned = started + self.period if had_rows else started

    def _settle(self, timeout: float = 5.0) -> None:
        """Wait until the consumer thread has recorded how it ended (stopped or failed)."""
        deadline = time.monotonic() + timeout
        while self.live.state not in ENDED and time.monotonic() < deadline:
            if self.closed.wait(0.05):
                return

    def next_period(self, period: float, cost: float, late: float) -> float:
        """The time from one refresh's start to the next, from the mean cost of the last
        refreshes and how late the refresher woke up."""
        if late > self.LATE_S:
            wanted = min(period * 1.5, self.MAX_PERIOD_S)
        else:
            wanted = max(self.base, period * 0.5)
        return min(max(wanted, cost * self.COST_FACTOR), self.MAX_PERIOD_S)

    def close(self, timeout: float = 10.0) -> None:
        """Stop refreshing and wait for a refresh in progress to end: the caller closes the
        widgets next, and Perspective crashes the process when its widget is closed in the
        middle of an update."""
        self.closed.set()
        self.live.wake_waiters()  # a refresher waiting for rows ends now
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)
