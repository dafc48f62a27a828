"""The explorer's read: start anywhere, forward or backward, filter, stop at a limit or a scan
budget, merge partitions in timestamp order.

Everything is read through :func:`~diaspora_notebook.kafka.read.read_batches` (any engine):
forward as one pass that stops as soon as every partition has ``limit`` matches, backward as
windows before the start that grow fourfold until ``limit`` matches are found, so memory holds
at most ``limit`` rows per partition plus one batch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaError, DiasporaUsageError
from diaspora_notebook.explore.result import ReadResult
from diaspora_notebook.explore.values import (
    Decoder,
    concat_rows,
    frame_of,
    rows_of,
    with_fields,
)
from diaspora_notebook.filters import META, Filter, evaluate, parse_filter
from diaspora_notebook.kafka.errors import (
    SourceError,
    denied,
    is_denied,
    is_unknown_topic,
    missing,
    translated,
)
from diaspora_notebook.kafka.read import read_batches
from diaspora_notebook.kafka.source import TP, client_config, make_source, pick_engine
from diaspora_notebook.kafka.start import Start, StartSpec, direction_of

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

MAX_LIMIT = 1_000_000
#: up to this many records per partition a read is "small": librdkafka is told to fetch and
#: prefetch about that much, not its catch-up default (up to 10 MB and 200,000 records per
#: partition, which made a 50-row seek into a large topic read megabytes)
SMALL_READ = 20_000
DEFAULT_BUDGET = 2_000_000
Progress = Callable[[int, int], None]
RowFilter = Callable[[dict[str, Any]], bool]


@contextlib.contextmanager
def read_errors(topic: str) -> Iterator[None]:
    """Engine and kafka-python errors about ``topic`` -> the toolkit's errors."""
    with translated(topic, "read"):
        try:
            yield
        except SourceError as exc:
            if is_denied(exc):
                raise denied(topic, "read") from exc
            if is_unknown_topic(exc):
                raise missing(topic) from exc
            raise DiasporaError(f"could not read {topic!r}: {exc}",
                                hint="retry; check the fabric with `diaspora-fabric status`"
                                ) from exc


@dataclass
class _Part:
    """One partition's progress."""

    begin: int  # forward: first to read; backward: first not to read
    low: int
    high: int
    frames: list[pd.DataFrame] = field(default_factory=list)
    count: int = 0
    scanned: int = 0
    lo: int | None = None  # first offset read
    hi: int | None = None  # last offset read + 1 (forward: + 1 after the last kept when full)
    full: bool = False


@dataclass
class _Scan:
    """What every pass shares: the stop conditions and the counters."""

    limit: int
    budget: int | None
    deadline: float
    cancel: Any
    progress: Progress | None
    expected: int
    total: int = 0
    stopped: str | None = None

    def stop_now(self) -> bool:
        if self.cancel is not None and self.cancel.is_set():
            self.stopped = "cancelled"
        elif time.monotonic() > self.deadline:
            self.stopped = "timeout"
        elif self.budget is not None and self.total >= self.budget:
            self.stopped = "budget"
        return self.stopped is not None


@dataclass
class _Plan:
    """A read's plan: where it reads (settings, engine, topic, partitions), its shared stop
    conditions, and what it keeps (filter, fields, decoder)."""

    conf: dict[str, Any]
    engine: str
    topic: str
    parts: dict[int, _Part]
    state: _Scan
    flt: Filter | None
    row_filter: RowFilter | None
    fields: list[str] | None
    decoder: Decoder | None
    timeout: float

    @property
    def exact(self) -> bool:
        """No filter: every record read is kept."""
        return self.flt is None and self.row_filter is None

    def keep(self, batch: pa.RecordBatch, where: str) -> pd.DataFrame:
        """The rows of ``batch`` that pass the filter."""
        return _keep(batch, where, self.flt, self.row_filter, self.fields, self.decoder)

    def batches(self, todo: list[int], begin: dict[int, int],
                stop: dict[int, int]) -> Iterator[pa.RecordBatch]:
        """Partitions ``todo`` from ``begin`` up to ``stop``: the exact count lets the last
        consume call return as soon as the records are in, not after its timeout."""
        return read_batches(None, self.topic, partitions=todo, start=begin, stop_offsets=stop,
                            max_records=sum(stop[p] - begin[p] for p in todo),
                            timeout=min(self.timeout, 10.0), engine=self.engine,
                            decode=self.decoder is None,
                            config=_sized(self.conf, self.engine,
                                          max(stop[p] - begin[p] for p in todo)))


