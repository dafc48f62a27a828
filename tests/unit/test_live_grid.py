"""The live grid's data preparation (pure: no kernel, no Kafka; the real Perspective)."""

from __future__ import annotations

import pyarrow as pa
from perspective.widget import PerspectiveWidget

from diaspora_notebook.notebook.widgets.grid import arrow_ipc, displayable, shown_columns


def odd_types() -> pa.Table:
    return pa.table({
        "offset": pa.array([1, 2], pa.int64()),
        "timestamp": pa.array([1_767_225_600_123, None], pa.timestamp("ms", tz="UTC")),
        "tags": pa.array([["a", "b"], None]),
        "where": pa.array([{"x": 1}, {"x": 2}]),
        "raw": pa.array([b"\x00\x01", None], pa.binary()),
        "nothing": pa.array([None, None], pa.null()),
        "state": pa.array(["ok", "bad"]).dictionary_encode(),
        "big": pa.array([2**40, None], pa.int64()),
    })


def test_types_perspective_cannot_show_become_text():
    shown = displayable(odd_types())
    kinds = {f.name: f.type for f in shown.schema}
    assert kinds["tags"] == kinds["where"] == kinds["raw"] == kinds["nothing"] == pa.string()
    assert kinds["state"] == pa.string() and kinds["big"] == pa.int64()
    assert kinds["timestamp"] == pa.timestamp("ms", tz="UTC")
    assert shown.column("tags").to_pylist() == ['["a", "b"]', None]
    assert shown.column("where").to_pylist() == ['{"x": 1}', '{"x": 2}']


def test_perspective_loads_what_the_grid_sends():
    widget = PerspectiveWidget(arrow_ipc(displayable(odd_types())), limit=10)
    view = widget.table.view()
    try:
        rows = view.to_columns()
        assert rows["offset"] == [1, 2] and rows["state"] == ["ok", "bad"]
        assert rows["big"][0] == 2**40 and rows["tags"][0] == '["a", "b"]'
        widget.update(arrow_ipc(displayable(odd_types())))
        assert widget.table.size() == 4
    finally:
        view.delete()
        widget.delete()


def test_columns_leave_out_a_single_topic_and_keys_never_seen():
    names = ["topic", "partition", "offset", "timestamp", "key", "temp", "_error"]
    assert shown_columns(names, topics=1, keys_seen=False) == [
        "partition", "offset", "timestamp", "temp", "_error"]
    assert shown_columns(names, topics=2, keys_seen=True) == names
