"""Event-time windows: which windows an event belongs to, and when a window closes.

The rules (the same in :mod:`~diaspora_notebook.stream.aggregate` and in the tests' pandas
oracle):

* Windows are aligned to 0 (the epoch for times): window ``k`` covers ``[k * every,
  k * every + size)``. Tumbling windows have ``every == size`` (each event is in one window);
  hopping windows have ``every < size`` (an event is in about ``size / every`` windows).
* The watermark is the largest event time seen so far, over every partition read (one
  watermark, not one per partition: a topic's partitions read from far behind one another,
  e.g. history from ``start="earliest"``, need a ``grace`` that covers the gap, or their
  events are late).
* An event is *on time* for window ``w`` when ``w.end + grace`` is after the watermark as it
  was before the event arrived; it is added to ``w``. Otherwise it is *late* for ``w``: it is
  counted (the window's ``late`` column) and never merged.
* A window closes once the watermark reaches ``end + grace``: its row is final.

Times are integers (milliseconds since the epoch for ``on="timestamp"`` or a time field);
a numeric field keeps its own units (floats).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError

#: most windows one event may fall in (hopping windows: ``size / every``)
MAX_HOPS = 1_000


def duration_ms(value: Any, what: str) -> int:
    """A duration as whole milliseconds: seconds (a number), text (``"10s"``, ``"1min"``,
    ``"250ms"``), a ``timedelta`` or a ``pandas.Timedelta``."""
    if isinstance(value, bool):
        raise DiasporaUsageError(f"{what} must be a duration, not {value!r}",
                                 hint='e.g. "10s", "1min", 10 (seconds) or timedelta(seconds=10)')
    if isinstance(value, (int, float)):
        ms = float(value) * 1000.0
    elif isinstance(value, dt.timedelta):
        ms = value.total_seconds() * 1000.0
    elif isinstance(value, str):
        import pandas as pd

        try:
            ms = pd.Timedelta(value).total_seconds() * 1000.0
        except ValueError:
            raise DiasporaUsageError(f"{what} {value!r} is not a duration",
                                     hint='e.g. "10s", "1min", "250ms"') from None
    else:
        raise DiasporaUsageError(f"{what} must be a duration, not {value!r}",
                                 hint='e.g. "10s", "1min", 10 (seconds) or timedelta(seconds=10)')
    if not math.isfinite(ms) or ms != round(ms):
        raise DiasporaUsageError(f"{what} {value!r} is not a whole number of milliseconds",
                                 hint="windows are counted in milliseconds")
    return round(ms)


@dataclass(frozen=True)
class Windows:
    """Tumbling (``every == size``) or hopping windows over ``on``.

    :ivar size: window length (ms for times)
    :ivar every: hop between window starts (``size`` when tumbling)
    :ivar grace: how long after its end a window still takes late events
    :ivar on: ``"timestamp"`` (the Kafka timestamp) or a payload field
    :ivar time: the values are times (ms since the epoch); else plain numbers
    """

    size: float
    every: float
    grace: float
    on: str = "timestamp"
    time: bool = True

    @classmethod
    def make(cls, size: Any, every: Any = None, *, on: str = "timestamp",
             grace: Any = None) -> Windows:
        """Check the user's arguments (see ``LiveDataFrame.window``)."""
        if not isinstance(on, str) or not on:
            raise DiasporaUsageError(f"on must be a column name, not {on!r}",
                                     hint='"timestamp" (the Kafka timestamp) or a payload field')
        # a number with a field: the field's own units; anything else is a duration
        numeric = on != "timestamp" and isinstance(size, (int, float)) and not isinstance(
            size, bool)
        if numeric:
            def conv(v: Any, what: str) -> float:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise DiasporaUsageError(
                        f"{what} must be a number in the units of {on!r}, not {v!r}",
                        hint="a numeric window size keeps the field's units for every length")
                return float(v)
        else:
            conv = duration_ms  # type: ignore[assignment]
        width = conv(size, "size")
        hop = width if every is None else conv(every, "every")
        late = 0 if grace is None else conv(grace, "grace")
        if width <= 0 or hop <= 0 or late < 0:
            raise DiasporaUsageError(
                f"size and every must be positive and grace not negative "
                f"(size={size!r}, every={every!r}, grace={grace!r})",
                hint='e.g. live.window("10s", every="5s", grace="2s")')
        if hop > width:
            raise DiasporaUsageError(
                f"every ({every!r}) is longer than size ({size!r}): events between windows "
                "would be dropped", hint="every <= size (every=None: tumbling windows)")
        if math.ceil(width / hop) > MAX_HOPS:
            raise DiasporaUsageError(
                f"size / every is {width / hop:,.0f}: each event would be in that many windows",
                hint=f"at most {MAX_HOPS:,} overlapping windows; use a longer every")
        return cls(width, hop, late, on, not numeric)

    @property
    def tumbling(self) -> bool:
        return self.every == self.size

    @property
    def hops(self) -> int:
        """Most windows one event falls in."""
        return math.ceil(self.size / self.every)

    def assign(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The windows of each event: ``(row, k)`` pairs, row-major (each event's windows
        together), where window ``k`` starts at ``k * every``."""
        if self.tumbling:
            k = t // self.every if self.time else np.floor(t / self.every)
            return np.arange(len(t)), k.astype(np.int64)
        if self.time:
            hi = t // self.every
            lo = (t - self.size) // self.every + 1
        else:
            hi = np.floor(t / self.every)
            lo = np.floor((t - self.size) / self.every) + 1
        hi = hi.astype(np.int64)
        lo = lo.astype(np.int64)
        m = self.hops
        rows = np.repeat(np.arange(len(t)), m)
        k = np.repeat(hi, m) - np.tile(np.arange(m, dtype=np.int64), len(t))
        keep = k >= np.repeat(lo, m)
        return rows[keep], k[keep]

    def start(self, k: Any) -> Any:
        return k * self.every

    def end(self, k: Any) -> Any:
        return k * self.every + self.size

    def closes_at(self, k: Any) -> Any:
        """The watermark at which window ``k`` closes."""
        return k * self.every + self.size + self.grace

    def describe(self) -> str:
        def show(v: float) -> str:
            if not self.time:
                return f"{v:g}"
            for unit, ms in (("h", 3_600_000), ("min", 60_000), ("s", 1_000)):
                if v >= ms and v % ms == 0:
                    return f"{v // ms:g}{unit}"
            return f"{v:g}ms"
        kind = "tumbling" if self.tumbling else f"hopping every {show(self.every)}"
        grace = f", grace {show(self.grace)}" if self.grace else ""
        return f"{kind} windows of {show(self.size)} on {self.on}{grace}"