def normalize_fields(fields: Any) -> list[str] | None:
    """``["temp", "deep.x", "$.a", "value.b"]`` -> ``["value.temp", "value.deep.x", ...]``."""
    if fields is None:
        return None
    if isinstance(fields, str):
        fields = [fields]
    out = []
    for f in fields:
        if not isinstance(f, str) or not f.strip("$. "):
            raise DiasporaUsageError(f"invalid field {f!r}",
                                     hint="fields are JSON paths such as 'temp' or 'deep.x'")
        path = f.strip().removeprefix("$.").removeprefix("value.")
        out.append(f"value.{path}")
    return list(dict.fromkeys(out))


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise DiasporaUsageError(f"limit must be a whole number from 1 to {MAX_LIMIT:,}, "
                                 f"not {limit!r}", hint="e.g. limit=50 (one page)")
    return limit


def scan(client: Any, topic: str, *, partitions: list[int] | None, start: StartSpec,
         limit: int, direction: str | None, filter: str | RowFilter | None,
         fields: list[str] | None, decoder: Decoder | None, scan_budget: int | None,
         timeout: float, progress: Progress | None, cancel: Any,
         stop: dict[int, int] | None, engine: str) -> ReadResult:
    """The read itself (arguments as :func:`~diaspora_notebook.explore.read`)."""
    began = time.monotonic()
    limit = check_limit(limit)
    direction = direction_of(start, direction)
    flt = parse_filter(filter) if isinstance(filter, str) else None
    if filter is not None and flt is None and not callable(filter):
        raise DiasporaUsageError(f"filter must be an expression or a function, not "
                                 f"{type(filter).__name__}",
                                 hint="e.g. filter='value.temp > 30' or filter=lambda row: ...")
    if scan_budget is not None and (isinstance(scan_budget, bool)
                                    or not isinstance(scan_budget, int) or scan_budget < 1):
        raise DiasporaUsageError(f"scan_budget must be a positive whole number or None, not "
                                 f"{scan_budget!r}", hint="e.g. scan_budget=1_000_000")
    if stop is not None and direction == "backward":
        raise DiasporaUsageError("stop= bounds forward reads only",
                                 hint="read backward from start=; stop is where forward ends")
    engine = pick_engine(engine, client=client)
    conf = client_config(client, engine)
    with read_errors(topic):
        parts, source_marks = _plan(conf, engine, topic, partitions, start, direction, client)
    for p, part in parts.items():
        if stop is not None and p in stop:
            part.high = min(part.high, max(int(stop[p]), part.begin))
    expected = sum((pt.high - pt.begin) if direction == "forward" else (pt.begin - pt.low)
                   for pt in parts.values())
    state = _Scan(limit, scan_budget, began + timeout, cancel, progress, expected)
    row_filter = filter if flt is None and callable(filter) else None
    plan = _Plan(conf, engine, topic, parts, state, flt, row_filter, fields, decoder, timeout)
    with read_errors(topic):
        if direction == "forward":
            _forward(plan)
        else:
            _backward(plan)
    del source_marks
    return _result(topic, parts, state, direction, filter, fields, began)


def _plan(conf: dict[str, Any], engine: str, topic: str, partitions: list[int] | None,
          start: StartSpec, direction: str, client: Any
          ) -> tuple[dict[int, _Part], dict[TP, tuple[int, int]]]:
    first = Start.of(start)
    source = make_source(engine, conf, topics=[topic])
    try:
        known = source.partitions(topic)
        if not known:
            _raise_unreadable(client, topic)
        wanted = known if partitions is None else list(dict.fromkeys(partitions))
        unknown = [p for p in wanted if p not in known]
        if unknown or not wanted:
            raise DiasporaUsageError(f"{topic!r} has no partition {unknown[0] if unknown else ''}"
                                     .strip(), hint=f"its partitions are {known}")
        marks = source.watermarks([(topic, p) for p in wanted])
        begin = first.resolve(source, marks, direction=direction)
    finally:
        source.close(commit=False)
    parts = {tp[1]: _Part(begin[tp], marks[tp][0], marks[tp][1]) for tp in marks}
    return parts, marks


