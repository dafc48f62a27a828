"""Reads and schemas across a schema change, on the in-memory source (issue 24, defects 2, 3
and the explorer's smaller ones): only the field that changed changes type, the schema is
inferred from the chosen range sampled across it, with the change found where it is."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from diaspora_notebook import explore
from diaspora_notebook.kafka.arrow import concat_columns
from diaspora_notebook.kafka.memory import MemoryTopics

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


class MemoryClient:
    """A stand-in for a logged-in ``Client``: its connection settings are the memory topics."""

    def __init__(self, topics: MemoryTopics) -> None:
        self.topics = topics

    def connection_config(self, library: str) -> dict:
        return {"topics": self.topics}


def drifting(n: int, partitions: int = 1) -> MemoryTopics:
    """Topic "d": ``n`` events, ``temp`` a float for the first half and text after it."""
    topics = MemoryTopics()
    topics.create("d", partitions=partitions)
    for i in range(n):
        temp = 20.5 + i % 10 if i < n // 2 else f"warm-{i % 3}"
        payload = {"seq": i, "temp": temp, "tags": ["a", "b"], "deep": {"x": i % 7}}
        topics.produce("d", json.dumps(payload).encode(), key=f"s{i % 4}".encode(),
                       partition=i % partitions, timestamp_ms=T0 + i * 10)
    return topics


def test_only_the_column_that_changed_type_becomes_text_when_tables_are_joined():
    before = pa.table({"seq": [1, 2], "temp": [20.5, 21.5], "ok": [True, False]})
    after = pa.table({"seq": [3], "temp": ["warm"], "late": [7]})
    joined = concat_columns([before, after])
    assert joined.schema.field("seq").type == pa.int64()
    assert joined.schema.field("ok").type == pa.bool_()
    assert joined.schema.field("late").type == pa.int64()
    assert joined.column("temp").to_pylist() == ["20.5", "21.5", "warm"]
    assert joined.column("late").to_pylist() == [None, None, 7]


@pytest.mark.parametrize("decoder", [None, json.loads])
def test_a_read_across_a_type_change_keeps_the_other_columns_types(decoder):
    client = MemoryClient(drifting(300))
    page = explore.read("d", client=client, engine="memory", start={0: 100}, limit=100,
                        decoder=decoder)
    frame = page.frame
    assert len(frame) == 100
    assert pd.api.types.is_integer_dtype(frame["value.seq"])
    assert pd.api.types.is_integer_dtype(frame["value.deep.x"])
    assert set(frame["value.temp"].map(type)) == {str}  # the one field that drifted
    hot = explore.read("d", client=client, engine="memory", start={0: 100}, limit=100,
                       decoder=decoder, filter="value.seq < 1000 and value.deep.x > 3",
                       stop={0: 200})
    assert len(hot.frame) == sum(i % 7 > 3 for i in range(100, 200))
