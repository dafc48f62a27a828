"""JSON documents in and out of topics: one document per line in, a produce summary out.

Pure functions (no client, no network); :mod:`diaspora_notebook.topics` uses and re-exports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from diaspora_notebook.errors import DiasporaUsageError


@dataclass(frozen=True, repr=False)
class Produced:
    """What :func:`diaspora_notebook.topics.produce` wrote.

    Its repr is short however many documents were written (the count per partition, first and
    last offsets); ``offsets`` has every one.

    :ivar offsets: each document's ``(partition, offset)``, in the order given (kept for
        writes of up to 100,000 rows; empty for larger ones)
    :ivar landed: how many rows landed (``len(offsets)`` when not given)
    """

    topic: str
    offsets: tuple[tuple[int, int], ...]
    landed: int | None = None

    @property
    def count(self) -> int:
        return len(self.offsets) if self.landed is None else self.landed

    def summary(self) -> str:
        """``partition 0: offsets 5-7; partition 1: offset 2`` (or the row count of a large
        write)."""
        if not self.offsets:
            return f"{self.count:,} rows"
        return describe_offsets(self.offsets)

    def per_partition(self) -> dict[int, tuple[int, int, int]]:
        """``{partition: (count, first offset, last offset)}``."""
        found: dict[int, tuple[int, int, int]] = {}
        for partition, offset in self.offsets:
            count, first, last = found.get(partition, (0, offset, offset))
            found[partition] = (count + 1, min(first, offset), max(last, offset))
        return dict(sorted(found.items()))

    def __repr__(self) -> str:
        if not self.offsets:  # a large write keeps the count only
            return f"Produced(topic={self.topic!r}, count={self.count:,})"
        parts = "; ".join(f"partition {p}: {n} at offsets {first}-{last}" if n > 1
                          else f"partition {p}: 1 at offset {first}"
                          for p, (n, first, last) in self.per_partition().items())
        return f"Produced(topic={self.topic!r}, count={self.count}: {parts})"


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

