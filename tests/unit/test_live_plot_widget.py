"""The live plot's widgets (issue 24, defect 7) over the dummy comm: a line per key, the x axis
on the window with clock-time ticks, bounded points, and a stopped plot that leaves a readable
chart (axes, legend, the window). A LiveDataFrame on the in-memory source."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from diaspora_notebook.kafka.memory import MemoryTopics
from diaspora_notebook.stream import LiveDataFrame

pytestmark = pytest.mark.usefixtures("dummy_comm")
T0 = 1_767_225_600_000


@pytest.fixture
def live():
    store = MemoryTopics()
    store.create("t", partitions=1)
    for i in range(4_000):  # four sensors, 100 events/s, 40 s of event time
        store.produce("t", json.dumps({"celsius": 10 * (i % 4) + (i % 9) / 10}).encode(),
                      key=f"sensor-{i % 4}".encode(), timestamp_ms=T0 + i * 10)
    stream = LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                           start="earliest", max_rows=1_000)
    stream.wait(4_000, timeout=20)
    yield stream
    stream.stop()


def test_the_bqplot_chart_draws_a_line_per_key_over_the_window(live):
    pytest.importorskip("bqplot")
    from diaspora_notebook.notebook.widgets.chart import LiveChart

    chart = LiveChart(live, y=["celsius"], window="20s", buckets=100, autorefresh=False)
    try:
        assert sorted(chart.lines) == [f"sensor-{k}" for k in range(4)]
        for k in range(4):
            line = chart.lines[f"sensor-{k}"]
            assert line.labels == [f"sensor-{k}"]
            assert f"\u2014 sensor-{k}</span>" in chart.legend.value
            assert len(line.y) <= 2 * 101 + 1
            assert ((line.y >= 10 * k) & (line.y < 10 * k + 1)).all()  # no zigzag
        assert len(chart.figure.marks) == 4
        newest = np.datetime64(T0 + 3_999 * 10, "ms")
        assert np.datetime64(chart.x_scale.max, "ms") == newest
        assert np.datetime64(chart.x_scale.min, "ms") == newest - np.timedelta64(20_000, "ms")
        assert chart.x_axis.tick_format == "%H:%M:%S"
        assert "window 20 s, one series per key" in chart.note.value
        live.stop()
        chart.refresh()
        record = chart.finished_html or ""
        assert record.count("<polyline") == 4
        assert all(f"\u2014 sensor-{k}</text>" in record for k in range(4))  # the legend
        assert "event time (UTC)" in record
        clock = re.findall(r">(\d\d:\d\d:\d\d)</text>", record)
        assert clock[:2] == ["00:00:20", "00:00:25"]  # the last 20 s, every 5 s
    finally:
        chart.close()


def test_the_svg_plot_shows_the_same_chart(live):
    pytest.importorskip("ipywidgets")
    from diaspora_notebook.notebook.widgets.live import LivePlot

    plot = LivePlot(live, y="celsius", window=20, autorefresh=False)
    try:
        svg = plot.image.value
        assert svg.count("<polyline") == 4 and "\u2014 sensor-3</text>" in svg
        assert "window 20 s" in svg
    finally:
        plot.close()
