"""Arrow batches from the engine -> pandas rows of the explorer (and the filter's columns).

Payload fields come from the engine's flattened JSON columns (bare ``a.b``; a field named like a
record column arrives as ``value.key``) and are renamed ``value.a.b`` here, so the result's
columns say what they are. ``value`` itself is decoded only for rows that are kept: JSON, else
UTF-8 text, else the bytes as hex (``decoder=`` replaces JSON with any ``bytes -> object``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from diaspora_notebook.filters import FIELD_PREFIX, META
from diaspora_notebook.kafka.arrow import as_text, frame_to_table
from diaspora_notebook.kafka.decode import RESERVED, decode_batch
from diaspora_notebook.kafka.flatten import ERROR_COLUMN, RowDecoder, decode_key

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Decoder = Callable[[bytes], Any]
#: columns of an engine batch that are record metadata, not payload fields
_RECORD = frozenset((*META, ERROR_COLUMN))


def decode_value(raw: bytes | None, decoder: Decoder | None = None) -> Any:
    """One payload for people: ``decoder(raw)`` (JSON by default), else text, else hex."""
    if raw is None:
        return None
    loads = decoder if decoder is not None else json.loads
    try:
        return loads(raw)
    except Exception:  # noqa: S110  # any payload must still show: as text, else as hex
        pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()


def field_column(engine_name: str) -> str:
    """Engine column (``a.b``, or ``value.key`` for a reserved name) -> ``value.a.b``."""
    if engine_name.startswith(FIELD_PREFIX) and engine_name[len(FIELD_PREFIX):] in RESERVED:
        return engine_name
    return FIELD_PREFIX + engine_name


def engine_column(field: str) -> str:
    """``value.a.b`` -> the engine's column name for it."""
    path = field[len(FIELD_PREFIX):]
    return field if path in RESERVED else path


def with_fields(batch: pa.RecordBatch, decoder: Decoder | None) -> pa.RecordBatch:
    """``batch`` with payload columns: the engine's (JSON) or decoded here with ``decoder``."""
    import pyarrow as pa

    if decoder is None:
        return batch
    payload, _failed = decode_batch(batch.column("value").to_pylist(), RowDecoder(decoder))
    if hasattr(payload, "iloc"):  # only the columns Arrow cannot type become text
        payload = frame_to_table(payload)
    columns = {name: batch.column(name) for name in batch.schema.names}
    for name in payload.column_names:
        if name not in ("value", ERROR_COLUMN):
            columns[name] = payload.column(name).combine_chunks()
    return pa.RecordBatch.from_pydict(columns)


def payload_names(batch: pa.RecordBatch) -> list[str]:
    """The engine's payload columns of ``batch``."""
    return [n for n in batch.schema.names if n not in _RECORD]


def _headers(value: Any) -> dict[str, str]:
    return {h["name"]: decode_key(h["value"]) or "" for h in value or ()}


def meta_column(batch: pa.RecordBatch, name: str, decoder: Decoder | None) -> Any:
    """Record column ``name`` of ``batch`` as a pandas Series (key/headers/value decoded)."""
    import pandas as pd

    col = batch.column(name)
    if name == "key":
        return pd.Series([decode_key(k) for k in col.to_pylist()], dtype=object)
    if name == "headers":
        return pd.Series([_headers(h) for h in col.to_pylist()], dtype=object)
    if name == "value":
        return pd.Series([decode_value(v, decoder) for v in col.to_pylist()], dtype=object)
    return col.to_pandas()


def frame_of(batch: pa.RecordBatch, meta: Iterable[str], fields: Iterable[str],
             decoder: Decoder | None) -> pd.DataFrame:
    """The columns ``meta`` + ``fields`` (``value.x`` names) of ``batch`` as a DataFrame.

    A field the batch does not have is all missing (NaN), so comparisons on it are false.
    """
    import numpy as np
    import pandas as pd

    have = set(batch.schema.names)
    data: dict[str, Any] = {}
    for name in meta:
        data[name] = meta_column(batch, name, decoder)
    for f in fields:
        eng = engine_column(f)
        data[f] = batch.column(eng).to_pandas() if eng in have else \
            pd.Series(np.full(batch.num_rows, np.nan))
    frame: pd.DataFrame = pd.DataFrame(data, index=pd.RangeIndex(batch.num_rows))
    return frame


def rows_of(batch: pa.RecordBatch, fields: list[str] | None,
            decoder: Decoder | None) -> pd.DataFrame:
    """The result rows of ``batch``: every record column, then the payload fields (all of
    them, or just ``fields``)."""
    wanted = fields if fields is not None else \
        [field_column(n) for n in payload_names(batch)]
    return frame_of(batch, META, wanted, decoder)


def concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Batches of rows one after the other, each column keeping its type: only a field that
    changed type between batches (a number, then text) becomes text, as one batch holding both
    does (:func:`~diaspora_notebook.kafka.arrow.as_text`); lists and objects stay as they are."""
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True)
    for name in frame.columns:
        if not str(name).startswith(FIELD_PREFIX) or frame[name].dtype != object:
            continue
        column = frame[name]
        kinds = {type(v) for v in column
                 if v is not None and not (isinstance(v, float) and v != v)}
        if str in kinds and kinds & {int, float, bool}:
            frame[name] = pd.Series(as_text(column).to_pylist(), index=frame.index)
    return frame