def _raise_unreadable(client: Any, topic: str) -> None:
    """No partitions seen: say whether the topic is missing or refused (kafka-python cannot
    tell them apart from metadata alone)."""
    from diaspora_notebook.kafka.connections import admin
    from diaspora_notebook.kafka.errors import partition_count

    with admin(client) as adm, translated(topic, "read"):
        described = {d["name"]: d for d in adm.describe_topics([topic])}
    partition_count(described.get(topic), topic, "read")
    raise missing(topic)


def _keep(batch: pa.RecordBatch, where: str, flt: Filter | None, row_filter: RowFilter | None,
          fields: list[str] | None, decoder: Decoder | None) -> pd.DataFrame:
    """The rows of ``batch`` that pass the filter."""
    import pyarrow as pa

    if flt is not None:
        batch = with_fields(batch, decoder)
        mask = evaluate(flt, frame_of(batch, sorted(flt.meta, key=META.index), flt.fields,
                                      decoder), where)
        return rows_of(batch.filter(pa.array(mask)), fields, decoder)
    rows = rows_of(with_fields(batch, decoder), fields, decoder)
    if row_filter is None:
        return rows
    try:
        mask = [bool(row_filter({str(k): v for k, v in r.items()}))
                for r in rows.to_dict("records")]
    except Exception as exc:
        raise DiasporaUsageError(f"the filter function failed on {where}: "
                                 f"{type(exc).__name__}: {exc}"[:500],
                                 hint="it gets each row as a dict: row['value.temp'] > 30"
                                 ) from exc
    kept: pd.DataFrame = rows[mask].reset_index(drop=True)
    return kept


def _consume(batches: Iterator[pa.RecordBatch], parts: dict[int, _Part], state: _Scan,
             keep: Callable[[pa.RecordBatch, str], pd.DataFrame], cap: Callable[[_Part], int],
             forward: bool) -> None:
    """Feed ``batches`` into ``parts`` until the stop conditions say so."""
    for batch in batches:
        if state.stop_now():
            return
        p = batch.column("partition")[0].as_py()
        part = parts[p]
        if state.budget is not None and state.total + batch.num_rows > state.budget:
            batch = batch.slice(0, state.budget - state.total)
        offsets = batch.column("offset")
        first, last = offsets[0].as_py(), offsets[-1].as_py()
        state.total += batch.num_rows
        if part.full:
            continue
        part.scanned += batch.num_rows
        part.lo = first if part.lo is None else min(part.lo, first)
        part.hi = last + 1
        rows = keep(batch, f"partition {p}, offsets {first}-{last}")
        room = cap(part)
        if len(rows) >= room and forward:
            rows = rows.iloc[:room]
            part.full = True
            if room:
                part.hi = int(rows["offset"].iloc[-1]) + 1
        if len(rows):
            part.frames.append(rows)
            part.count += len(rows)
        if state.progress is not None:
            state.progress(state.total, state.expected)
        if forward and all(pt.full for pt in parts.values()):
            state.stopped = "limit"
            return
    state.stop_now()


def _sized(conf: dict[str, Any], engine: str, per_partition: int) -> dict[str, Any]:
    """``conf`` with fetch sizes for reading about ``per_partition`` records a partition."""
    if engine != "confluent" or per_partition > SMALL_READ:
        return conf
    # not smaller than a producer's record batch (librdkafka's is 1 MB): a partition whose next
    # batch does not fit would be re-fetched with growing sizes, which takes seconds
    return {**conf, "queued.min.messages": max(per_partition, 100),
            "max.partition.fetch.bytes": 1 << 20}


