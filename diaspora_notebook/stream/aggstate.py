"""The state behind a live aggregate: named aggregations merged batch by batch, per window and key.

:class:`AggregateState` takes decoded batches (Arrow payloads, in arrival order) and keeps, for
each open (window, key) group and each input column, mergeable partials: the count of values,
their sum, Welford's M2 (std, var), min and max, the first and last value, a set (``nunique``)
and the values themselves (exact quantiles, bounded by ``max_values``). A batch is grouped with
numpy (dictionary codes of the key columns x window index, ``np.unique``; ``bincount`` and
``ufunc.at`` per group), then merged into the groups' slots in one vectorized step. Windows
close as the watermark passes them (rules: :mod:`~diaspora_notebook.stream.windows`); a closed
window's row is kept (the newest ``keep``) and its slot reused. Memory is bounded by the open
groups (``max_groups``: a clear error past it).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError, LiveStreamError
from diaspora_notebook.kafka.arrow import Chunk, key_array
from diaspora_notebook.stream.windows import Windows

FUNCS = ("count", "size", "sum", "min", "max", "mean", "std", "var", "first", "last",
         "nunique", "median", "quantile")
_NUMERIC = {"sum", "min", "max", "mean", "std", "var", "median", "quantile"}
_QUANTILE = re.compile(r"^(?:p(\d+(?:\.\d+)?)|q(0?\.\d+|1(?:\.0*)?|0))$")
#: columns every windowed row has besides the key columns and the aggregates
WINDOW_COLUMNS = ("window_start", "window_end")
EXTRA_COLUMNS = ("closed", "late")
#: what a ``by="key"`` column is called where a view reads rows (``key`` is each row's id there)
MESSAGE_KEY = "message key"


class AggregateError(LiveStreamError):
    """The aggregate cannot go on (too many groups, values it cannot aggregate)."""


@dataclasses.dataclass(frozen=True)
class AggSpec:
    """One named aggregation: ``name=(column, func)``."""

    name: str
    column: str | None
    func: str
    q: float | None = None

    @classmethod
    def parse(cls, name: str, spec: Any) -> AggSpec:
        hint = ('e.g. agg(mean=("reading.temp", "mean"), n=("reading.temp", "count"), '
                'p99=("latency", "p99"))')
        if isinstance(spec, str):  # agg(n="size") / agg(events="count")
            spec = (None, spec)
        if not (isinstance(spec, tuple) and len(spec) == 2):
            raise DiasporaUsageError(f"aggregation {name}={spec!r} is not (column, function)",
                                     hint=hint)
        column, func = spec
        if column is not None and not isinstance(column, str):
            raise DiasporaUsageError(f"aggregation {name}: the column must be a name, "
                                     f"not {column!r}", hint=hint)
        q = None
        if isinstance(func, tuple) and len(func) == 2 and func[0] == "quantile":
            func, q = "quantile", float(func[1])
        if not isinstance(func, str):
            raise DiasporaUsageError(f"aggregation {name}: the function must be a name, "
                                     f"not {func!r}", hint=f"one of {', '.join(FUNCS)}, pNN")
        match = _QUANTILE.match(func)
        if match:
            q = float(match.group(1)) / 100 if match.group(1) else float(match.group(2))
            func = "quantile"
        elif func == "median":
            func, q = "quantile", 0.5
        if func not in FUNCS:
            raise DiasporaUsageError(f"aggregation {name}: unknown function {func!r}",
                                     hint=f"one of {', '.join(FUNCS)}, p50/p99 (percentiles), "
                                     "q0.9 or ('quantile', 0.9)")
        if func == "quantile" and (q is None or not 0 <= q <= 1):
            raise DiasporaUsageError(f"aggregation {name}: a quantile is between 0 and 1",
                                     hint="p99 or ('quantile', 0.99)")
        if column is None and func != "size":
            raise DiasporaUsageError(f"aggregation {name}: {func} needs a column",
                                     hint=f'{name}=("<column>", "{func}") or {name}="size"')
        return cls(name, column, func, q)


# --- columns of a batch -----------------------------------------------------------------------


def _column(chunk: Chunk, name: str) -> Any:
    """Column ``name`` of a decoded chunk as an Arrow array (all null when it is missing)."""
    import pyarrow as pa

    n = chunk.n
    if name == "key":
        return key_array([chunk.keys])
    if name == "topic":
        return pa.array([chunk.topic] * n, pa.string())
    if name == "partition":
        return pa.array(np.full(n, chunk.partition, np.int64))
    if name == "offset":
        return pa.array(chunk.offsets)
    if name == "timestamp":
        stamps = chunk.timestamps
        missing = stamps < 0
        return pa.array(stamps, pa.timestamp("ms", tz="UTC"),
                        mask=missing if missing.any() else None)
    payload = chunk.payload
    if payload is None:
        return pa.nulls(n)
    if hasattr(payload, "iloc"):  # payloads Arrow could not type (pandas)
        if name not in payload.columns:
            return pa.nulls(n)
        try:
            return pa.array(payload[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array(payload[name].astype(str), pa.string())
    if name not in payload.column_names:
        return pa.nulls(n)
    column = payload.column(name)
    return column.combine_chunks() if hasattr(column, "combine_chunks") else column


def _numbers(array: Any, name: str) -> np.ndarray:
    """An Arrow column as float64 (NaN for nulls); values that are no numbers are an error."""
    import pyarrow as pa
    import pyarrow.types as pt

    kind = array.type
    if pt.is_null(kind):
        return np.full(len(array), np.nan)
    if pt.is_timestamp(kind) or pt.is_duration(kind):
        array = array.cast(pa.int64())
    elif pt.is_dictionary(kind):
        array = array.cast(kind.value_type)
    try:
        return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise AggregateError(f"column {name!r} holds {kind} values, which are no numbers",
                             hint="aggregate numeric fields with sum/mean/min/...; count, "
                             "first, last and nunique take any values") from None


def _times(array: Any, windows: Windows) -> np.ndarray:
    """Event times as int64 ms (time windows) or float64 (numeric fields); NaN/-1 missing."""
    import pyarrow as pa
    import pyarrow.types as pt

    kind = array.type
    if windows.time:
        if pt.is_timestamp(kind):
            ms = array.cast(pa.timestamp("ms", tz=kind.tz)).cast(pa.int64())
        elif pt.is_string(kind) or pt.is_large_string(kind):
            import pandas as pd

            parsed = pd.to_datetime(pd.Series(array.to_pylist(), dtype=object), utc=True,
                                    errors="coerce", format="ISO8601")
            values = parsed.astype("datetime64[ms, UTC]").astype("int64").to_numpy()
            return np.where(parsed.isna().to_numpy(), np.iinfo(np.int64).min, values)
        elif pt.is_null(kind):
            return np.full(len(array), np.iinfo(np.int64).min, np.int64)
        else:
            raise AggregateError(
                f"on={windows.on!r} holds {kind} values, not times",
                hint="a time field (ISO text or a timestamp), or give size as a number to "
                "window on the field's own units")
        return np.asarray(ms.fill_null(np.iinfo(np.int64).min).to_numpy(), np.int64)
    return _numbers(array, windows.on)


def _codes(array: Any) -> tuple[np.ndarray, list[Any]]:
    """Dictionary codes of a key column (nulls are a key of their own) and the keys."""
    import pyarrow.types as pt

    if pt.is_nested(array.type):
        from diaspora_notebook.kafka.arrow import as_text

        array = as_text(array)
    if pt.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pt.is_null(array.type):
        return np.zeros(len(array), np.int64), [None]
    encoded = array.dictionary_encode(null_encoding="encode")
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64)
    return codes, encoded.dictionary.to_pylist() if len(encoded.dictionary) else [None]


def _python_values(array: Any) -> list[Any]:
    import pyarrow.types as pt

    if pt.is_timestamp(array.type):
        import pandas as pd

        return list(pd.Series(array.to_pandas()))
    return list(array.to_pylist())


# --- state ------------------------------------------------------------------------------------


class _Column:
    """Mergeable state of one input column, one entry per slot."""

    def __init__(self, name: str, funcs: set[str], capacity: int) -> None:
        self.name = name
        self.numeric = bool(funcs & _NUMERIC)
        self.moments = bool(funcs & {"std", "var"})
        self.minmax = bool(funcs & {"min", "max"})
        self.ends = bool(funcs & {"first", "last"})
        self.distinct = "nunique" in funcs
        self.values = "quantile" in funcs
        self.n = np.zeros(capacity, np.int64)  # non-null values
        self.sum = np.zeros(capacity) if self.numeric else None
        self.m2 = np.zeros(capacity) if self.moments else None
        self.min = np.full(capacity, np.nan) if self.minmax else None
        self.max = np.full(capacity, np.nan) if self.minmax else None
        self.first: list[Any] = [None] * capacity if self.ends else []
        self.last: list[Any] = [None] * capacity if self.ends else []
        self.sets: list[set[Any] | None] = [None] * capacity if self.distinct else []
        self.kept: list[list[np.ndarray] | None] = [None] * capacity if self.values else []

    def grow(self, capacity: int) -> None:
        old = len(self.n)
        extra = capacity - old

        def more(a: np.ndarray | None, fill: float) -> np.ndarray | None:
            return None if a is None else np.concatenate([a, np.full(extra, fill, a.dtype)])
        self.n = more(self.n, 0)  # type: ignore[assignment]
        self.sum, self.m2 = more(self.sum, 0), more(self.m2, 0)
        self.min, self.max = more(self.min, np.nan), more(self.max, np.nan)
        for flag, lst in ((self.ends, self.first), (self.ends, self.last),
                          (self.distinct, self.sets), (self.values, self.kept)):
            if flag:
                lst.extend([None] * extra)

    def reset(self, slots: np.ndarray) -> int:
        """Empty ``slots``; return how many kept values that freed."""
        freed = 0
        self.n[slots] = 0
        if self.sum is not None:
            self.sum[slots] = 0
        if self.m2 is not None:
            self.m2[slots] = 0
        if self.min is not None and self.max is not None:
            self.min[slots] = np.nan
            self.max[slots] = np.nan
        for s in slots.tolist():
            if self.ends:
                self.first[s] = self.last[s] = None
            if self.distinct:
                self.sets[s] = None
            if self.values:
                held = self.kept[s]
                if held:
                    freed += sum(len(a) for a in held)
                self.kept[s] = None
        return freed

    def merge(self, slots: np.ndarray, gi: np.ndarray, groups: int, array: Any,
              rows: np.ndarray) -> int:
        """Add the values ``array[rows]`` (group ``gi`` of each) to ``slots``; return how many
        values were kept for quantiles."""
        import pyarrow as pa

        if self.numeric:
            x_all = _numbers(array, self.name)
            x = x_all[rows]
            valid = ~np.isnan(x)
        else:
            valid_all = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), bool) \
                if array.null_count else np.ones(len(array), bool)
            valid = valid_all[rows]
            x = None
        g = gi[valid]
        bn = np.bincount(g, minlength=groups)
        touched = bn > 0
        old_n = self.n[slots]
        if self.numeric and x is not None and self.sum is not None:
            xv = x[valid]
            bsum = np.bincount(g, weights=xv, minlength=groups)
            if self.m2 is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    bmean = bsum / bn
                    bm2 = np.bincount(g, weights=(xv - bmean[g]) ** 2, minlength=groups)
                    amean = self.sum[slots] / old_n
                    total = old_n + bn
                    delta = bmean - amean
                    merged = self.m2[slots] + bm2 + delta * delta * old_n * bn / total
                m2 = np.where(old_n == 0, bm2, np.where(bn == 0, self.m2[slots], merged))
                self.m2[slots] = m2
            self.sum[slots] += bsum
            if self.min is not None and self.max is not None:
                bmin = np.full(groups, np.inf)
                np.minimum.at(bmin, g, xv)
                bmax = np.full(groups, -np.inf)
                np.maximum.at(bmax, g, xv)
                bmin[~touched] = np.nan
                bmax[~touched] = np.nan
                self.min[slots] = np.fmin(self.min[slots], bmin)
                self.max[slots] = np.fmax(self.max[slots], bmax)
        self.n[slots] = old_n + bn
        positions = rows[valid]  # rows of the batch, in arrival order within a group
        if self.ends and len(g):
            first = np.full(groups, np.iinfo(np.int64).max)
            np.minimum.at(first, g, positions)
            last = np.full(groups, -1)
            np.maximum.at(last, g, positions)
            hit = np.flatnonzero(touched)
            firsts = _python_values(array.take(pa.array(first[hit])))
            lasts = _python_values(array.take(pa.array(last[hit])))
            for j, i in enumerate(hit.tolist()):
                s = int(slots[i])
                if old_n[i] == 0:
                    self.first[s] = firsts[j]
                self.last[s] = lasts[j]
        if self.distinct and len(g):
            picked = array.take(pa.array(positions))
            codes, values = _codes(picked)
            pairs = np.unique(g * len(values) + codes)
            for pair in pairs.tolist():
                i, code = divmod(pair, len(values))
                v = values[code]
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    continue
                s = int(slots[i])
                seen = self.sets[s]
                if seen is None:
                    self.sets[s] = seen = set()
                seen.add(v)
        kept = 0
        if self.values and x is not None and len(g):
            order = np.argsort(g, kind="stable")
            xv = x[valid][order]
            bounds = np.cumsum(bn)
            start = 0
            for i in np.flatnonzero(touched).tolist():
                end = int(bounds[i])
                start = end - int(bn[i])
                s = int(slots[i])
                held = self.kept[s]
                if held is None:
                    self.kept[s] = held = []
                held.append(xv[start:end].copy())
                kept += end - start
        return kept

    def result(self, spec: AggSpec, slots: np.ndarray) -> Any:
        n = self.n[slots]
        func = spec.func
        with np.errstate(invalid="ignore", divide="ignore"):
            if func == "count":
                return n
            if func == "sum":
                assert self.sum is not None
                return self.sum[slots]
            if func == "mean":
                assert self.sum is not None
                return np.where(n > 0, self.sum[slots] / np.maximum(n, 1), np.nan)
            if func in ("std", "var"):
                assert self.m2 is not None
                var = np.where(n > 1, self.m2[slots] / np.maximum(n - 1, 1), np.nan)
                var = np.maximum(var, 0)
                return np.sqrt(var) if func == "std" else var
            if func == "min":
                assert self.min is not None
                return self.min[slots]
            if func == "max":
                assert self.max is not None
                return self.max[slots]
        if func == "first":
            return [self.first[s] for s in slots.tolist()]
        if func == "last":
            return [self.last[s] for s in slots.tolist()]
        if func == "nunique":
            return np.array([len(self.sets[s] or ()) for s in slots.tolist()], np.int64)
        if func == "quantile":
            out = np.full(len(slots), np.nan)
            for j, s in enumerate(slots.tolist()):
                held = self.kept[s]
                if held:
                    out[j] = float(np.quantile(np.concatenate(held), spec.q or 0.0))
            return out
        raise AssertionError(func)


class AggregateState:
    """Per-(window, key) state of named aggregations, fed decoded batches in arrival order.

    Not thread-safe on its own: :class:`LiveAggregate` calls it under its lock.

    :param by: key columns (``[]``: one group)
    :param specs: the named aggregations
    :param windows: the windows, or ``None`` for running aggregates (one row per key)
    :param max_groups: most open (window, key) groups; past it the aggregate fails
    :param max_values: most values kept for exact quantiles, over all open groups
    :param keep: closed rows kept (``df``, the grid and late counts)
    """

    def __init__(self, by: Sequence[str], specs: Sequence[AggSpec], windows: Windows | None,
                 *, max_groups: int = 200_000, max_values: int = 10_000_000,
                 keep: int = 10_000) -> None:
        self.by = list(by)
        self.specs = list(specs)
        self.windows = windows
        self.max_groups = max_groups
        self.max_values = max_values
        self.keep = keep
        funcs: dict[str, set[str]] = {}
        for spec in self.specs:
            if spec.column is not None:
                funcs.setdefault(spec.column, set()).add(spec.func)
        self._capacity = 64
        self.columns = {name: _Column(name, f, self._capacity) for name, f in funcs.items()}
        self._slot: dict[tuple[int, tuple[Any, ...]], int] = {}
        self._free: list[int] = []
        self._top = 0  # slots handed out so far (free ones included)
        self._keys: list[tuple[Any, ...] | None] = [None] * self._capacity
        self._k = np.zeros(self._capacity, np.int64)
        self._rows = np.zeros(self._capacity, np.int64)
        self._upd = np.zeros(self._capacity, np.int64)
        self._tmax = np.full(self._capacity, np.iinfo(np.int64).min, np.int64)
        self._late = np.zeros(self._capacity, np.int64)
        self._used = np.zeros(self._capacity, bool)
        #: closed rows, oldest closed first: (k, key) -> row dict
        self.closed: OrderedDict[tuple[int, tuple[Any, ...]], dict[str, Any]] = OrderedDict()
        self.closed_total = 0
        self.watermark: float | None = None
        self.seq = 0  # row updates so far (a view's change counter)
        self.events = 0  # events fed (each once)
        self.late_events = 0  # events late for some window (counted, never merged)
        self.late_dropped = 0  # of those, for windows no longer kept
        self.no_time = 0  # events without an event time (skipped)
        self.kept_values = 0

    # --- slots ---------------------------------------------------------------------------

    @property
    def open_groups(self) -> int:
        return len(self._slot)

    def _grow(self, need: int) -> None:
        if need <= self._capacity:
            return
        capacity = max(need, 2 * self._capacity)
        extra = capacity - self._capacity
        self._k = np.concatenate([self._k, np.zeros(extra, np.int64)])
        self._rows = np.concatenate([self._rows, np.zeros(extra, np.int64)])
        self._upd = np.concatenate([self._upd, np.zeros(extra, np.int64)])
        self._tmax = np.concatenate([self._tmax, np.full(extra, np.iinfo(np.int64).min)])
        self._late = np.concatenate([self._late, np.zeros(extra, np.int64)])
        self._used = np.concatenate([self._used, np.zeros(extra, bool)])
        self._keys.extend([None] * extra)
        for col in self.columns.values():
            col.grow(capacity)
        self._capacity = capacity

    def _slots_for(self, ks: list[int], keys: list[tuple[Any, ...]]) -> np.ndarray:
        slot = self._slot
        out = np.empty(len(ks), np.int64)
        new: list[int] = []
        for i, ident in enumerate(zip(ks, keys, strict=True)):
            s = slot.get(ident)
            if s is None:
                new.append(i)
                out[i] = -1
            else:
                out[i] = s
        if new:
            if len(slot) + len(new) > self.max_groups:
                raise AggregateError(
                    f"too many groups: {len(slot) + len(new):,} open (window, key) groups, more "
                    f"than max_groups={self.max_groups:,} (the key space exploded: "
                    f"{len({k for _, k in slot}):,} keys now)",
                    hint="group by a column with fewer values, close windows sooner (a "
                    "shorter grace or size), or raise max_groups= if the memory is there")
            fresh = [self._free.pop() for _ in range(min(len(new), len(self._free)))]
            if len(fresh) < len(new):
                start = self._top
                self._top += len(new) - len(fresh)
                self._grow(self._top)
                fresh += list(range(start, self._top))
            for i, s in zip(new, fresh, strict=True):
                out[i] = s
                ident = (ks[i], keys[i])
                slot[ident] = s
                self._keys[s] = keys[i]
                self._k[s] = ks[i]
                self._rows[s] = 0
                self._tmax[s] = np.iinfo(np.int64).min
                self._late[s] = 0
                self._used[s] = True
            fresh_arr = np.array(fresh, np.int64)
            for col in self.columns.values():
                col.reset(fresh_arr)
        return out

    # --- feeding -------------------------------------------------------------------------

    def feed(self, chunk: Chunk) -> tuple[list[int], list[tuple[int, tuple[Any, ...]]]]:
        """Add a decoded batch; return the slots it updated and the closed rows it changed
        (late counts), then close what the watermark passed (see :meth:`close_due`)."""
        n = chunk.n
        if not n:
            return [], []
        windows = self.windows
        stamps = chunk.timestamps
        if windows is not None:
            t = _times(_column(chunk, windows.on), windows) if windows.on != "timestamp" else \
                np.where(stamps < 0, np.iinfo(np.int64).min, stamps)
            has_time = t != np.iinfo(np.int64).min if windows.time else ~np.isnan(t)
            missing = int(n - has_time.sum())
            if missing:
                self.no_time += missing
            rows_t = np.flatnonzero(has_time)
            tt = t[rows_t]
            rows, k = windows.assign(tt)
            rows = rows_t[rows]
            # the watermark before each event (events in arrival order)
            w0 = -np.inf if self.watermark is None else self.watermark
            if len(tt):
                before = np.maximum.accumulate(np.concatenate([[w0], tt[:-1].astype(float)]))
                prev = np.empty(n, float)
                prev[rows_t] = before
                self.watermark = max(w0, float(tt.max()))
            else:
                prev = np.full(n, w0)
            on_time = windows.closes_at(k) > prev[rows]
        else:
            rows = np.arange(n)
            k = np.zeros(n, np.int64)
            on_time = np.ones(n, bool)
        self.events += n
        # group by (window, key)
        if self.by:
            parts = [_codes(_column(chunk, b)) for b in self.by]
            code = parts[0][0]
            for codes, values in parts[1:]:
                code = code * len(values) + codes
            ncodes = math.prod(len(v) for _, v in parts)
        else:
            parts, code, ncodes = [], np.zeros(n, np.int64), 1
        kmin = int(k.min()) if len(k) else 0
        combined = (k - kmin) * ncodes + code[rows]
        uniq, inv = np.unique(combined, return_inverse=True)
        gk = (uniq // ncodes + kmin).tolist()
        gcode = (uniq % ncodes).tolist()

        def key_of(c: int) -> tuple[Any, ...]:
            out: list[Any] = []
            for _, values in reversed(parts):
                c, r = divmod(c, len(values))
                out.append(values[r])
            return tuple(reversed(out))
        gkeys = [key_of(c) for c in gcode]
        changed_closed: list[tuple[int, tuple[Any, ...]]] = []
        late_groups = None
        if not on_time.all():
            late_groups = np.bincount(inv[~on_time], minlength=len(uniq))
            self.late_events += len(np.unique(rows[~on_time]))
            late_ids = [(gk[i], gkeys[i], int(late_groups[i]))
                        for i in np.flatnonzero(late_groups).tolist()]
            keep = on_time
            rows, inv = rows[keep], inv[keep]
            used = np.unique(inv)
            remap = np.full(len(uniq), -1, np.int64)
            remap[used] = np.arange(len(used))
            inv = remap[inv]
            gk = [gk[i] for i in used.tolist()]
            gkeys = [gkeys[i] for i in used.tolist()]
        groups = len(gk)
        slots = self._slots_for(gk, gkeys) if groups else np.empty(0, np.int64)
        if late_groups is not None:
            # after the slots: a window passed by an earlier event of this very batch is open
            # still (it closes after the batch), and may have been opened by this batch
            for k, key, n_late in late_ids:
                ident = (k, key)
                open_slot = self._slot.get(ident)
                row = self.closed.get(ident)
                if open_slot is not None:
                    self._late[open_slot] += n_late
                elif row is not None:
                    row["late"] += n_late
                    self.seq += 1
                    row["_upd"] = self.seq
                    changed_closed.append(ident)
                else:
                    self.late_dropped += n_late
        if not groups:
            return [], changed_closed
        self._rows[slots] += np.bincount(inv, minlength=groups)
        tmax = np.full(groups, np.iinfo(np.int64).min, np.int64)
        np.maximum.at(tmax, inv, stamps[rows])
        self._tmax[slots] = np.maximum(self._tmax[slots], tmax)
        for name, col in self.columns.items():
            self.kept_values += col.merge(slots, inv, groups, _column(chunk, name), rows)
        if self.kept_values > self.max_values:
            raise AggregateError(
                f"{self.kept_values:,} values kept for exact quantiles, more than "
                f"max_values={self.max_values:,}",
                hint="quantiles keep every value of an open window: use shorter windows, "
                "fewer keys, or raise max_values=")
        seqs = np.arange(self.seq + 1, self.seq + 1 + groups)
        self.seq += groups
        self._upd[slots] = seqs
        return slots.tolist(), changed_closed

    def close_due(self) -> list[dict[str, Any]]:
        """Close the windows the watermark has passed; return their final rows, in order."""
        if self.windows is None or self.watermark is None or not self._slot:
            return []
        used = np.flatnonzero(self._used)
        due = used[self.windows.closes_at(self._k[used]) <= self.watermark]
        if not len(due):
            return []
        due = due[np.lexsort((due, self._k[due]))]
        rows = self.rows(due, closed=True)
        for s in due.tolist():
            key = self._keys[s]
            assert key is not None
            del self._slot[(int(self._k[s]), key)]
            self._used[s] = False
            self._keys[s] = None
            self._free.append(s)
        for col in self.columns.values():
            self.kept_values -= col.reset(due)
        for row in rows:
            self.closed_total += 1
            self.seq += 1
            row["_upd"] = self.seq
            row["_closed"] = self.closed_total
            self.closed[(row.pop("_k"), row.pop("_key"))] = row
        while len(self.closed) > self.keep:
            self.closed.popitem(last=False)
        return rows

    # --- reading -------------------------------------------------------------------------

    def rows(self, slots: Any, *, closed: bool = False) -> list[dict[str, Any]]:
        """Row dicts of open slots (columns: keys, window bounds, aggregates, closed, late)."""
        slots = np.asarray(slots, np.int64)
        out: list[dict[str, Any]] = [{} for _ in range(len(slots))]
        if not len(slots):
            return out
        keys = [self._keys[s] for s in slots.tolist()]
        for j, name in enumerate(self.by):
            for row, key in zip(out, keys, strict=True):
                row[name] = key[j] if key is not None else None
        windows = self.windows
        ks = self._k[slots]
        if windows is not None:
            starts, ends = windows.start(ks), windows.end(ks)
            for row, a, b in zip(out, starts.tolist(), ends.tolist(), strict=True):
                row["window_start"], row["window_end"] = a, b
        results = {}
        for spec in self.specs:
            if spec.column is None:
                results[spec.name] = self._rows[slots]
            else:
                results[spec.name] = self.columns[spec.column].result(spec, slots)
        for name, values in results.items():
            values = values.tolist() if hasattr(values, "tolist") else values
            for row, v in zip(out, values, strict=True):
                row[name] = v
        tmax = self._tmax[slots].tolist()
        upd = self._upd[slots].tolist()
        late = self._late[slots].tolist()
        for i, row in enumerate(out):
            row["closed"] = closed
            row["late"] = late[i]
            row["_time"] = tmax[i]
            row["_upd"] = upd[i]
            row["_k"] = int(ks[i])
            row["_key"] = keys[i]
        return out

    def open_rows(self, since: int = 0) -> list[dict[str, Any]]:
        used = np.flatnonzero(self._used & (self._upd > since))
        if self.windows is not None and len(used):
            used = used[np.lexsort((used, self._k[used]))]
        return self.rows(used)
