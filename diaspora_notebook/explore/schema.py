"""What the payloads of a topic look like: fields, types, how often missing, examples, and
drift (fields that appear only after some point)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.query import FIELD_PREFIX

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

SCHEMA_COLUMNS = ("field", "types", "null_fraction", "examples", "first_partition",
                  "first_offset")
MAX_SAMPLE = 100_000


@dataclass(frozen=True)
class Drift:
    """A field absent from the start of the sample, first seen at ``partition``/``offset``."""

    field: str
    partition: int
    offset: int
    timestamp: Any


@dataclass
class Schema:
    """Inferred from the ``sampled`` newest messages of ``topic``.

    :ivar fields: one row per payload field (columns :data:`SCHEMA_COLUMNS`)
    :ivar drift: fields missing from the first tenth of the sample (in time) but seen later
    """

    topic: str
    sampled: int
    fields: pd.DataFrame
    drift: list[Drift] = field(default_factory=list)

    def __repr__(self) -> str:
        drift = ", ".join(f"{d.field} (from partition {d.partition} offset {d.offset})"
                          for d in self.drift) or "none"
        return (f"Schema({self.topic!r}, {self.sampled} message(s) sampled, "
                f"{len(self.fields)} field(s); drift: {drift})")

    def _repr_html_(self) -> str:
        import html

        table: str = self.fields._repr_html_()  # type: ignore[operator]
        return f"<p>{html.escape(repr(self))}</p>{table}"


def _type_name(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)


def infer(topic: str, frame: pd.DataFrame) -> Schema:
    """The schema of ``frame`` (rows of a read, any order)."""
    import pandas as pd

    rows = frame.sort_values(["timestamp", "partition", "offset"], kind="stable")
    fields = [c for c in rows.columns if c.startswith(FIELD_PREFIX)]
    if "value" in rows.columns and len(rows):  # payloads that are not JSON objects
        plain = rows["value"].map(lambda v: not isinstance(v, dict))
        if plain.any():
            rows = rows.assign(**{"value.(value)": rows["value"].where(plain, None)})
            fields.append("value.(value)")
    baseline = max(1, len(rows) // 10)
    out, drift = [], []
    for name in fields:
        values = rows[name].tolist()
        present = [i for i, v in enumerate(values) if _type_name(v) != "null"]
        types = sorted({_type_name(values[i]) for i in present})
        examples = list(dict.fromkeys(repr(values[i]) for i in present[-50:]))[-3:]
        first = present[0] if present else None
        row = rows.iloc[first] if first is not None else None
        out.append({"field": name, "types": ", ".join(types) or "null",
                    "null_fraction": 1 - len(present) / len(values) if values else 1.0,
                    "examples": examples,
                    "first_partition": None if row is None else int(row["partition"]),
                    "first_offset": None if row is None else int(row["offset"])})
        if row is not None and first is not None and first >= baseline:
            drift.append(Drift(name, int(row["partition"]), int(row["offset"]),
                               row["timestamp"]))
    table = pd.DataFrame(out, columns=list(SCHEMA_COLUMNS))
    return Schema(topic, len(rows), table, drift)


def schema(topic: str, *, sample: int = 1000, partitions: list[int] | None = None,
           timeout: float = 30.0, client: Client | None = None, **read_args: Any) -> Schema:
    """Infer the payload schema of ``topic`` from its newest ``sample`` messages.

    :param read_args: more arguments for :func:`~diaspora_notebook.explore.read` (``start``,
        ``filter``, ``decoder``, ...)
    """
    from diaspora_notebook.explore.browse import read

    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
        raise DiasporaUsageError(f"sample must be a whole number from 1 to {MAX_SAMPLE:,}, "
                                 f"not {sample!r}", hint="e.g. schema(topic, sample=1000)")
    read_args.setdefault("direction", "backward")
    result = read(topic, partitions=partitions, limit=sample, timeout=timeout, client=client,
                  **read_args)
    return infer(topic, result.frame)
