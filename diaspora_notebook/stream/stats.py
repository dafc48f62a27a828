"""What a live stream reports: counters, rate, lag and errors (``LiveDataFrame.stats``).

``StreamStatus`` is the mutable, lock-protected state the consumer thread writes; ``StreamStats``
is the frozen snapshot users read. Neither touches the network.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

#: Life cycle of the consumer thread, as shown in ``stats.state`` and the widget.
STATES = ("starting", "running", "paused", "retrying", "stopped", "failed")


@dataclass(frozen=True)
class StreamStats:
    """A consistent snapshot of a live stream's counters (see ``LiveDataFrame.stats``)."""

    state: str
    events: int  #: records added to the view since the start (duplicates excluded)
    rows: int  #: rows the view holds now (at most ``max_rows``)
    max_rows: int
    rate: float  #: events per second over the last few seconds
    lag: dict[str, int | None] = field(default_factory=dict)  #: ``"topic[p]"`` -> records behind
    rows_dropped: int = 0  #: oldest rows pushed out by the ``max_rows`` window
    rows_replaced: int = 0  #: rows superseded by a newer record with the same key
    duplicates: int = 0  #: records seen again (after a retry) and skipped
    decode_errors: int = 0  #: payloads kept as text with an ``_error`` (decoded rows only)
    callback_errors: int = 0  #: exceptions raised by ``on_batch`` callbacks
    consumer_errors: int = 0  #: errors the consumer thread met and retried
    error: str | None = None  #: the problem the stream has *now* (``None`` once it recovered)
    last_error: str | None = None  #: the most recent consumer error, even if recovered from
    last_callback_error: str | None = None  #: traceback of the last failed callback
    paused: bool = False
    schema_changes: int = 0  #: batches whose payload fields differed from the batch before
    #: payload fields that appeared after the first batch -> where (topic, partition, offset)
    new_fields: dict[str, Any] = field(default_factory=dict)
    engine: str = ""  #: the consumer library reading: ``confluent`` or ``kafka-python``

    @property
    def total_lag(self) -> int | None:
        """Records behind over all partitions; ``None`` while some partition's lag is unknown."""
        if not self.lag or any(v is None for v in self.lag.values()):
            return None
        return sum(v for v in self.lag.values() if v is not None)

    @property
    def errors(self) -> int:
        """Every kind of error counted so far (consumer, callbacks, undecodable payloads)."""
        return self.consumer_errors + self.callback_errors + self.decode_errors

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_lag": self.total_lag, "errors": self.errors}

    def summary(self) -> str:
        """One line: ``running: 1,234 events (520.1/s), 1,000/10,000 rows, lag 0, 0 errors``."""
        lag = self.total_lag
        text = (
            f"{self.state}: {self.events:,} events ({self.rate:,.1f}/s), "
            f"{self.rows:,}/{self.max_rows:,} rows, lag {'?' if lag is None else f'{lag:,}'}, "
            f"{self.errors:,} errors"
        )
        if self.rows_dropped:
            text += f", {self.rows_dropped:,} dropped by the window"
        if self.error:
            text += f" - {self.error}"
        return text


class RateMeter:
    """Events per second over a sliding window, from cumulative counts."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()
        self._frozen: float | None = None

    def freeze(self, now: float | None = None) -> None:
        """Hold the rate at its value now (a paused stream's rate does not decay to 0)."""
        if self._frozen is None:
            self._frozen = self.rate(now)

    def thaw(self, count: int, now: float | None = None) -> None:
        """Measure again from ``count`` events now (the pause is not part of any window)."""
        self._frozen = None
        self._samples.clear()
        self.add(count, now)

    def add(self, count: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, count))
        while len(self._samples) > 2 and self._samples[1][0] < now - self.window:
            self._samples.popleft()

    def rate(self, now: float | None = None) -> float:
        if self._frozen is not None:
            return self._frozen
        now = time.monotonic() if now is None else now
        if not self._samples:
            return 0.0
        t0, c0 = self._samples[0]
        _t1, c1 = self._samples[-1]
        span = max(now - t0, 1e-3)
        if now - _t1 > self.window:  # nothing new for a whole window
            return 0.0
        return (c1 - c0) / span


class StreamStatus:
    """State shared by the consumer thread (writer) and the user's thread (reader)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = "starting"
        self.paused = False
        self.error: str | None = None
        self.error_exc: BaseException | None = None
        self.error_at = 0.0  # time.monotonic() of the last consumer error
        self.last_error: str | None = None
        self.consumer_errors = 0
        self.callback_errors = 0
        self.last_callback_error: str | None = None
        self.lag: dict[str, int | None] = {}
        self.rate = RateMeter()

    def set_state(self, state: str) -> None:
        with self.lock:
            if self.state not in ("stopped", "failed"):
                self.state = state

    def record_error(self, exc: BaseException, text: str, *, state: str = "retrying") -> None:
        with self.lock:
            self.consumer_errors += 1
            self.error = text
            self.error_exc = exc
            self.last_error = text
            self.error_at = time.monotonic()
            if self.state != "stopped":
                self.state = state

    def clear_error(self, *, quiet_for: float = 0.0) -> None:
        """The problem is over: records arrived, or (``quiet_for``) the brokers answered and no
        error came for that many seconds. A broker that answers proves little while a fetch
        keeps failing (access revoked): clearing at once would make the error blink."""
        with self.lock:
            if self.error is not None:
                if time.monotonic() - self.error_at < quiet_for:
                    return
                self.error = None
                self.error_exc = None
            if self.state in ("retrying", "starting"):
                self.state = "paused" if self.paused else "running"

    def record_callback_error(self, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        with self.lock:
            self.callback_errors += 1
            self.last_callback_error = text[-4000:]
