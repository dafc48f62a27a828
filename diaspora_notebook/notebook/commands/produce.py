"""``%diaspora_produce TOPIC JSON`` and ``%%diaspora_produce TOPIC`` (JSON Lines or CSV).

The line form takes everything after the topic as the JSON document, verbatim (no IPython
``{}``/``$`` expansion, which would turn JSON into Python reprs). The cell body is one JSON
document per line, or CSV with a header line (``--format csv``, or told apart by its first
line: one that is not JSON); ``--key-field`` and ``--timestamp-field`` name the field (or
column) each row's key and event time come from, ``--key`` is one key for all.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from diaspora_notebook import topics
from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.notebook.html import Result

if TYPE_CHECKING:
    from diaspora_notebook.notebook.configurable import Diaspora

#: options that take a value (they must come before the topic)
VALUE_OPTIONS = ("-k", "--key", "--timeout", "--key-field", "--timestamp-field", "--format")
FORMATS = ("auto", "jsonl", "csv")


def split_line(line: str) -> tuple[list[str], str]:
    """``"--key k topic {"a": 1}"`` -> ``(["--key", "k", "topic"], '{"a": 1}')``.

    Options (and their values) come first, then the topic, then the raw JSON text.
    """
    rest = line.strip()
    tokens: list[str] = []
    expect_value = False
    while rest:
        match = re.match(r"(\S+)\s*", rest)
        assert match is not None
        token, rest = match.group(1), rest[match.end():]
        tokens.append(token)
        if expect_value:
            expect_value = False
        elif token.startswith("-") and token not in ("-", "--"):
            expect_value = token in VALUE_OPTIONS
        else:
            return tokens, rest.strip()
    return tokens, ""


def body_format(text: str) -> str:
    """``"jsonl"`` or ``"csv"``: JSON Lines unless the first line (not a comment) is not JSON."""
    import json

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped[0] in "{[\"":
            return "jsonl"
        try:
            json.loads(stripped)
        except ValueError:
            return "csv" if "," in stripped else "jsonl"
        return "jsonl"
    return "jsonl"


def parse_body(text: str, fmt: str = "auto") -> Any:
    """The cell body as JSON values (JSON Lines) or a DataFrame (CSV with a header line)."""
    if fmt not in FORMATS:
        raise DiasporaUsageError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = body_format(text)
    if fmt == "jsonl":
        return topics.parse_documents(text)
    import io

    import pandas as pd

    lines = "\n".join(ln for ln in text.splitlines() if ln.strip()
                      and not ln.lstrip().startswith("#"))
    try:
        frame = pd.read_csv(io.StringIO(lines))
    except (ValueError, pd.errors.ParserError) as exc:
        raise DiasporaUsageError(f"the CSV body cannot be read: {exc}",
                                 hint="a header line, then one row per line") from None
    if frame.empty:
        raise DiasporaUsageError("nothing to produce", hint="a header line, then rows")
    return frame


def run_produce(settings: Diaspora, *, topic: str, text: str, key: str | None = None,
                timeout: float | None = None, key_field: str | None = None,
                timestamp_field: str | None = None, fmt: str = "auto") -> Result:
    if not text.strip():
        raise DiasporaUsageError("no JSON document given",
                                 hint=f"%diaspora_produce {topic} " + '{"x": 1}, or use '
                                 "%%diaspora_produce with one JSON document per line")
    if key is not None and key_field is not None:
        raise DiasporaUsageError("--key and --key-field contradict each other",
                                 hint="--key K: one key for all; --key-field F: each row's F")
    data = parse_body(text, fmt)
    the_key: Any = topics.literal(key) if key is not None else (
        topics.column(key_field) if key_field else None)
    produced = topics.produce(topic, data, key=the_key,
                              timestamp=topics.column(timestamp_field) if timestamp_field
                              else None,
                              timeout=timeout or settings.kafka_timeout,
                              client=settings.logged_in_client())
    noun = "message" if produced.count == 1 else "messages"
    return Result({"status": "success", "topic": produced.topic, "count": produced.count,
                   "offsets": list(produced.offsets),
                   "message": f"produced {produced.count} {noun} ({produced.summary()})"})
