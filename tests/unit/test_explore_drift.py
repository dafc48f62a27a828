"""Reads and schemas across a schema change, on the in-memory source (issue 24, defects 2, 3
and the explorer's smaller ones): only the field that changed changes type, the schema is
inferred from the chosen range sampled across it, with the change found where it is."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from diaspora_notebook import explore
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


def test_the_schema_is_sampled_across_the_range_and_finds_the_change_where_it_is():
    n = 30_000
    client = MemoryClient(drifting(n, partitions=3))
    found = explore.schema("d", sample=600, client=client, engine="memory")
    fields = found.fields.set_index("field")
    assert found.sampled <= 700 and set(found.ranges) == {0, 1, 2}
    assert fields.loc["value.seq", "types"] == "int"
    assert fields.loc["value.temp", "types"] == "float, string"
    assert fields.loc["value.tags", "types"] == "list"
    assert fields.loc["value.tags", "examples"] == ['["a", "b"]']
    [change] = [d for d in found.drift if d.field == "value.temp"]
    assert change.change == "float -> string"
    # the first text temp is event n // 2, in partition (n // 2) % 3 at offset (n // 2) // 3
    assert (change.partition, change.offset) in {(p, -(-(n // 2 - p) // 3)) for p in range(3)}
    assert "value.temp float -> string" in repr(found)


def test_the_schema_reads_the_range_chosen():
    client = MemoryClient(drifting(4000))
    late = explore.schema("d", sample=200, start={0: 3000}, client=client, engine="memory")
    assert late.ranges == {0: (3000, 4000)} and late.drift == []
    assert late.fields.set_index("field").loc["value.temp", "types"] == "string"
    early = explore.schema("d", sample=200, start="earliest", stop={0: 1000}, client=client,
                           engine="memory")
    assert early.fields.set_index("field").loc["value.temp", "types"] == "float"


def test_a_bare_field_name_in_a_filter_suggests_the_payload_field():
    client = MemoryClient(drifting(20))
    with pytest.raises(Exception, match=r"did you mean `?value\.seq"):
        explore.read("d", client=client, engine="memory", start="earliest", filter="seq > 3")


@pytest.fixture
def explorer(monkeypatch, dummy_comm):
    from types import SimpleNamespace

    import diaspora_notebook.explore.state as state_module
    from diaspora_notebook.notebook.widgets.explorer import Explorer

    monkeypatch.setattr(state_module, "describe_topic", lambda topic, **_: SimpleNamespace(
        partition_details=[SimpleNamespace(partition=0)]))
    ui = Explorer("d", client=MemoryClient(drifting(40)), page_size=10, engine="memory")
    ui.state.wait()
    yield ui
    ui.close()


def test_the_explorer_page_is_newest_first_on_the_grid_with_json_values(explorer):
    ui = explorer
    frame = ui.state.page.frame
    assert list(frame["offset"]) == list(range(39, 29, -1))  # newest first
    table = ui.grid.table.view().to_arrow()
    import pyarrow as pa

    shown = pa.ipc.open_stream(table).read_all()
    assert shown.column("value.tags").to_pylist()[0] == '["a", "b"]'
    assert shown.column("value").to_pylist()[0].startswith('{"seq": ')
    assert "{'seq'" not in ui.table.value and "+00:00" not in ui.table.value
    assert ui.grid.sort == [["timestamp", "desc"], ["offset", "desc"]]
    assert ui.table_slot.children == (ui.grid,)  # the grid, beside the detail
    ui.fields.value = ("value.seq",)
    ui.buttons["load"].click()
    ui.state.wait()
    assert "value" not in ui.grid.columns and "value.seq" in ui.grid.columns
    ui.row.value = 0
    ui.state.wait()
    assert "&quot;seq&quot;: 39" in ui.detail.value


def test_the_explorer_says_why_a_page_is_empty_and_what_it_exported(explorer, tmp_path):
    ui = explorer
    ui.buttons["next"].click()
    ui.state.wait()
    assert "no events after offset 39 in partition 0 yet" in ui.message.value
    ui.start.value, ui.time.value = "time", "2099-01-01T00:00"
    ui.buttons["load"].click()
    ui.state.wait()
    assert "no events at or after 2099-01-01T00:00 yet" in ui.message.value
    ui.start.value = "newest"
    ui.buttons["load"].click()
    ui.state.wait()
    ui.export_path.value = str(tmp_path / "page.parquet")
    ui.buttons["export"].click()
    assert "10 row(s), this page only" in ui.message.value
    ui.export_what.value = "range"
    ui.export_path.value = str(tmp_path / "all.parquet")
    ui.buttons["export"].click()
    assert "every message" in ui.message.value
    assert len(pd.read_parquet(tmp_path / "all.parquet")) == 40
    blocked = tmp_path / "a-file"  # not a folder (as root, no folder is unwritable)
    blocked.write_text("")
    ui.export_path.value = str(blocked / "sub" / "x.parquet")
    ui.buttons["export"].click()
    assert "cannot write" in ui.message.value and "Traceback" not in ui.message.value
    assert "FileNotFoundError" not in ui.message.value


def test_the_schema_tab_is_inferred_from_the_range_chosen(explorer):
    ui = explorer
    ui.start.value, ui.offset.value = "offset", 30
    ui.buttons["schema"].click()
    ui.state.wait()
    assert ui.state.schema.ranges == {0: (30, 40)}
    assert "float, string" not in ui.schema_box.value and "string" in ui.schema_box.value


def test_a_click_on_a_row_of_the_grid_opens_its_detail(explorer):
    """The grid's loader sends ``diaspora-click`` with the clicked row's partition and offset
    (Perspective's widget sends no click back); the detail beside the table opens."""
    from diaspora_notebook.notebook.widgets.grid import shared_esm

    assert "perspective-click" in shared_esm() and "diaspora-click" in shared_esm()
    ui = explorer
    ui.grid._handle_custom_msg({"type": "diaspora-click", "partition": 0, "offset": 33}, [])
    ui.state.wait()
    assert ui.row.value == 6  # newest first: offset 39 is row 0
    assert "&quot;seq&quot;: 33" in ui.detail.value
    ui.grid._handle_custom_msg({"type": "diaspora-click", "partition": 0, "offset": 1}, [])
    ui.grid._handle_custom_msg({"type": "connect-or-other", "offset": "x"}, [])  # ignored
    assert ui.row.value == 6
