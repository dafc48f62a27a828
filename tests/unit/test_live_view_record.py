"""A stopped live table keeps the grid's order and rows, and a paused stream's rate holds
(issue 24, defect 8): a LiveDataFrame on the in-memory source, no kernel, no broker."""

from __future__ import annotations

import json
import re
import time

import pytest

from diaspora_notebook.kafka.memory import MemoryTopics
from diaspora_notebook.stream import LiveDataFrame
from diaspora_notebook.stream.stats import RateMeter

T0 = 1_767_225_600_000


@pytest.fixture
def store():
    topics = MemoryTopics()
    topics.create("t", partitions=1)
    for i in range(40):
        topics.produce("t", json.dumps({"seq": i}).encode(), partition=0,
                       timestamp_ms=T0 + i * 10)
    return topics


def offsets_in(html: str) -> list[int]:
    """The offset column of the record's table, top to bottom."""
    head = re.search(r"<thead>(.*?)</thead>", html, re.S)
    assert head is not None
    names = re.findall(r"<th[^>]*>(.*?)</th>", head.group(1))
    at = names.index("offset")
    rows = re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>")[1], re.S)
    return [int(re.findall(r"<td>(.*?)</td>", row, re.S)[at]) for row in rows]


def test_a_stopped_table_keeps_the_grids_order_and_rows(store):
    pytest.importorskip("ipywidgets")
    from diaspora_notebook.notebook.widgets.live import RECORD_ROWS, LiveView

    live = LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                         start="earliest")
    view = None
    try:
        live.wait(40, timeout=10)
        view = LiveView(live, autorefresh=False)
        view.refresh()
        live.stop()
        view.refresh()
        body = view.record_body()
        shown = offsets_in(body)
        assert shown[0] == 39, "the record is not newest first, as the grid is"
        assert shown == sorted(shown, reverse=True)
        assert len(shown) == min(40, RECORD_ROWS) > 10
    finally:
        live.stop()
        if view is not None:
            view.close()


def test_the_rate_holds_while_paused_and_measures_again_after():
    meter = RateMeter(window=5.0)
    for second in range(5):
        meter.add(100 * second, now=1000.0 + second)
    running = meter.rate(now=1004.0)
    assert running == pytest.approx(100.0)
    meter.freeze(now=1004.0)
    assert meter.rate(now=1008.0) == running  # would have decayed to ~57/s
    assert meter.rate(now=1030.0) == running  # and to 0 after a whole window
    meter.thaw(400, now=1030.0)
    meter.add(450, now=1031.0)
    assert meter.rate(now=1031.0) == pytest.approx(50.0)  # the pause is in no window


def test_a_paused_stream_shows_the_rate_it_had(store):
    live = LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                         start="earliest")
    try:
        live.wait(40, timeout=10)
        live.pause()
        held = live.stats.rate
        time.sleep(0.3)
        assert live.stats.rate == held and live.stats.state == "paused"
        live.resume()
        assert live.stats.state == "running"
    finally:
        live.stop()
