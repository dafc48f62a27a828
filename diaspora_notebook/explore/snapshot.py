"""Reproducible snapshots: ``export`` writes rows with where they came from; ``read(snapshot=)``
reads exactly those offsets again (while retention keeps them) and gives the same rows.

Parquet keeps the provenance in its key-value metadata (key ``diaspora``); CSV and JSON lines
get it beside them in ``<file>.diaspora.json``. It holds the topic, the partitions, the offsets
of the rows (as ranges), the read's filter and fields, the columns with their types, the
schema and the time of the export.

Every file written here holds a topic's data, so it is created owner-only (``0600``) whatever
the umask, unless ``export(..., mode=0o640)`` asks for another mode (the sidecar gets the same).
A snapshot is re-read only if its recorded filter passes the filter parser
(:func:`~diaspora_notebook.filters.parse_filter`): a file handed over by someone else
cannot make the reader run code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.reader import DEFAULT_BUDGET, MAX_LIMIT, normalize_fields, scan
from diaspora_notebook.explore.result import ReadResult
from diaspora_notebook.explore.values import Decoder
from diaspora_notebook.filters import FIELD_PREFIX, parse_filter
from diaspora_notebook.kafka.connections import client_or_default

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

FORMATS = ("parquet", "csv", "jsonl")
META_KEY = b"diaspora"
SIDECAR = ".diaspora.json"
#: beyond this many offset ranges the offsets are not listed: the filter selects the rows again
MAX_RANGES = 10_000
#: the mode of every file ``export`` writes (it holds a topic's data): owner read/write only
FILE_MODE = 0o600
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


@contextlib.contextmanager
def _private(path: Path, mode: int, text: bool = False) -> Iterator[Any]:
    """``path`` opened for writing with exactly ``mode`` (not widened by the umask, and an
    existing file is narrowed before anything is written into it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                 mode)
    try:
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    with (os.fdopen(fd, "w", encoding="utf-8", newline="") if text
          else os.fdopen(fd, "wb")) as fh:
        yield fh


def _file_mode(mode: Any) -> int:
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise DiasporaUsageError(f"mode must be file permission bits like 0o600, not {mode!r}",
                                 hint="e.g. mode=0o640 to let your group read the file")
    if not mode & 0o600 == 0o600:
        raise DiasporaUsageError(f"mode {oct(mode)} does not let you read and write the file",
                                 hint="keep 0o600 in it, e.g. mode=0o640")
    return mode


def export(source: str | ReadResult, path: str | Path, format: str | None = None, *,
           client: Client | None = None, mode: int = FILE_MODE, **read_args: Any) -> Path:
    """Write a snapshot of a read (or of ``topic``, read from the earliest) to ``path``.

    The file (and a CSV's or JSON lines' ``.diaspora.json`` sidecar) holds the topic's data:
    it is written owner-only, ``0600``, whatever the umask, unless ``mode`` says otherwise.

    :param source: a :class:`ReadResult`, or a topic name (then ``read_args`` go to ``read``;
        default ``start="earliest", limit=100_000``)
    :param format: ``"parquet"``, ``"csv"`` or ``"jsonl"`` (default: from the file's suffix,
        else parquet)
    :param mode: the files' permission bits (default ``0o600``; e.g. ``0o640`` to share with
        your Unix group); applied exactly, the umask does not change it
    :returns: the path written (mode ``mode``)
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path).expanduser()
    fmt = format or {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}.get(
        path.suffix.lower(), "parquet")
    if fmt not in FORMATS:
        raise DiasporaUsageError(f"unknown export format {fmt!r}",
                                 hint=f"use one of {', '.join(FORMATS)}")
    mode = _file_mode(mode)
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
        with _private(path, mode) as fh:
            pq.write_table(table, fh)
        return path
    if fmt == "csv":
        with _private(path, mode, text=True) as fh:
            file_frame(source.frame).to_csv(fh, index=False)
    else:
        frame = source.frame.copy()
        frame["headers"] = frame["headers"].map(lambda h: h or {})
        with _private(path, mode, text=True) as fh:
            frame.to_json(fh, orient="records", lines=True, date_format="iso",
                          default_handler=str)
    with _private(Path(str(path) + SIDECAR), mode, text=True) as fh:
        fh.write(meta)
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


def _is_function(recorded: str) -> bool:
    """Whether a recorded filter is the ``repr`` of a function (kept only as a note)."""
    return recorded.startswith("<") and recorded.endswith(">")


def _refused(path: str | Path, what: str) -> DiasporaUsageError:
    return DiasporaUsageError(
        f"the snapshot {str(path)!r} is refused: its diaspora metadata {what}"[:600],
        hint="re-read only snapshots written by topics.export; nothing from this file was run")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked_provenance(meta: Any, path: str | Path) -> dict[str, Any]:
    """``meta`` (a snapshot's provenance) if it has the shape :func:`provenance` writes, and
    its recorded filter passes :func:`~diaspora_notebook.filters.parse_filter` (the
    same check as a typed filter); else a usage error naming what is wrong.
    """
    if not isinstance(meta, dict):
        raise _refused(path, "is not an object")
    if not isinstance(meta.get("topic"), str):
        raise _refused(path, "has no topic name")
    ranges = meta.get("ranges")
    if not isinstance(ranges, dict) or not all(
            isinstance(p, str) and p.isdigit() and isinstance(r, list) and len(r) == 2
            and all(_is_int(o) for o in r) for p, r in ranges.items()):
        raise _refused(path, "has no valid offset ranges")
    offsets = meta.get("offsets")
    if offsets is not None and not (isinstance(offsets, dict) and all(
            isinstance(p, str) and p.isdigit() and isinstance(runs, list)
            and all(isinstance(r, list) and len(r) == 2 and all(_is_int(o) for o in r)
                    for r in runs) for p, runs in offsets.items())):
        raise _refused(path, "has invalid offsets")
    for key in ("fields", "columns", "partitions"):
        value = meta.get(key)
        kind = int if key == "partitions" else str
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, kind) for v in value)):
            raise _refused(path, f"has an invalid {key!r} list")
    if not isinstance(meta.get("columns"), list) or not isinstance(meta.get("dtypes"), dict) \
            or not all(isinstance(t, str) for t in meta["dtypes"].values()):
        raise _refused(path, "has no valid column list")
    if meta.get("direction") not in ("forward", "backward") or \
            meta.get("order", "ascending") not in ("ascending", "descending"):
        raise _refused(path, "has an invalid direction or order")
    flt = meta.get("filter")
    if flt is not None:
        if not isinstance(flt, str):
            raise _refused(path, f"holds a filter that is not text ({type(flt).__name__})")
        if not _is_function(flt):
            try:
                parse_filter(flt)
            except DiasporaUsageError as exc:
                raise _refused(path, f"holds a filter that is not a plain condition: "
                                     f"{str(exc).splitlines()[0]}") from None
    return meta


def reread(path: str | Path, *, decoder: Decoder | None = None, timeout: float = 60.0,
           engine: str = "auto", client: Client | None = None) -> ReadResult:
    """Read the rows of the snapshot at ``path`` from the topic again (``read(snapshot=)``)."""
    meta = checked_provenance(load_provenance(path), path)
    client = client_or_default(client)
    ranges = {int(p): (int(r[0]), int(r[1])) for p, r in meta["ranges"].items()}
    offsets = meta.get("offsets")
    flt = meta.get("filter")
    if offsets is None and flt is not None and _is_function(flt):
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
