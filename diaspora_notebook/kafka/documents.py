"""JSON documents in and out of topics: one document per line in, a produce summary out.

Pure functions (no client, no network); :mod:`diaspora_notebook.topics` uses and re-exports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from diaspora_notebook.errors import DiasporaUsageError


@dataclass(frozen=True)
class Produced:
    """What :func:`diaspora_notebook.topics.produce` wrote.

    :ivar offsets: each document's ``(partition, offset)``, in the order given.
    """

    topic: str
    offsets: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        return len(self.offsets)

    def summary(self) -> str:
        """``partition 0: offsets 5-7; partition 1: offset 2``."""
        return describe_offsets(self.offsets)


def parse_documents(text: str) -> list[Any]:
    """One JSON document per non-blank line (lines starting with ``#`` are comments)."""
    docs = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            docs.append(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise DiasporaUsageError(f"line {number} is not JSON ({exc.msg} at column "
                                     f"{exc.colno}): {stripped[:60]!r}",
                                     hint="write one JSON document per line, e.g. "
                                     '{"temperature": 21.5}') from None
    if not docs:
        raise DiasporaUsageError("nothing to produce", hint="give one JSON document per line")
    return docs


def describe_offsets(offsets: Iterable[tuple[int, int]]) -> str:
    """``partition 0: offsets 5-7; partition 1: offset 2`` for ``(partition, offset)`` pairs."""
    by_partition: dict[int, list[int]] = {}
    for partition, offset in offsets:
        by_partition.setdefault(partition, []).append(offset)
    parts = []
    for partition in sorted(by_partition):
        offs = sorted(by_partition[partition])
        span = f"offset {offs[0]}" if len(offs) == 1 else f"offsets {offs[0]}-{offs[-1]}"
        parts.append(f"partition {partition}: {span}")
    return "; ".join(parts)


# --- records over HTTPS (the v3 produce routes: Confluent REST v3 bodies) ---------------------

_BYTES = (bytes, bytearray, memoryview)
REST_TYPES = ("BINARY", "JSON", "STRING")


def _rest_data(data: Any, data_type: str | None, *, str_type: str) -> dict[str, Any]:
    """A key or value as ``{"type", "data"}``, chosen as diaspora-event-sdk 0.5.1 does."""
    import base64

    if data_type is None:
        data_type = ("BINARY" if isinstance(data, _BYTES) else
                     str_type if isinstance(data, str) else "JSON")
    if data_type == "BINARY":
        if not isinstance(data, _BYTES):
            raise DiasporaUsageError(f"BINARY data must be bytes, not {type(data).__name__}",
                                     hint="pass bytes, or value_type='JSON'")
        return {"type": "BINARY", "data": base64.b64encode(bytes(data)).decode("ascii")}
    if data_type == "STRING":
        if not isinstance(data, str):
            raise DiasporaUsageError(f"STRING data must be a str, not {type(data).__name__}",
                                     hint="pass text, or value_type='JSON'")
        return {"type": "STRING", "data": data}
    if data_type == "JSON":
        if isinstance(data, _BYTES):
            raise DiasporaUsageError("JSON data cannot be bytes", hint="send bytes as BINARY")
        return {"type": "JSON", "data": data}
    raise DiasporaUsageError(f"type must be BINARY, JSON or STRING, not {data_type!r}",
                             hint="e.g. value_type='STRING'")


def rest_record(value: Any = None, *, key: Any = None, headers: Any = None,
                timestamp: Any = None, value_type: str | None = None,
                key_type: str | None = None) -> dict[str, Any]:
    """One record in the body form of the v3 produce routes (the SDK's ``encode_record``): a
    str value is JSON, a str key STRING, bytes BINARY; headers ``{name: bytes|str|None}`` or
    pairs; a datetime timestamp must carry a UTC offset."""
    import base64
    import datetime as dt

    record: dict[str, Any] = {}
    if key is not None:
        record["key"] = _rest_data(key, key_type, str_type="STRING")
    if value is not None:
        record["value"] = _rest_data(value, value_type, str_type="JSON")
    if headers is not None:
        items = headers.items() if isinstance(headers, Mapping) else headers
        encoded = []
        for name, raw in items:
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
            if data is not None and not isinstance(data, _BYTES):
                raise DiasporaUsageError(f"header {name!r} must be bytes, str or None",
                                         hint="e.g. headers={'trace': b'\\x00\\x01'}")
            encoded.append({"name": str(name), "value": None if data is None
                            else base64.b64encode(bytes(data)).decode("ascii")})
        record["headers"] = encoded
    if isinstance(timestamp, dt.datetime):
        if timestamp.utcoffset() is None:
            raise DiasporaUsageError("timestamp must carry a UTC offset (tzinfo)",
                                     hint="e.g. datetime.now(timezone.utc)")
        record["timestamp"] = timestamp.isoformat()
    elif timestamp is not None:
        record["timestamp"] = str(timestamp)
    return record
