"""Kafka payload -> row: decode (JSON by default) and flatten nested objects into columns.

A payload that cannot be decoded is never dropped: its text goes to ``value`` and the reason to
``_error``. Nothing here touches the network or pandas.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable
from typing import Any

from diaspora_notebook.errors import DiasporaUsageError

#: Columns every row carries, in order, before the payload's own columns.
META_COLUMNS = ("topic", "partition", "offset", "timestamp", "key")
VALUE_COLUMN = "value"
ERROR_COLUMN = "_error"
_RESERVED = frozenset((*META_COLUMNS, ERROR_COLUMN))

Deserializer = Callable[[bytes], Any]
DESERIALIZERS = ("json", "text", "bytes")


def flatten(obj: dict[str, Any], sep: str = ".") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": 2}`` -> ``{"a.b": 1, "c": 2}``; lists and scalars stay as they are.

    An empty nested object is kept as ``{}`` under its own key, so nothing silently disappears.

    :param obj: a decoded JSON object
    :param sep: joins the keys of nested objects
    """
    out: dict[str, Any] = {}
    _flatten_into(out, obj, "", sep)
    return out


def _flatten_into(out: dict[str, Any], obj: dict[str, Any], prefix: str, sep: str) -> None:
    for key, val in obj.items():
        name = f"{prefix}{key}"
        if type(val) is dict and val:
            _flatten_into(out, val, name + sep, sep)
        else:
            out[name] = val


_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _json_loads(raw: bytes) -> Any:
    """``json.loads`` for one payload, without its per-call overhead (about 40 % faster)."""
    try:
        text = raw.decode("utf-8")
        obj, end = _scan(text, 0)
    except (ValueError, StopIteration):  # UnicodeDecodeError and JSONDecodeError included
        return json.loads(raw)  # raises the usual, readable error (or handles BOMs, UTF-16)
    if end != len(text) and not text[end:].isspace():
        return json.loads(raw)
    return obj


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


class RowDecoder:
    """Turns one payload into the value part of a row: ``{column: value}``.

    :param deserializer: ``"json"`` (default), ``"text"`` (UTF-8 string), ``"bytes"`` (raw) or a
        callable ``bytes -> object``; a callable that raises keeps the text with ``_error``
    :param flatten: spread JSON objects over columns (nested keys joined with ``"."``); when
        false the decoded object is kept whole in ``value``
    """

    def __init__(self, deserializer: str | Deserializer = "json", *, flatten: bool = True) -> None:
        if isinstance(deserializer, str) and deserializer not in DESERIALIZERS:
            raise DiasporaUsageError(
                f"unknown deserializer {deserializer!r}",
                hint=f"use one of {', '.join(DESERIALIZERS)} or a function bytes -> object",
            )
        if not isinstance(deserializer, str) and not callable(deserializer):
            raise DiasporaUsageError(
                f"deserializer must be a name or a function, not {type(deserializer).__name__}",
                hint=f"use one of {', '.join(DESERIALIZERS)} or a function bytes -> object",
            )
        self.deserializer = deserializer
        self.flatten = flatten
        self._decode: Deserializer | None
        if deserializer == "json":
            self._decode = _json_loads
            self._what = "JSON"
        elif callable(deserializer):
            self._decode = deserializer
            self._what = getattr(deserializer, "__name__", "deserializer")
        else:
            self._decode = None
            self._what = str(deserializer)

    def decode(self, raw: bytes | None) -> tuple[dict[str, Any], bool]:
        """The value columns of one payload, and whether it failed to decode.

        :param raw: the record's value bytes (``None`` for a tombstone)
        """
        if raw is None:
            return {VALUE_COLUMN: None}, False
        if self._decode is None:
            return {VALUE_COLUMN: _text(raw) if self.deserializer == "text" else raw}, False
        try:
            obj = self._decode(raw)
        except Exception as exc:  # any payload at all must become a row, never stop the stream
            reason = f"not {self._what}: {type(exc).__name__}: {exc}"
            return {VALUE_COLUMN: _text(raw), ERROR_COLUMN: reason[:300]}, True
        if type(obj) is dict:
            if not self.flatten:
                return {VALUE_COLUMN: obj}, False
            cols = flatten(obj) if any(type(v) is dict for v in obj.values()) else obj
            if not _RESERVED.isdisjoint(cols):
                cols = {(f"value.{k}" if k in _RESERVED else k): v for k, v in cols.items()}
            return cols, False
        return {VALUE_COLUMN: obj}, False


def decode_key(raw: bytes | None) -> str | None:
    """Kafka keys are shown as text (invalid UTF-8 escaped, never an error)."""
    if raw is None:
        return None
    return raw.decode("utf-8", errors="backslashreplace")
