"""Reproducible snapshots: ``export`` writes rows with where they came from; ``read(snapshot=)``
reads exactly those offsets again (while retention keeps them) and gives the same rows.

Parquet keeps the provenance in its key-value metadata (key ``diaspora``); CSV and JSON lines
get it beside them in ``<file>.diaspora.json``. It holds the topic, the partitions, the offsets
of the rows (as ranges), the read's filter and fields, the columns with their types, the
schema and the time of the export.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.query import FIELD_PREFIX
from diaspora_notebook.explore.reader import DEFAULT_BUDGET, MAX_LIMIT, normalize_fields, scan
from diaspora_notebook.explore.result import ReadResult
from diaspora_notebook.explore.values import Decoder
from diaspora_notebook.kafka.connections import client_or_default

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

FORMATS = ("parquet", "csv", "jsonl")
META_KEY = b"diaspora"
SIDECAR = ".diaspora.json"
#: beyond this many offset ranges the offsets are not listed: the filter selects the rows again
MAX_RANGES = 10_000
_READ_DEFAULTS: dict[str, Any] = {
    "partitions": None, "start": "latest", "limit": 50, "direction": None, "filter": None,
    "fields": None, "decoder": None, "scan_budget": DEFAULT_BUDGET, "timeout": 30.0,
    "progress": None, "cancel": None, "stop": None, "engine": "auto"}


def _runs(offsets: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for off in sorted(offsets):
        if runs and runs[-1][1] == off:
            runs[-1][1] = off + 1
        else:
            runs.append([off, off + 1])
    return runs


def provenance(result: ReadResult) -> dict[str, Any]:
    """What a snapshot of ``result`` records about where its rows came from."""
    frame = result.frame
    offsets = {int(p): _runs(frame["offset"][frame["partition"] == p].astype(int).tolist())
               for p in result.ranges}
    exact = sum(len(r) for r in offsets.values()) <= MAX_RANGES
    fields = [c for c in frame.columns if c.startswith(FIELD_PREFIX)]
    return {
        "format_version": 1,
        "topic": result.topic,
        "partitions": result.partitions,
        "ranges": {str(p): list(r) for p, r in result.ranges.items()},
        "offsets": {str(p): r for p, r in offsets.items()} if exact else None,
        "filter": result.filter,
        "fields": result.fields,
        "direction": result.direction,
        "order": _order(frame),
        "rows": len(frame),
        "columns": list(frame.columns),
        "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
        "schema": {c: sorted({type(v).__name__ for v in frame[c].dropna()}) for c in fields},
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }


def _order(frame: pd.DataFrame) -> str:
    """``"ascending"`` when the rows are in time order (oldest first), else ``"descending"``."""
    keys = ["timestamp", "partition", "offset"]
    ascending = frame.sort_values(keys, kind="stable").index
    return "ascending" if list(ascending) == list(frame.index) else "descending"


def _json_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return json.dumps(value, default=str, ensure_ascii=False)


def file_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as it goes to a flat file: ``value`` and ``headers`` as JSON text, columns
    mixing types (lists, objects) as JSON text too."""
    import pyarrow as pa

    out: pd.DataFrame = frame.copy()
    for name in out.columns:
        if name in ("value", "headers"):
            out[name] = out[name].map(_json_text)
        elif out[name].dtype == object:
            try:
                pa.array(out[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                out[name] = out[name].map(_json_text)
    return out


def export(source: str | ReadResult, path: str | Path, format: str | None = None, *,
           client: Client | None = None, **read_args: Any) -> Path:
    """Write a snapshot of a read (or of ``topic``, read from the earliest) to ``path``.

    :param source: a :class:`ReadResult`, or a topic name (then ``read_args`` go to ``read``;
        default ``start="earliest", limit=100_000``)
    :param format: ``"parquet"``, ``"csv"`` or ``"jsonl"`` (default: from the file's suffix,
        else parquet)
    :returns: the path written
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path).expanduser()
    fmt = format or {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}.get(
        path.suffix.lower(), "parquet")
    if fmt not in FORMATS:
        raise DiasporaUsageError(f"unknown export format {fmt!r}",
                                 hint=f"use one of {', '.join(FORMATS)}")
    if isinstance(source, str):
        args = {**_READ_DEFAULTS, "start": "earliest", "limit": 100_000, **read_args}
        args["fields"] = normalize_fields(args["fields"])
        source = scan(client_or_default(client), source, **args)
    if not isinstance(source, ReadResult):
        raise DiasporaUsageError(f"export takes a topic name or a read() result, not "
                                 f"{type(source).__name__}",
                                 hint="e.g. topics.export(topics.read('t'), 'page.parquet')")
    meta = json.dumps(provenance(source), default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        table = pa.Table.from_pandas(file_frame(source.frame), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               META_KEY: meta.encode()})
        pq.write_table(table, path)
        return path
    if fmt == "csv":
        file_frame(source.frame).to_csv(path, index=False)
    else:
        frame = source.frame.copy()
        frame["headers"] = frame["headers"].map(lambda h: h or {})
        frame.to_json(path, orient="records", lines=True, date_format="iso",
                      default_handler=str)
    Path(str(path) + SIDECAR).write_text(meta)
    return path


def load_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance recorded with the snapshot at ``path``."""
    import pyarrow.parquet as pq

    path = Path(path).expanduser()
    sidecar = Path(str(path) + SIDECAR)
    try:
        if sidecar.exists():
            return dict(json.loads(sidecar.read_text()))
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError) as exc:
        raise DiasporaUsageError(f"cannot read the snapshot {str(path)!r}: {exc}",
                                 hint="pass a file written by topics.export") from exc
    if META_KEY not in metadata:
        raise DiasporaUsageError(f"{str(path)!r} has no diaspora provenance",
                                 hint="pass a file written by topics.export")
    return dict(json.loads(metadata[META_KEY]))


def reread(path: str | Path, *, decoder: Decoder | None = None, timeout: float = 60.0,
           engine: str = "auto", client: Client | None = None) -> ReadResult:
    """Read the rows of the snapshot at ``path`` from the topic again (``read(snapshot=)``)."""
    meta = load_provenance(path)
    client = client_or_default(client)
    ranges = {int(p): (int(r[0]), int(r[1])) for p, r in meta["ranges"].items()}
    offsets = meta.get("offsets")
    flt = meta.get("filter")
    if offsets is None and flt is not None and flt.startswith("<"):
        raise DiasporaUsageError("this snapshot was filtered with a function and has too many "
                                 "rows to list their offsets: it cannot be re-read exactly",
                                 hint="export with a filter expression instead of a function")
    args = {**_READ_DEFAULTS, "fields": meta["fields"], "decoder": decoder,
            "scan_budget": None, "timeout": timeout, "engine": engine, "direction": "forward"}
    if not ranges:  # an empty snapshot: an empty read
        return scan(client, meta["topic"], **{**args, "start": "latest",
                                              "partitions": meta["partitions"]})
    span = min(sum(hi - lo for lo, hi in ranges.values()), MAX_LIMIT)
    got = scan(client, meta["topic"], **{
        **args, "partitions": sorted(ranges), "start": {p: r[0] for p, r in ranges.items()},
        "stop": {p: r[1] for p, r in ranges.items()}, "limit": span,
        "filter": None if offsets is not None else flt})
    frame = got.frame
    if offsets is not None:
        wanted = {(int(p), o) for p, runs in offsets.items() for lo, hi in runs
                  for o in range(lo, hi)}
        keep = [(int(p), int(o)) in wanted
                for p, o in zip(frame["partition"], frame["offset"], strict=True)]
        frame = frame[keep]
    got.frame = _like(frame, meta)
    got.filter = flt
    got.direction = meta["direction"]
    got.extra["snapshot"] = str(path)
    return got


def _like(frame: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """``frame`` in the snapshot's row order, columns and types."""
    import numpy as np

    order = meta.get("order", "ascending" if meta["direction"] == "forward" else "descending")
    frame = frame.sort_values(["timestamp", "partition", "offset"], kind="stable",
                              ascending=order == "ascending")
    columns = list(meta["columns"])
    for name in columns:
        if name not in frame.columns:
            frame[name] = np.nan
    frame = frame[columns].reset_index(drop=True)
    types = {c: t for c, t in meta["dtypes"].items() if str(frame[c].dtype) != t}
    try:
        return frame.astype(types) if types else frame
    except (TypeError, ValueError):
        return frame
