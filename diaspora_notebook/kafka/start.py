"""Where a read starts: one ``start=`` for LiveDataFrame, one-off reads and the explorer.

``start`` is ``"earliest"``, ``"latest"``, an offset ``n`` (each partition from offset n), ``-n``
(the last n of each partition), ``{partition: offset}``, or a time: a ``datetime``/``date``/
``pandas.Timestamp`` (naive means UTC), ISO text (``"2026-12-01T10:00Z"``) or a float of seconds
since the epoch (``time.time()``). :meth:`Start.of` checks it once; :meth:`Start.resolve` turns
it into an offset per partition, within each partition's low/high watermarks. A time is looked
up with offsets-for-times (one request), never by scanning; a partition with nothing that late
starts at its end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.source import TP, Source

#: what a user may pass as ``start=``
StartSpec = Any  # "earliest" | "latest" | int | {partition: offset} | datetime | ISO text | float
Kind = Literal["earliest", "latest", "offset", "last", "offsets", "time"]
DIRECTIONS = ("forward", "backward")
_HINT = ("use start='earliest', 'latest', an offset (7), the last n of each partition (-50), "
         "{partition: offset} or a time (datetime, pandas.Timestamp, '2026-12-01T10:00Z' or "
         "time.time()'s float seconds)")


@dataclass(frozen=True)
class Start:
    """A checked ``start=``: ``kind`` and its ``value`` (the offset, n of the last n, the
    ``{partition: offset}`` map, or the time in ms since the epoch)."""

    kind: Kind
    value: Any = None

    @classmethod
    def of(cls, start: StartSpec) -> Start:
        """``start`` checked (a ``Start`` passes through); a ``DiasporaUsageError`` if it is
        none of the forms above."""
        if isinstance(start, Start):
            return start
        if isinstance(start, str) and start in ("earliest", "latest"):
            return cls(start)  # type: ignore[arg-type]
        if isinstance(start, bool):
            pass
        elif isinstance(start, int):
            return cls("offset", start) if start >= 0 else cls("last", -start)
        elif isinstance(start, Mapping):
            bad = [p for p in start if isinstance(p, bool) or not isinstance(p, int)
                   or not isinstance(start[p], int) or isinstance(start[p], bool)]
            if bad:
                raise DiasporaUsageError(f"start maps partitions to offsets; {bad[0]!r}: "
                                         f"{start[bad[0]]!r} is not that", hint=_HINT)
            return cls("offsets", dict(start))
        else:
            ms = as_millis(start)
            if ms is not None:
                return cls("time", ms)
        raise DiasporaUsageError(f"invalid start {start!r}: start must be 'earliest', 'latest', "
                                 "an offset, {partition: offset} or a time", hint=_HINT)

    def resolve(self, source: Source, marks: Mapping[TP, tuple[int, int]], *,
                direction: str = "forward", latest_ms: int | None = None) -> dict[TP, int]:
        """The offset each partition starts at (forward: the first read; backward: the first
        not read), within its low/high watermarks.

        :param source: asked ``offsets_for_times`` for a time (and ``latest_ms``) only
        :param marks: ``{(topic, partition): (low, high)}``
        :param direction: a partition a ``{partition: offset}`` map does not name has nothing
            to read: forward it starts at its end, backward at its beginning
        :param latest_ms: ``"latest"`` means records from this time on (a live stream's
            creation), not the end offsets now; ``None``: the end offsets
        """
        tps = list(marks)
        if self.kind == "earliest":
            wanted = {tp: marks[tp][0] for tp in tps}
        elif self.kind == "offset":
            wanted = {tp: self.value for tp in tps}
        elif self.kind == "last":
            wanted = {tp: marks[tp][1] - self.value for tp in tps}
        elif self.kind == "offsets":
            edge = 1 if direction == "forward" else 0
            wanted = {tp: self.value.get(tp[1], marks[tp][edge]) for tp in tps}
        elif self.kind == "latest" and latest_ms is None:
            wanted = {tp: marks[tp][1] for tp in tps}
        else:  # a time
            ms = int(self.value if self.kind == "time" else latest_ms or 0)
            found = source.offsets_for_times(tps, ms) if tps else {}
            wanted = {tp: marks[tp][1] if (at := found.get(tp)) is None else int(at)
                      for tp in tps}
        return {tp: min(max(off, marks[tp][0]), marks[tp][1]) for tp, off in wanted.items()}


def direction_of(start: StartSpec, direction: str | None) -> str:
    """``direction`` checked; by default backward from ``"latest"`` (the newest page), else
    forward."""
    if direction is None:
        return "backward" if isinstance(start, str) and start == "latest" else "forward"
    if direction not in DIRECTIONS:
        raise DiasporaUsageError(f"direction must be 'forward' or 'backward', not {direction!r}",
                                 hint="backward reads the messages before start, newest first")
    return direction


def as_millis(when: Any) -> int | None:
    """A time (datetime, date, pandas Timestamp, ISO text, or a float of seconds since the
    epoch, as ``time.time()`` gives) as ms since the epoch; naive times are UTC. ``None`` when
    ``when`` is not a time."""
    if isinstance(when, float):
        return int(when * 1000)
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(when, dt.date) and not isinstance(when, dt.datetime):
        when = dt.datetime(when.year, when.month, when.day)
    if isinstance(when, dt.datetime):  # pandas.Timestamp is one too
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return int(when.timestamp() * 1000)
    return None


def parse_start(text: str) -> StartSpec:
    """``start`` from text (for magics): ``latest``, ``earliest``, ``42``, ``-100`` or ISO time.

    :param text: what the user typed
    """
    text = text.strip()
    if text in ("latest", "earliest"):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DiasporaUsageError(
            f"cannot read {text!r} as a start position",
            hint="use latest, earliest, an offset (42), -N for the last N events, or an ISO "
            "time such as 2026-01-01T00:00Z",
        ) from None
