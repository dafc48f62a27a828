"""Records as columns -> Arrow and pandas: the read path's one conversion.

A ``Chunk`` holds consecutive records of one partition (numpy offsets and timestamps, keys,
raw payloads or, once decoded, their value columns). ``to_table`` / ``to_frame`` turn chunks
into one Arrow table / DataFrame with the metadata columns first (``topic``, ``partition``,
``offset``, ``timestamp``, ``key`` as text), then the payload fields, ``_error`` last; payload
schemas that differ are unioned (a missing column is null). Values Arrow cannot type become
text through one function, :func:`as_text` (the live window, one-off reads and the grid use
it). ``batch_to_arrow`` is the one-off reads' shape (raw key, headers and value kept).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from diaspora_notebook.kafka.decode import decode_batch
from diaspora_notebook.kafka.flatten import ERROR_COLUMN, VALUE_COLUMN, RowDecoder
from diaspora_notebook.kafka.source import RawBatch

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class Chunk:
    """Consecutive records of one partition; ``payload`` is ``None`` until decoded."""

    __slots__ = ("keys", "n", "offsets", "partition", "payload", "seqs", "timestamps", "topic",
                 "values")

    def __init__(self, topic: str, partition: int, offsets: np.ndarray, timestamps: np.ndarray,
                 keys: list[bytes | None], values: list[bytes | None] | None,
                 seqs: np.ndarray | None = None, payload: Any = None) -> None:
        self.topic = topic
        self.partition = partition
        self.offsets = offsets
        self.timestamps = timestamps
        self.keys = keys
        self.values = values
        self.payload = payload
        self.seqs = seqs
        self.n = len(offsets)

    def select(self, index: slice | np.ndarray) -> Chunk:
        """A new chunk of some rows (a slice or a boolean mask); this one is left unchanged."""
        arrow_keys = not isinstance(self.keys, list)
        pick: Any
        if isinstance(index, slice):
            pick = index
            keys = self.keys[index]
            values = self.values[index] if self.values is not None else None
        else:
            pick = np.flatnonzero(index)
            keys = (cast(Any, self.keys).take(pick) if arrow_keys
                    else [self.keys[i] for i in pick])
            values = [self.values[i] for i in pick] if self.values is not None else None
        payload = self.payload
        if payload is not None:
            payload = _take_rows(payload, pick)
        return Chunk(self.topic, self.partition, self.offsets[pick], self.timestamps[pick], keys,
                     values, None if self.seqs is None else self.seqs[pick], payload)


def _take_rows(payload: Any, pick: slice | np.ndarray) -> Any:
    if hasattr(payload, "iloc"):
        return payload.iloc[pick].reset_index(drop=True)
    if isinstance(pick, slice):
        start, stop, _ = pick.indices(payload.num_rows)
        return payload.slice(start, stop - start)
    return payload.take(pick)


def first_valid(payload: Any, name: str) -> int:
    """The row of the first non-null value of column ``name`` (0 if none)."""
    if hasattr(payload, "iloc"):
        idx = payload[name].first_valid_index()
        return 0 if idx is None else int(idx)
    import pyarrow.compute as pc

    pos = pc.index(payload.column(name).is_valid(), True).as_py()
    return max(int(pos), 0)


def meta_table(chunks: Sequence[Chunk]) -> Any:
    """The metadata columns of the chunks as one Arrow table (topic, partition, offset, ...)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lens = [c.n for c in chunks]
    topics = list(dict.fromkeys(c.topic for c in chunks))
    which = np.repeat(np.array([topics.index(c.topic) for c in chunks], np.int32), lens)
    topic = pc.cast(pa.DictionaryArray.from_arrays(which, pa.array(topics, pa.string())),
                    pa.string())
    partition = np.repeat(np.array([c.partition for c in chunks], np.int64), lens)
    offsets = np.concatenate([c.offsets for c in chunks]) if chunks else np.empty(0, np.int64)
    stamps = np.concatenate([c.timestamps for c in chunks]) if chunks else np.empty(0, np.int64)
    missing = stamps < 0  # -1 = the producer set no timestamp
    timestamp = pa.array(stamps, pa.timestamp("ms", tz="UTC"),
                         mask=missing if missing.any() else None)
    return pa.table({"topic": topic, "partition": partition, "offset": offsets,
                     "timestamp": timestamp, "key": key_array([c.keys for c in chunks])})


def binary(keys: list[bytes | None]) -> Any:
    """Raw keys as one Arrow binary array."""
    import pyarrow as pa

    return pa.array(keys, pa.binary())


def key_array(parts: Sequence[Any]) -> Any:
    """Kafka keys (lists of bytes or Arrow binary arrays) as text; invalid UTF-8 is escaped,
    never an error."""
    import pyarrow as pa

    arrays = [p if not isinstance(p, list) else binary(p) for p in parts]
    raw = pa.concat_arrays(arrays) if arrays else pa.array([], pa.binary())
    try:
        return raw.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([None if k is None else k.decode("utf-8", errors="backslashreplace")
                         for k in raw.to_pylist()], pa.string())


