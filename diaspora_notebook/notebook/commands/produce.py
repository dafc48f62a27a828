"""``%diaspora_produce TOPIC JSON`` and ``%%diaspora_produce TOPIC`` (one JSON per line).

The line form takes everything after the topic as the JSON document, verbatim (no IPython
``{}``/``$`` expansion, which would turn JSON into Python reprs).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from diaspora_notebook import topics
from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.notebook.html import Result

if TYPE_CHECKING:
    from diaspora_notebook.notebook.configurable import Diaspora

#: options that take a value (they must come before the topic)
VALUE_OPTIONS = ("-k", "--key", "--timeout")


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


def run_produce(settings: Diaspora, *, topic: str, text: str, key: str | None = None,
                timeout: float | None = None) -> Result:
    if not text.strip():
        raise DiasporaUsageError("no JSON document given",
                                 hint=f"%diaspora_produce {topic} " + '{"x": 1}, or use '
                                 "%%diaspora_produce with one JSON document per line")
    produced = topics.produce(topic, topics.parse_documents(text), key=key,
                              timeout=timeout or settings.kafka_timeout,
                              client=settings.logged_in_client())
    noun = "message" if produced.count == 1 else "messages"
    return Result({"status": "success", "topic": produced.topic, "count": produced.count,
                   "offsets": list(produced.offsets),
                   "message": f"produced {produced.count} {noun} ({produced.summary()})"})
