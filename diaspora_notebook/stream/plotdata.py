"""What a live plot draws, without widgets: a time window, one series per key (or per a ``by=``
column), downsampled so the extremes survive.

A :class:`PlotWindow` reads a stream only through its :class:`~diaspora_notebook.stream.views.
LiveFeed` (``rows_since``: each event once, as Arrow), so any feed can be plotted (a
``LiveDataFrame``, a live aggregate). It keeps its own points, not the stream's rows: the
newest ``window`` of event time, reduced on every update to the minimum and the maximum of
each series in each of ``buckets`` equal slices of time (slices aligned on the clock, so
reducing again gives the same points). A plot of 60 s at 2,000 events/s then holds at most
``2 * buckets`` points per series, whatever the stream's ``max_rows`` (which at that rate
covers a few seconds), and a peak of one event is never lost.

Series: each ``y`` column, split by the ``by`` column's values; by default by the Kafka key
while there are at most ``max_series`` keys (four sensors interleaved in one series drew a
zigzag), and one series per column once there are more (a key per event is no series).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError

if TYPE_CHECKING:
    from diaspora_notebook.stream.views import LiveFeed

#: the window's default, and its steps when the stream is too slow for it (see auto_window)
DEFAULT_WINDOW = 60.0
NICE_WINDOWS = (60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 86400.0)
#: events a window should hold at least: a slower stream gets a longer window
WINDOW_EVENTS = 100
#: the x column's default: the event time
TIME = "timestamp"
_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_window(window: Any) -> float:
    """Seconds of ``window``: a number of seconds, ``"60s"``, ``"5min"``, ``"2m"``, ``"1h"``,
    ``"500ms"`` or a ``timedelta``."""
    seconds: float | None = None
    if hasattr(window, "total_seconds"):
        seconds = float(window.total_seconds())
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window)
    elif isinstance(window, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", window.lower())
        if match and match.group(2) in (*_UNITS, ""):
            seconds = float(match.group(1)) * _UNITS.get(match.group(2), 1.0)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise DiasporaUsageError(f"window must be a positive duration, not {window!r}",
                                 hint='e.g. window="60s", "5min", "1h" or 30 (seconds)')
    return seconds


def auto_window(rate: float) -> float:
    """The default window for a stream of ``rate`` events per second: 60 s, longer (in steps)
    when 60 s would hold fewer than :data:`WINDOW_EVENTS` events."""
    if rate <= 0 or not math.isfinite(rate):
        return DEFAULT_WINDOW
    wanted = WINDOW_EVENTS / rate
    return next((w for w in NICE_WINDOWS if w >= wanted), NICE_WINDOWS[-1])


def decimate(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """The min and max of ``y`` in each of ``buckets`` equal slices of the points, in order
    (NaN skipped).

    Short series come back unchanged; a long one keeps its peaks, which a plain stride loses.
    """
    n = len(y)
    if n <= 2 * buckets:
        return x, y
    width = n // buckets
    usable = width * buckets
    block = y[n - usable:].reshape(buckets, width)  # the newest points, in full buckets
    filled = np.where(np.isnan(block), np.inf, block)
    lows = filled.argmin(axis=1)
    filled = np.where(np.isnan(block), -np.inf, block)
    highs = filled.argmax(axis=1)
    first, second = np.minimum(lows, highs), np.maximum(lows, highs)
    offsets = np.arange(buckets) * width + (n - usable)
    picks = np.column_stack([offsets + first, offsets + second]).ravel()
    return x[picks], y[picks]


def extremes(series: np.ndarray, t: np.ndarray, y: np.ndarray, width: int) -> np.ndarray:
    """Indexes of the points to keep: in each series, the minimum and the maximum ``y`` of each
    slice of ``width`` (in ``t``'s unit) aligned on ``t = 0``, and the newest point, in ``t``
    order.

    :param series: the series of each point (integers)
    :param t: each point's time (integers)
    :param y: each point's value (finite)
    """
    n = len(y)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bucket = t // max(int(width), 1)
    order = np.lexsort((t, y, bucket, series))  # by series, slice, value (ties: oldest)
    s, b = series[order], bucket[order]
    ends = np.flatnonzero((s[1:] != s[:-1]) | (b[1:] != b[:-1]))
    first = np.concatenate(([0], ends + 1))
    last = np.concatenate((ends, [n - 1]))
    picks = [order[first], order[last]]
    # and each series' newest point: the line reaches the current value
    newest = np.lexsort((t, series))
    ends = np.flatnonzero(series[newest][1:] != series[newest][:-1])
    picks.append(newest[np.concatenate((ends, [n - 1]))])
    keep = np.unique(np.concatenate(picks))
    return keep[np.argsort(t[keep], kind="stable")]


@dataclass(frozen=True)
class Series:
    """One line: its name and points, oldest first (``t``: event time in ms since the epoch;
    ``x``: what the x axis shows, the event time as ``datetime64[ms]`` or an x column)."""

    name: str
    t: np.ndarray
    x: np.ndarray
    y: np.ndarray


class PlotWindow:
    """The points of a live plot of ``feed``: call :meth:`update`, then read :meth:`series`.

    :param feed: the stream, read through ``rows_since`` only
    :param y: numeric columns (a value that is not a number is left out)
    :param x: the x column (default: the event ``timestamp``)
    :param by: the column whose values split each ``y`` into series (default: the Kafka key,
        while there are at most ``max_series`` keys); ``False``: never split
    :param window: event time shown (``"60s"``, seconds...); default: from the rate
        (:func:`auto_window`, from the events' own times)
    :param buckets: slices of the window; at most two points per slice and series are kept
    :param max_series: most series drawn; more values of ``by`` are counted in ``hidden``
    """

    def __init__(self, feed: LiveFeed, *, y: Sequence[str], x: str | None = None,
                 by: str | bool | None = None, window: Any = None, buckets: int = 500,
                 max_series: int = 12) -> None:
        if not y:
            raise DiasporaUsageError("plot needs at least one y column",
                                     hint="e.g. live.plot(['temperature'])")
        if isinstance(y, str):
            y = [y]
        self.feed = feed
        self.y = list(y)
        self.x = x or TIME
        self.by: str | None = None if by is False else (by or "key")  # type: ignore[assignment]
        self.auto_by = by is None  # split by key only while there are few keys
        self.auto = window is None
        self.window = DEFAULT_WINDOW if window is None else parse_window(window)
        self.buckets = max(int(buckets), 1)
        self.max_series = max_series
        self.hidden: set[str] = set()  # values of ``by`` beyond max_series, not drawn
        self.names: list[str] = []  # series code -> name
        self._codes: dict[tuple[str, str | None], int] = {}
        self._groups: list[str] = []  # values of ``by`` drawn, in order of arrival
        self._seen = 0
        self._count = 0  # events read (for the rate of the default window)
        self._first: int | None = None
        self.newest: int | None = None  # newest event time (ms)
        # the points held: series code, event time (ms), x, y
        self._s: np.ndarray = np.zeros(0, dtype=np.int64)
        self._t: np.ndarray = np.zeros(0, dtype=np.int64)
        self._x: np.ndarray = np.zeros(0, dtype=np.float64)
        self._y: np.ndarray = np.zeros(0, dtype=np.float64)

    @property
    def time_axis(self) -> bool:
        """Whether x is the event time."""
        return self.x == TIME

    @property
    def width_ms(self) -> int:
        """One slice of the window, in ms."""
        return max(int(self.window * 1000 / self.buckets), 1)

    @property
    def points(self) -> int:
        """Points held, all series together."""
        return len(self._y)

    def update(self) -> bool:
        """Read the events that arrived since the last update; ``True`` if there were some."""
        table, seen = self.feed.rows_since(self._seen, max(self.feed.max_rows, 1))
        self._seen = seen
        if table is None or not len(table) or TIME not in table.column_names:
            return False
        t = _millis(table.column(TIME))
        ok = t >= 0
        if ok.any():
            low, high = int(t[ok].min()), int(t[ok].max())
            self._first = low if self._first is None else min(self._first, low)
            self.newest = high if self.newest is None else max(self.newest, high)
            self._count += int(ok.sum())
        xs = t.astype(np.float64) if self.time_axis else _numbers(table, self.x)
        groups = self._group_values(table)
        parts = [(self._s, self._t, self._x, self._y)]
        for name in self.y:
            ys = _numbers(table, name)
            keep = ok & np.isfinite(ys) & np.isfinite(xs)
            if groups is None:
                codes = np.full(len(ys), self._code(name, None), dtype=np.int64)
            else:
                codes = np.array([self._code(name, g) for g in groups], dtype=np.int64)
                keep &= codes >= 0
            parts.append((codes[keep], t[keep], xs[keep], ys[keep]))
        self._s, self._t, self._x, self._y = (np.concatenate(p) for p in zip(*parts,
                                                                               strict=True))
        if self.auto:
            self._grow_window()
        self._reduce()
        return True

    def _grow_window(self) -> None:
        if self._first is None or self.newest is None:
            return
        span = (self.newest - self._first) / 1000
        if span >= 5:  # a rate from a few seconds of event time, not from one burst
            self.window = max(self.window, auto_window(self._count / span))

    def _reduce(self) -> None:
        if self.newest is not None:
            inside = self._t >= self.newest - int(self.window * 1000)
            if not inside.all():
                self._s, self._t, self._x, self._y = (
                    a[inside] for a in (self._s, self._t, self._x, self._y))
        keep = extremes(self._s, self._t, self._y, self.width_ms)
        self._s, self._t, self._x, self._y = (a[keep] for a in (self._s, self._t, self._x,
                                                                 self._y))

    def _group_values(self, table: Any) -> list[str] | None:
        """The ``by`` value of each row (``None``: no split)."""
        if self.by is None or self.by not in table.column_names:
            return None
        column = table.column(self.by)
        if self.auto_by and column.null_count == len(column):
            return None
        values = ["" if v is None else str(v) for v in column.to_pylist()]
        if self.auto_by and len(set(values) | set(self._groups)) > self.max_series:
            self._merge()  # too many keys to be series: one series per column
            return None
        return values

    def _merge(self) -> None:
        """Stop splitting by key: the points of every key become their column's series."""
        by_column = {self._codes[k]: self._code(k[0], None) for k in list(self._codes)
                     if k[1] is not None}
        self.by = None
        self.hidden.clear()
        if by_column:
            self._s = np.array([by_column.get(int(c), int(c)) for c in self._s], dtype=np.int64)
        self._codes = {k: c for k, c in self._codes.items() if k[1] is None}
        self._groups = []

    def _code(self, column: str, group: str | None) -> int:
        key = (column, group)
        code = self._codes.get(key)
        if code is not None:
            return code
        if group is not None and group not in self._groups:
            if len(self._groups) >= self.max_series:
                self.hidden.add(group)
                return -1
            self._groups.append(group)
        if group is None:
            name = column
        elif len(self.y) == 1:
            name = group if group else f"{column} (no {self.by})"
        else:
            name = f"{column} \u00b7 {group}"
        self._codes[key] = code = len(self.names)
        self.names.append(name)
        return code

    def series(self) -> list[Series]:
        """Every series with points, in order of first arrival, points oldest first (x order
        when x is a column)."""
        out = []
        for code, name in enumerate(self.names):
            mine = self._s == code
            if not mine.any():
                continue
            t, x, y = self._t[mine], self._x[mine], self._y[mine]
            if self.time_axis:
                x = t.astype("datetime64[ms]")
            else:
                order = np.argsort(x, kind="stable")
                t, x, y = t[order], x[order], y[order]
            out.append(Series(name, t, x, y))
        return out

    def span(self) -> tuple[int, int] | None:
        """The window's event times ``(start, end)`` in ms (``None`` before the first event)."""
        if self.newest is None:
            return None
        return self.newest - int(self.window * 1000), self.newest

    def describe(self) -> str:
        """One line: the window, the split and what was left out."""
        text = f"window {format_seconds(self.window)}"
        if self.by is not None and self._groups:
            text += f", one series per {self.by}"
        if self.hidden:
            text += f" ({len(self.hidden)} more {self.by} value(s) not drawn: use by=)"
        return text


def format_seconds(seconds: float) -> str:
    """``60 s``, ``5 min``, ``1 h``: a window for people."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _millis(column: Any) -> np.ndarray:
    """Event times as ms since the epoch (``-1`` where missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("ms", tz=column.type.tz))
        column = pc.cast(column, pa.int64())
    else:
        column = pc.cast(column, pa.int64(), safe=False)
    return np.asarray(column.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _numbers(table: Any, name: str) -> np.ndarray:
    """A column as floats (NaN where a value is missing or not a number)."""
    import pyarrow as pa

    n = len(table)
    if name not in table.column_names:
        return np.full(n, np.nan)
    column = table.column(name)
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return np.asarray(column.cast(pa.float64()).fill_null(np.nan)
                          .to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_timestamp(kind):
        return _millis(column).astype(np.float64)
    out = np.full(n, np.nan)
    for i, value in enumerate(column.to_pylist()):  # text, mixed: what parses as a number
        with contextlib.suppress(TypeError, ValueError):
            out[i] = float(value)
    return out
