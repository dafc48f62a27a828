"""What the live plot draws (issue 24, defect 7): a time window whatever the stream's max_rows,
one series per key (or per a ``by=`` column), extremes kept, readable time labels, a static
record with axes and a legend. A LiveDataFrame on the in-memory source: no kernel, no broker."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.memory import MemoryTopics
from diaspora_notebook.notebook.widgets.renderers import svg_chart, time_ticks
from diaspora_notebook.stream import LiveDataFrame
from diaspora_notebook.stream.plotdata import (
    PlotWindow,
    auto_window,
    decimate,
    extremes,
    parse_window,
)

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
SENSORS = 4


def stream(store: MemoryTopics, **options) -> LiveDataFrame:
    return LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                         start="earliest", **options)


def produce(store: MemoryTopics, first: int, count: int, *, per_second: int,
            spike_at: int | None = None) -> None:
    """Four sensors interleaved, each at its own level: sensor k reads 100 k + (i % 10)."""
    for i in range(first, first + count):
        sensor = i % SENSORS
        value = 100 * sensor + (i % 10) * 0.5
        if i == spike_at:
            value = 1e6
        store.produce("t", json.dumps({"celsius": value, "seq": i}).encode(),
                      key=f"s{sensor}".encode(), partition=0,
                      timestamp_ms=T0 + i * 1000 // per_second)


def test_a_fast_stream_is_plotted_over_its_time_window_one_series_per_key():
    """400 events/s for 90 s through a stream that holds 2,000 rows (5 s): the plot shows the
    last 60 s, one series per sensor (no zigzag), at most 2 points per slice, the peak kept."""
    store = MemoryTopics()
    store.create("t", partitions=1)
    rate, total = 400, 36_000
    live = stream(store, max_rows=2_000)
    try:
        plot = PlotWindow(live, y=["celsius"], window="60s", buckets=200)
        for first in range(0, total, 1_000):  # the plot reads at least as often as rows roll
            produce(store, first, 1_000, per_second=rate, spike_at=30_001)
            live.wait(first + 1_000, timeout=20)
            assert plot.update()
        series = plot.series()
        assert [s.name for s in series] == [f"s{k}" for k in range(SENSORS)]
        newest = T0 + (total - 1) * 1000 // rate
        assert plot.span() == (newest - 60_000, newest)
        for k, line in enumerate(series):
            assert len(line.y) <= 2 * 201 + 1  # two a slice (one partial at the start), the newest
            # each series holds its own sensor's values only: no zigzag between sensors
            assert ((line.y >= 100 * k) & ((line.y <= 100 * k + 5) | (line.y == 1e6))).all()
            assert line.t.min() >= newest - 60_000
            assert line.t.max() == T0 + (total - SENSORS + k) * 1000 // rate  # its newest
            assert np.all(np.diff(line.t) >= 0), "points out of time order"
            assert line.x.dtype == np.dtype("datetime64[ms]")
            # 60 s of it, not the stream's 5 s
            assert (line.t.max() - line.t.min()) / 1000 > 59
        spiky = series[1]  # event 30,001 is sensor 1's, 15 s before the newest
        assert spiky.y.max() == 1e6
        assert ((spiky.y <= 105) | (spiky.y == 1e6)).all()
        assert live.stats.rows == 2_000  # the stream itself held 5 s only
    finally:
        live.stop()


def test_the_default_window_follows_the_rate():
    assert auto_window(0) == 60
    assert auto_window(2_000) == 60
    assert auto_window(0.5) == 300  # 100 events at 0.5/s need 200 s: the next round window
    store = MemoryTopics()
    store.create("t", partitions=1)
    for i in range(100):  # one event every 2 s of event time
        store.produce("t", json.dumps({"v": i}).encode(), timestamp_ms=T0 + i * 2_000)
    live = stream(store)
    try:
        live.wait(100, timeout=10)
        plot = PlotWindow(live, y="v")
        plot.update()
        assert plot.window == 300
        (line,) = plot.series()
        assert len(line.y) == 100  # all of them: fewer than 2 per slice
        assert plot.describe() == "window 5 min"
    finally:
        live.stop()


@pytest.mark.parametrize(("text", "seconds"), [
    ("60s", 60), ("5min", 300), ("2m", 120), ("1h", 3600), ("500ms", 0.5), (30, 30),
    (dt.timedelta(minutes=2), 120), ("1.5 s", 1.5)])
def test_windows_people_write(text, seconds):
    assert parse_window(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-5s", 0, "5 parsecs", True])
def test_a_window_that_is_no_duration_says_how_to_write_one(bad):
    with pytest.raises(DiasporaUsageError) as info:
        parse_window(bad)
    assert "60s" in (info.value.hint or "")


def test_a_key_per_event_is_no_series_and_by_splits_on_a_column():
    store = MemoryTopics()
    store.create("t", partitions=1)
    for i in range(200):
        store.produce("t", json.dumps({"v": i % 7, "room": f"r{i % 2}", "w": -i}).encode(),
                      key=f"event-{i}".encode(), timestamp_ms=T0 + i * 10)
    live = stream(store)
    try:
        live.wait(200, timeout=10)
        by_key = PlotWindow(live, y=["v", "w"], window=60, buckets=10_000)  # 6 ms slices
        by_key.update()
        assert [s.name for s in by_key.series()] == ["v", "w"]
        assert sum(len(s.y) for s in by_key.series()) == 400  # no point lost in the merge
        by_room = PlotWindow(live, y=["v", "w"], by="room", window=60)
        by_room.update()
        assert [s.name for s in by_room.series()] == [
            "v \u00b7 r0", "v \u00b7 r1", "w \u00b7 r0", "w \u00b7 r1"]
        assert "one series per room" in by_room.describe()
        capped = PlotWindow(live, y="v", by="key", window=60, max_series=3)
        capped.update()
        assert len(capped.series()) == 3 and len(capped.hidden) == 197
        assert "197 more key value(s) not drawn" in capped.describe()
        against = PlotWindow(live, y="v", x="w", by=False, window=60)
        against.update()
        (line,) = against.series()
        assert np.all(np.diff(line.x) >= 0)  # an x column: drawn in x order
    finally:
        live.stop()


def test_extremes_keep_each_slices_min_and_max_in_time_order():
    t = np.arange(1_000, dtype=np.int64)
    y = np.sin(t / 30.0)
    y[500] = 7.0
    series = (t % 2).astype(np.int64)
    keep = extremes(series, t, y, 100)
    assert len(keep) <= 2 * 10 * 2 + 2
    assert 500 in keep
    assert np.all(np.diff(t[keep]) >= 0)
    # reducing again changes nothing: an update may re-reduce what it kept
    again = extremes(series[keep], t[keep], y[keep], 100)
    assert len(again) == len(keep)


def test_decimate_keeps_peaks():
    x = np.arange(100_000).astype("datetime64[ms]")
    y = np.sin(np.arange(100_000) / 500.0)
    y[50_123] = 9.0
    xs, ys = decimate(x, y, 1_000)
    assert len(xs) == 2_000 and ys.max() == 9.0


def test_time_labels_are_clock_times():
    ticks, fmt = time_ticks(T0, T0 + 60_000)
    assert fmt == "%H:%M:%S"
    assert (ticks[1] - ticks[0]) == 10_000 and ticks[0] == T0
    _, fine = time_ticks(T0, T0 + 800)
    assert fine == "%H:%M:%S.%f"


def test_the_record_has_axes_labels_a_legend_and_the_window():
    t = np.arange(T0, T0 + 60_000, 500, dtype=np.float64)
    svg = svg_chart([("s0", t.tolist(), np.sin(t / 5e3).tolist()),
                     ("s1", t.tolist(), (np.cos(t / 5e3) + 3).tolist())],
                    x_range=(T0, T0 + 60_000), title="Live plot of celsius",
                    note="window 1 min", y_label="celsius")
    assert svg.count("<polyline") == 2
    assert "\u2014 s0</text>" in svg and "\u2014 s1</text>" in svg  # the legend
    assert "event time (UTC)" in svg and ">celsius</text>" in svg  # axis labels
    clock = re.findall(r">(\d\d:\d\d:\d\d)</text>", svg)
    assert clock[:3] == ["00:00:00", "00:00:10", "00:00:20"]
    numbers = re.findall(r'text-anchor="end">(-?[\d.,]+)</text>', svg)
    assert len(numbers) >= 4  # y ticks, not just min and max
    assert "Live plot of celsius" in svg and "window 1 min" in svg
