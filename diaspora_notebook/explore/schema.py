"""What the payloads of a topic look like: fields, types, how often missing, examples, and
drift (fields that appear, or change type, after some point), from a sample spread over the
range asked for."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.filters import FIELD_PREFIX
from diaspora_notebook.kafka.flatten import flatten
from diaspora_notebook.kafka.start import StartSpec

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

SCHEMA_COLUMNS = ("field", "types", "null_fraction", "examples", "first_partition",
                  "first_offset")
MAX_SAMPLE = 100_000
#: runs a sample is split into, spread evenly over the range
SLICES = 10


@dataclass(frozen=True)
class Drift:
    """A change of the payloads first seen at ``partition``/``offset``: a field absent from the
    start of the sample (``change="new field"``), or a field that takes a new type there
    (``change="float -> string"``)."""

    field: str
    partition: int
    offset: int
    timestamp: Any
    change: str = "new field"

    def describe(self) -> str:
        what = "" if self.change == "new field" else f" {self.change}"
        return f"{self.field}{what} (from partition {self.partition} offset {self.offset})"


@dataclass
class Schema:
    """Inferred from ``sampled`` messages of ``topic`` (spread over the range read).

    :ivar fields: one row per payload field (columns :data:`SCHEMA_COLUMNS`)
    :ivar drift: fields missing from the first tenth of the sample (in time) but seen later,
        and fields whose type changes after it
    :ivar ranges: ``{partition: (first, last + 1)}``: the range the sample was spread over
    """

    topic: str
    sampled: int
    fields: pd.DataFrame
    drift: list[Drift] = field(default_factory=list)
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    def __repr__(self) -> str:
        drift = ", ".join(d.describe() for d in self.drift) or "none"
        spread = ", ".join(f"{p}: {lo}-{hi - 1}" for p, (lo, hi) in sorted(self.ranges.items())
                           if hi > lo)
        over = f" over offsets {spread}" if spread else ""
        return (f"Schema({self.topic!r}, {self.sampled} message(s) sampled{over}, "
                f"{len(self.fields)} field(s); drift: {drift})")

    def _repr_html_(self) -> str:
        import html

        table: str = self.fields._repr_html_()  # type: ignore[operator]
        return f"<p>{html.escape(repr(self))}</p>{table}"


def _plain(value: Any) -> Any:
    """Arrow/numpy containers as Python lists (a list is a list, not an ``ndarray``)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def _type_name(value: Any) -> str:
    value = _plain(value)
    if value is None or (isinstance(value, float) and value != value):
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)


