"""What a read returns: the rows and an account of what was scanned to find them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: why a read stopped
STOPS = ("end", "limit", "budget", "timeout", "cancelled")


@dataclass
class ReadResult:
    """Rows of one :func:`~diaspora_notebook.explore.read` and how they were found.

    :ivar frame: the rows (columns ``topic partition offset timestamp key headers value`` and
        the payload fields ``value.<path>``), in timestamp order (newest first when read
        backward)
    :ivar scanned: records read per partition (including those the filter dropped)
    :ivar scanned_ranges: ``{partition: (first, last + 1)}`` offsets read
    :ivar ranges: ``{partition: (first, last + 1)}`` offsets of the returned rows
    :ivar stopped_by: ``"end"`` (nothing more in range), ``"limit"``, ``"budget"`` (the scan
        budget ran out), ``"timeout"`` or ``"cancelled"``
    :ivar after: ``start=`` of the page after this one (read forward)
    :ivar before: ``start=`` of the page before this one (read backward)
    """

    topic: str
    frame: pd.DataFrame
    partitions: list[int]
    direction: str
    filter: str | None
    fields: list[str] | None
    scanned: dict[int, int] = field(default_factory=dict)
    scanned_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    stopped_by: str = "end"
    after: dict[int, int] = field(default_factory=dict)
    before: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_scanned(self) -> int:
        """Records read over all partitions."""
        return sum(self.scanned.values())

    @property
    def limited(self) -> bool:
        """Whether the limit or the scan budget stopped the read (there may be more)."""
        return self.stopped_by in ("limit", "budget")

    def summary(self) -> str:
        """One line: rows, scanned, why it stopped."""
        parts = ", ".join(f"{p}: {lo}-{hi - 1}" for p, (lo, hi) in sorted(self.ranges.items()))
        return (f"{len(self.frame)} row(s) of {self.topic!r} ({parts or 'none'}); "
                f"scanned {self.total_scanned} in {self.seconds:.2f} s; "
                f"stopped by {self.stopped_by}")

    def __repr__(self) -> str:
        return f"ReadResult({self.summary()})"

    def _repr_html_(self) -> str:
        import html

        table: str = self.frame._repr_html_()  # type: ignore[operator]
        return f"<p>{html.escape(self.summary())}</p>{table}"
