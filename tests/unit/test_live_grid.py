"""The live grid's data preparation (pure: no kernel, no Kafka; the real Perspective)."""

from __future__ import annotations

from typing import Any

import numpy as np
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


def grid_columns(grid: Any) -> dict[str, list[Any]]:
    """What the grid's (kernel-side) table holds; the browser's replica is kept equal to it."""
    view = grid.widget.table.view()
    try:
        return view.to_columns()
    finally:
        view.delete()


class _Window:
    """What a ``LiveGrid`` reads of a ``LiveFeed``, over a real ``LiveFrame`` (no consumer):
    the test adds the stream's records; ``sample`` is what ``sample_table`` found."""

    topics = ["t"]

    def __init__(self, sample: list[tuple[int, int]], mode: str = "append",
                 key: bytes | None = None) -> None:
        from diaspora_notebook.stream.frame import LiveFrame

        self.key = key
        self.frame = LiveFrame(max_rows=10_000, mode=mode)
        self._sample = LiveFrame(max_rows=10_000, mode=mode)
        for partition, offset in sample:
            self._sample.ingest_columns("t", partition, np.array([offset], np.int64),
                                        np.array([0], np.int64), [key], [b'{"v": %d}' % offset])

    def add(self, partition: int, offsets: range) -> None:
        self.frame.ingest_columns("t", partition, np.array(offsets, np.int64),
                                  np.zeros(len(offsets), np.int64), [self.key] * len(offsets),
                                  [b'{"v": %d}' % o for o in offsets])

    @property
    def mode(self) -> str:
        return self.frame.mode

    @property
    def max_rows(self) -> int:
        return self.frame.max_rows

    @property
    def events(self) -> int:
        return self.frame.events

    def rows_since(self, seen: int, most: int) -> tuple[pa.Table, int]:
        return self.frame.rows_since(seen, most)

    def sample_table(self) -> pa.Table:
        return self._sample.rows_since(0, 10_000)[0]


def test_a_grid_on_an_empty_window_shows_the_sampled_records_once():
    """The topics' newest records are drawn before the first events; a stream that started
    before them reads them too, and the grid must not show them twice."""
    from diaspora_notebook.notebook.widgets.grid import LiveGrid

    window = _Window(sample=[(0, 4), (1, 9)])
    grid = LiveGrid(window)  # type: ignore[arg-type]
    try:
        def shown() -> list[tuple[int, int]]:
            rows = grid_columns(grid)
            return sorted(zip(rows["partition"], rows["offset"], strict=True))

        assert grid.sampled and shown() == [(0, 4), (1, 9)]
        window.add(0, range(3, 6))  # the stream started before partition 0's sampled record
        assert grid.refresh() is False
        assert shown() == [(0, 3), (0, 4), (0, 5), (1, 9)]
        window.add(1, range(10, 12))  # it started after partition 1's: nothing to drop
        window.add(0, range(6, 7))
        assert grid.refresh() is False
        assert shown() == [(0, 3), (0, 4), (0, 5), (0, 6), (1, 9), (1, 10), (1, 11)]
        assert grid.reloads == 0
    finally:
        grid.close()


def test_a_sampled_record_pushed_out_of_the_grid_is_shown_when_the_stream_reads_it():
    """A stream from the earliest offsets reaches the sampled (newest) record after thousands
    of older ones; by then they have pushed it out of the grid, and the stream's copy must
    be shown, not dropped."""
    from diaspora_notebook.notebook.widgets.grid import LiveGrid

    window = _Window(sample=[(0, 9)])
    grid = LiveGrid(window, limit=5)  # type: ignore[arg-type]
    try:
        window.add(0, range(0, 6))
        grid.refresh()
        window.add(0, range(6, 10))
        grid.refresh()
        assert sorted(grid_columns(grid)["offset"]) == [5, 6, 7, 8, 9]
    finally:
        grid.close()


def test_a_keyed_grid_ends_with_the_newest_record_of_each_key():
    """By key, a stream from the earliest offsets rewrites the sampled record's key with older
    values first; the sampled record read again must land too (it is the key's newest)."""
    from diaspora_notebook.notebook.widgets.grid import LiveGrid

    window = _Window(sample=[(0, 9)], mode="latest_by_key", key=b"lab-1")
    grid = LiveGrid(window)  # type: ignore[arg-type]
    try:
        window.add(0, range(0, 5))
        grid.refresh()
        window.add(0, range(5, 10))
        grid.refresh()
        rows = grid_columns(grid)
        assert rows["key"] == ["lab-1"] and rows["offset"] == [9] and rows["v"] == [9]
    finally:
        grid.close()