def _example(value: Any) -> str:
    value = _plain(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        return repr(value)


def _payload_fields(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's payload as ``{"value.<path>": value}`` (JSON objects flattened, anything
    else as ``value.(value)``), from the decoded ``value`` column when there is one (its JSON
    types: the columns of a read that spans a type change hold text), else the columns."""
    if "value" in rows.columns:
        out = []
        for v in rows["value"].tolist():
            if isinstance(v, dict):
                out.append({FIELD_PREFIX + k: x for k, x in flatten(v).items()})
            elif v is None:
                out.append({})
            else:
                out.append({FIELD_PREFIX + "(value)": v})
        return out
    names = [c for c in rows.columns if c.startswith(FIELD_PREFIX)]
    return [dict(zip(names, values, strict=True))
            for values in rows[names].itertuples(index=False)]


def infer(topic: str, frame: pd.DataFrame) -> Schema:
    """The schema of ``frame`` (rows of a read, any order)."""
    import pandas as pd

    rows = frame.sort_values(["timestamp", "partition", "offset"], kind="stable")
    rows = rows.reset_index(drop=True)
    payloads = _payload_fields(rows)
    names = list(dict.fromkeys(k for p in payloads for k in p))
    baseline = max(1, len(rows) // 10)
    out, drift = [], []

    def where(i: int) -> tuple[int, int, Any]:
        row = rows.iloc[i]
        return int(row["partition"]), int(row["offset"]), row["timestamp"]

    for name in names:
        present = [i for i, p in enumerate(payloads) if _type_name(p.get(name)) != "null"]
        first_type: dict[str, int] = {}
        for i in present:
            first_type.setdefault(_type_name(payloads[i][name]), i)
        examples = list(dict.fromkeys(_example(payloads[i][name]) for i in present[-50:]))[-3:]
        first = present[0] if present else None
        spot = where(first) if first is not None else None
        out.append({"field": name, "types": ", ".join(sorted(first_type)) or "null",
                    "null_fraction": 1 - len(present) / len(payloads) if payloads else 1.0,
                    "examples": examples,
                    "first_partition": None if spot is None else spot[0],
                    "first_offset": None if spot is None else spot[1]})
        if spot is not None and first is not None and first >= baseline:
            drift.append(Drift(name, *spot))
        elif first is not None:
            old = sorted(t for t, i in first_type.items() if i < baseline)
            for kind, i in sorted(first_type.items(), key=lambda kv: kv[1]):
                if i >= baseline and not (kind == "float" and old == ["int"]):
                    drift.append(Drift(name, *where(i), change=f"{'/'.join(old)} -> {kind}"))
    drift.sort(key=lambda d: (d.timestamp, d.partition, d.offset))
    table = pd.DataFrame(out, columns=list(SCHEMA_COLUMNS))
    return Schema(topic, len(rows), table, drift)


def schema(topic: str, *, sample: int = 1000, partitions: list[int] | None = None,
           start: StartSpec = "earliest", stop: dict[int, int] | None = None,
           slices: int = SLICES, timeout: float = 30.0, engine: str = "auto",
           client: Client | None = None, **read_args: Any) -> Schema:
    """Infer the payload schema of ``topic`` from ``sample`` messages spread over a range.

    The range runs from ``start`` (default: the oldest message) to ``stop`` (default: the
    newest); ``sample`` messages are read in ``slices`` runs spread evenly over it (each
    partition in proportion to its share of the range), so a change anywhere in the range is
    seen, and found where it happens.

    :param start: where the range begins (as for :func:`~diaspora_notebook.explore.read`)
    :param stop: ``{partition: offset}`` where it ends (exclusive)
    :param slices: runs the sample is split into
    :param read_args: more arguments for :func:`~diaspora_notebook.explore.read` (``filter``,
        ``decoder``, ...)
    """
    import pandas as pd

    from diaspora_notebook.explore.browse import read
    from diaspora_notebook.explore.reader import _plan, read_errors
    from diaspora_notebook.explore.values import concat_rows
    from diaspora_notebook.kafka.connections import client_or_default
    from diaspora_notebook.kafka.source import client_config, pick_engine

    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
        raise DiasporaUsageError(f"sample must be a whole number from 1 to {MAX_SAMPLE:,}, "
                                 f"not {sample!r}", hint="e.g. schema(topic, sample=1000)")
    read_args.pop("direction", None)
    read_args.pop("limit", None)
    client = client_or_default(client)
    engine = pick_engine(engine)
    with read_errors(topic):
        parts, _marks = _plan(client_config(client, engine), engine, topic, partitions, start,
                              "forward", client)
    ranges = {p: (pt.begin, min(pt.high, (stop or {}).get(p, pt.high))) for p, pt in
              parts.items()}
    spans = {p: max(hi - lo, 0) for p, (lo, hi) in ranges.items()}
    total = sum(spans.values())
    runs = 1 if total <= sample else max(1, min(slices, sample))
    frames = []
    for i in range(runs):
        begin, end = {}, {}
        for p, (lo, _hi) in ranges.items():
            if not spans[p]:
                continue
            want = -(-sample * spans[p] // max(total, 1) // runs) if runs > 1 else spans[p]
            at = lo + (spans[p] - want) * i // max(runs - 1, 1) if runs > 1 else lo
            begin[p], end[p] = at, min(at + max(want, 1), lo + spans[p])
        if not begin:
            break
        got = read(topic, partitions=sorted(begin), start=begin, stop=end,
                   limit=max(sum(end[p] - begin[p] for p in begin), 1), timeout=timeout,
                   engine=engine, client=client, **read_args)
        if len(got.frame):
            frames.append(got.frame)
    frame = concat_rows(frames) if frames else pd.DataFrame(
        columns=["topic", "partition", "offset", "timestamp", "key", "headers", "value"])
    found = infer(topic, frame)
    found.ranges = {p: r for p, r in ranges.items() if spans[p]}
    if runs > 1:  # between two runs: read the gap to find where the change happened
        found.drift = [_pinned(d, frame, lambda p, lo, hi: read(
            topic, partitions=[p], start={p: lo}, stop={p: hi}, limit=hi - lo,
            timeout=timeout, engine=engine, client=client, **read_args).frame)
            for d in found.drift]
    return found


#: a gap between two runs longer than this is not read to pin a change down
MAX_GAP = 50_000


def _pinned(drift: Drift, frame: pd.DataFrame, read_gap: Any) -> Drift:
    """``drift`` moved to the first message of the change: the messages between the sample's
    previous one in its partition and the one where the change was seen are read."""
    import dataclasses

    same = frame["offset"][(frame["partition"] == drift.partition)
                           & (frame["offset"] < drift.offset)]
    if not len(same) or drift.offset - int(same.max()) - 1 > MAX_GAP:
        return drift
    lo = int(same.max()) + 1
    if lo >= drift.offset:
        return drift
    gap = read_gap(drift.partition, lo, drift.offset)
    if not len(gap):
        return drift
    gap = gap.sort_values("offset").reset_index(drop=True)
    kind = drift.change.rsplit("-> ", 1)[-1] if drift.change != "new field" else None
    for i, payload in enumerate(_payload_fields(gap)):
        got = _type_name(payload.get(drift.field))
        if got != "null" and (kind is None or got == kind):
            row = gap.iloc[i]
            return dataclasses.replace(drift, offset=int(row["offset"]),
                                       timestamp=row["timestamp"])
    return drift
