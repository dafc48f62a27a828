"""Where a read starts: ``start=`` (earliest, latest, offsets, ``-n``, a time) -> an offset per
partition. A time is looked up with offsets-for-times (one request), never by scanning."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.stream.sources import TP

Start = Any  # "earliest" | "latest" | int | {partition: offset} | datetime | ISO text
DIRECTIONS = ("forward", "backward")
_HINT = ("use start='earliest', 'latest', an offset (7), the last n of each partition (-50), "
         "{partition: offset} or a time (datetime, pandas.Timestamp, '2026-12-01T10:00Z' or "
         "time.time()'s float seconds)")


def direction_of(start: Start, direction: str | None) -> str:
    """``direction`` checked; by default backward from ``"latest"`` (the newest page), else
    forward."""
    if direction is None:
        return "backward" if start == "latest" else "forward"
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


def resolve(start: Start, source: Any, marks: Mapping[TP, tuple[int, int]],
            direction: str) -> dict[TP, int]:
    """The offset each partition starts at (forward: the first read; backward: the first
    not read), within its low/high watermarks.

    :param source: a stream source (``offsets_for_times`` is asked for times only)
    :param marks: ``{(topic, partition): (low, high)}``
    """
    tps = list(marks)
    if isinstance(start, bool):
        raise DiasporaUsageError(f"invalid start {start!r}", hint=_HINT)
    if start == "earliest":
        wanted = {tp: marks[tp][0] for tp in tps}
    elif start == "latest":
        wanted = {tp: marks[tp][1] for tp in tps}
    elif isinstance(start, int):
        wanted = {tp: start if start >= 0 else marks[tp][1] + start for tp in tps}
    elif isinstance(start, Mapping):
        bad = [p for p in start if isinstance(p, bool) or not isinstance(p, int)
               or not isinstance(start[p], int) or isinstance(start[p], bool)]
        if bad:
            raise DiasporaUsageError(f"start maps partitions to offsets; {bad[0]!r}: "
                                     f"{start[bad[0]]!r} is not that", hint=_HINT)
        # a partition not named has nothing to read: forward from its end, backward from its start
        edge = 1 if direction == "forward" else 0
        wanted = {tp: start.get(tp[1], marks[tp][edge]) for tp in tps}
    else:
        ms = as_millis(start)
        if ms is None:
            raise DiasporaUsageError(f"invalid start {start!r}", hint=_HINT)
        found = source.offsets_for_times(tps, ms)
        wanted = {tp: marks[tp][1] if found.get(tp) is None else int(found[tp]) for tp in tps}
    return {tp: min(max(off, marks[tp][0]), marks[tp][1]) for tp, off in wanted.items()}