def payload_table(chunks: Sequence[Chunk]) -> Any:
    """The decoded payloads as one table (schemas unioned), or ``None`` if Arrow cannot hold
    them together (types that differ between chunks, pandas-only chunks)."""
    import pyarrow as pa

    tables = [c.payload for c in chunks]
    if any(hasattr(t, "iloc") or t.num_columns == 0 for t in tables):
        return None
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def as_table(chunks: Sequence[Chunk], order: np.ndarray | None) -> Any:
    table = to_table(chunks, order)
    return table if table is not None else frame_to_table(to_frame(chunks, order))


def to_table(chunks: Sequence[Chunk], order: np.ndarray | None) -> Any:
    """Decoded chunks -> one Arrow table (metadata columns, then payload columns), or ``None``
    when the payloads cannot be one Arrow table (see :func:`payload_table`).

    :param order: sequence numbers of the rows to keep, in the order to show them (``None``: all)
    """
    chunks = [c for c in chunks if c.n]
    if not chunks:
        return meta_table([])
    payload = payload_table(chunks)
    if payload is None:
        return None
    table = meta_table(chunks)
    for name in payload.column_names:
        table = table.append_column(name, payload.column(name))
    if order is not None:
        table = table.take(_positions(chunks, order))
    if ERROR_COLUMN in table.column_names:
        table = table.select([c for c in table.column_names if c != ERROR_COLUMN] + [ERROR_COLUMN])
    return table


def frame_to_table(df: pd.DataFrame) -> Any:
    """A DataFrame of mixed payloads as Arrow: columns Arrow cannot type become text
    (:func:`as_text`), the others keep their type."""
    import pyarrow as pa

    columns = {}
    for name in df.columns:
        try:
            columns[str(name)] = pa.array(df[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            columns[str(name)] = as_text(df[name])
    return pa.table(columns)


def as_text(values: Iterable[Any]) -> Any:
    """Values as an Arrow text array, the one fallback for what Arrow (or a view) cannot type:
    nulls stay null, text stays as it is, lists and dicts become JSON, anything else ``str()``.

    :param values: a pandas Series, an Arrow array (its Python values) or any iterable
    """
    import pyarrow as pa

    if hasattr(values, "to_pylist"):
        values = values.to_pylist()
    return pa.array([None if v is None else v if isinstance(v, str) else
                     json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else str(v)
                     for v in values], pa.string())


def _positions(chunks: Sequence[Chunk], order: np.ndarray) -> np.ndarray:
    seqs = np.concatenate([c.seqs for c in chunks])
    return np.searchsorted(seqs, order)


def to_frame(chunks: Sequence[Chunk], order: np.ndarray | None) -> pd.DataFrame:
    """Decoded chunks -> DataFrame: metadata columns, then payload columns, then ``_error``.

    :param order: sequence numbers of the rows to keep, in the order to show them (``None``: all)
    """
    import pandas as pd

    chunks = [c for c in chunks if c.n]
    if not chunks:
        empty: pd.DataFrame = meta_table([]).to_pandas()
        empty[VALUE_COLUMN] = pd.Series(dtype=object)
        return empty
    table = to_table(chunks, order)
    if table is not None:
        arrow_frame: pd.DataFrame = table.to_pandas()
        return arrow_frame
    parts = [c.payload.to_pandas() if not hasattr(c.payload, "iloc") else c.payload
             for c in chunks]
    parts = [p if len(p.columns) else pd.DataFrame(index=range(c.n))
             for p, c in zip(parts, chunks, strict=True)]
    values = pd.concat(parts, ignore_index=True)
    df = pd.concat([meta_table(chunks).to_pandas(), values], axis=1)
    if order is not None:
        df = df.iloc[_positions(chunks, order)].reset_index(drop=True)
    if ERROR_COLUMN in df.columns:
        df = df[[c for c in df.columns if c != ERROR_COLUMN] + [ERROR_COLUMN]]
    result: pd.DataFrame = df
    return result


def batch_to_arrow(raw: RawBatch, decoder: RowDecoder | None) -> pa.RecordBatch:
    """One ``RawBatch`` -> an Arrow record batch (metadata, raw value, decoded fields)."""
    import pyarrow as pa

    n = len(raw.offsets)
    missing = raw.timestamps < 0
    header_type = pa.list_(pa.struct([("name", pa.string()), ("value", pa.binary())]))
    columns: dict[str, Any] = {
        "topic": pa.array([raw.topic] * n, pa.string()),
        "partition": pa.array(np.full(n, raw.partition, np.int32)),
        "offset": pa.array(raw.offsets),
        "timestamp": pa.array(raw.timestamps, pa.timestamp("ms", tz="UTC"),
                              mask=missing if missing.any() else None),
        "key": pa.array(raw.keys, pa.binary()),
        "headers": pa.array([[{"name": k, "value": v} for k, v in h] for h in raw.headers]
                            if raw.headers is not None else [None] * n, header_type),
        "value": pa.array(raw.values, pa.binary()),
    }
    if decoder is not None:
        payload, _errors = decode_batch(raw.values, decoder)
        if hasattr(payload, "iloc"):  # mixed types: what Arrow cannot type becomes text
            payload = frame_to_table(payload)
        for name in payload.column_names:
            if name == "value":
                continue  # the raw bytes are already there
            columns[name] = payload.column(name).combine_chunks()
    return pa.RecordBatch.from_pydict(columns)