def _forward(plan: _Plan) -> None:
    parts, state = plan.parts, plan.state
    stops = {p: min(pt.high, pt.begin + state.limit) if plan.exact else pt.high
             for p, pt in parts.items()}
    todo = [p for p in parts if parts[p].begin < stops[p]]
    if not todo:
        return
    batches = plan.batches(todo, {p: parts[p].begin for p in todo}, {p: stops[p] for p in todo})
    try:
        _consume(batches, parts, state, plan.keep, lambda pt: state.limit - pt.count,
                 forward=True)
    finally:
        batches.close()  # type: ignore[attr-defined]
    if state.stopped is None and any(  # the engine gave up waiting: say so, not "end"
            not parts[p].full and (parts[p].hi or parts[p].begin) < stops[p] for p in todo):
        state.stopped = "timeout"


def _backward(plan: _Plan) -> None:
    import pandas as pd

    parts, state = plan.parts, plan.state
    window = state.limit if plan.exact else max(4 * state.limit, 2000)
    edge = {p: pt.begin for p, pt in parts.items()}  # first offset not read yet, going back
    while True:
        todo = [p for p, pt in parts.items() if not pt.full and edge[p] > pt.low]
        if not todo or state.stop_now():
            return
        size = window
        if state.budget is not None:  # a window never outruns the budget: no gaps in results
            size = min(size, max(1, (state.budget - state.total) // len(todo)))
        los = {p: max(parts[p].low, edge[p] - size) for p in todo}
        inner = {p: _Part(los[p], parts[p].low, edge[p]) for p in todo}
        batches = plan.batches(todo, los, {p: edge[p] for p in todo})
        try:
            _consume(batches, inner, state, plan.keep, lambda pt: 1 << 62, forward=False)
        finally:
            batches.close()  # type: ignore[attr-defined]
        if state.stopped is None and any((inner[p].hi or los[p]) < edge[p] for p in todo):
            state.stopped = "timeout"  # the engine gave up waiting for part of the window
        if state.stopped in ("cancelled", "timeout"):
            return  # a window cut short could leave a gap: keep only complete windows
        for p in todo:
            part, got = parts[p], inner[p]
            part.scanned += got.scanned
            need = state.limit - part.count
            if got.frames:
                rows = pd.concat(got.frames, ignore_index=True)
                if len(rows) > need:
                    rows = rows.iloc[len(rows) - need:]
                part.frames.insert(0, rows)
                part.count += len(rows)
            part.lo = los[p]
            part.hi = part.hi if part.hi is not None else parts[p].begin
            part.full = part.count >= state.limit
            edge[p] = los[p]
        window = min(window * 4, 1_000_000)


def _result(topic: str, parts: dict[int, _Part], state: _Scan, direction: str,
            filter: Any, fields: list[str] | None, began: float) -> ReadResult:
    import pandas as pd

    frames = [f for pt in parts.values() for f in pt.frames]
    columns = list(META) + (fields or [])
    frame = concat_rows(frames) if frames else pd.DataFrame(columns=columns)
    frame = frame.sort_values(["timestamp", "partition", "offset"], kind="stable",
                              ascending=direction == "forward")
    counted = sum(pt.count for pt in parts.values())
    frame = frame.iloc[:state.limit].reset_index(drop=True)
    stopped = state.stopped
    if stopped is None:
        stopped = "limit" if counted > len(frame) or any(pt.full for pt in parts.values()) \
            else "end"
    result = ReadResult(topic, frame, sorted(parts), direction,
                        filter if isinstance(filter, str) or filter is None else repr(filter),
                        fields, stopped_by=stopped, seconds=time.monotonic() - began)
    for p, pt in sorted(parts.items()):
        got = frame["offset"][frame["partition"] == p]
        result.scanned[p] = pt.scanned
        if pt.lo is not None and pt.hi is not None:
            result.scanned_ranges[p] = (pt.lo, pt.hi)
        dropped = pt.count > len(got)
        if len(got):
            result.ranges[p] = (int(got.min()), int(got.max()) + 1)
        if direction == "forward":
            reached = pt.hi if pt.hi is not None else pt.begin
            result.after[p] = int(got.max()) + 1 if dropped and len(got) else \
                (pt.begin if dropped else reached)
            result.before[p] = int(got.min()) if len(got) else pt.begin
        else:
            reached = pt.lo if pt.lo is not None else pt.begin
            result.before[p] = int(got.min()) if dropped and len(got) else \
                (pt.begin if dropped else reached)
            result.after[p] = int(got.max()) + 1 if len(got) else pt.begin
    return result
