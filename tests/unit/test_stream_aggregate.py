"""Live analytics (stream/aggregate.py, windows.py, alerts.py) against a pandas oracle.

The oracle applies the window rules of :mod:`diaspora_notebook.stream.windows` one event at a
time in plain Python (which windows an event is in, on time or late against the watermark
before it), then aggregates the on-time events with a pandas ``groupby`` (tumbling windows by
``dt.floor``, as ``resample`` labels them). The aggregate is fed the same events, in the same
order, in batches of any size, through the stream's own window (``LiveFrame``: the decoder
the live stream uses), and must agree for any sequence, out-of-order and late events included.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.memory import MemoryTopics
from diaspora_notebook.stream import LiveDataFrame
from diaspora_notebook.stream.aggstate import AggregateError, AggregateState, AggSpec
from diaspora_notebook.stream.frame import LiveFrame
from diaspora_notebook.stream.windows import Windows

BASE = 1_700_000_000_000  # ms
AGGS = {"n": ("v", "count"), "rows": (None, "size"), "total": ("v", "sum"),
        "lo": ("v", "min"), "hi": ("v", "max"), "mean": ("v", "mean"), "sd": ("v", "std"),
        "var": ("v", "var"), "first": ("v", "first"), "last": ("v", "last"),
        "distinct": ("v", "nunique"), "median": ("v", "median"), "p90": ("v", "p90")}
PANDAS = {"count": "count", "sum": "sum", "min": "min", "max": "max", "mean": "mean",
          "std": "std", "var": "var", "first": "first", "last": "last", "nunique": "nunique",
          "median": "median"}


def specs() -> list[AggSpec]:
    return [AggSpec.parse(name, spec) for name, spec in AGGS.items()]


def feed(events: list[tuple[int, str | None, float | None]], windows: Windows | None,
         batches: list[int], *, by: tuple[str, ...] = ("s",)) -> AggregateState:
    """The events through a LiveFrame (the stream's decoder) into an AggregateState."""
    state = AggregateState(list(by), specs(), windows)
    frame = LiveFrame(max_rows=1_000_000)
    i = 0
    cuts = [c for c in batches if c > 0] or [len(events)]
    while i < len(events):
        step = cuts[i % len(cuts)]
        part = events[i:i + step]
        offsets = np.arange(i, i + len(part), dtype=np.int64)
        stamps = np.array([BASE + t for t, _, _ in part], np.int64)
        values = [json.dumps({"s": s, "v": v}).encode() for _, s, v in part]
        chunk = frame.ingest_columns("t", 0, offsets, stamps, [None] * len(part), values)
        assert chunk is not None
        state.feed(frame.decoded(chunk))
        state.close_due()
        i += len(part)
    return state


def oracle(events: list[tuple[int, str | None, float | None]], windows: Windows
           ) -> tuple[pd.DataFrame, set[tuple[int, str | None]], dict[tuple[int, str | None], int]]:
    """The expected rows (every window), the closed windows and late counts per window."""
    watermark = -math.inf
    kept = []
    late: dict[tuple[int, str | None], int] = {}
    for t, s, v in events:
        t = BASE + t
        k_hi = t // int(windows.every)
        for k in range(k_hi, k_hi - windows.hops - 1, -1):
            start = k * int(windows.every)
            if not start <= t < start + int(windows.size):
                continue
            if start + windows.size + windows.grace > watermark:
                kept.append({"k": k, "s": s, "v": v, "t": t})
            else:
                late[(k, s)] = late.get((k, s), 0) + 1
        watermark = max(watermark, t)
    closed = {(r["k"], r["s"]) for r in kept
              if r["k"] * windows.every + windows.size + windows.grace <= watermark}
    df = pd.DataFrame(kept, columns=["k", "s", "v", "t"])
    df["v"] = df["v"].astype(float)
    if windows.tumbling:  # the resample way: a window is the floor of the time
        floor = pd.to_datetime(df["t"], unit="ms", utc=True).dt.floor(f"{int(windows.size)}ms")
        df["k"] = (floor.dt.as_unit("ms").astype("int64") // int(windows.size)).astype("int64")
    return expected_frame(df, ["k", "s"]), closed, late


def expected_frame(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = df.groupby(keys, dropna=False, sort=True)["v"]
    out = pd.DataFrame({
        name: (grouped.size() if func == "size" else
               grouped.quantile(AggSpec.parse(name, (col, func)).q) if func.startswith("p") else
               grouped.agg(PANDAS[func]))
        for name, (col, func) in AGGS.items()})
    return out.reset_index()


def got_frame(state: AggregateState, *, closed_only: bool = False) -> pd.DataFrame:
    rows = [dict(r) for r in state.closed.values()]
    if not closed_only:
        rows += state.open_rows()
    df = pd.DataFrame(rows)
    if not len(df):
        return df
    if state.windows is not None:
        df["k"] = (df["window_start"] // state.windows.every).astype("int64")
    if "s" in df.columns:  # a None key stays None (pandas would make it NaN)
        df["s"] = pd.Series([r.get("s") for r in rows], dtype=object)
    return df


def assert_same(got: pd.DataFrame, want: pd.DataFrame, keys: list[str]) -> None:
    assert len(got) == len(want), (got, want)
    if not len(want):
        return
    got, want = got.copy(), want.copy()
    for key in keys:  # a missing key is None on both sides (pandas' groupby makes it NaN)
        got[key] = pd.Series([None if v is None or v != v else v for v in got[key]], dtype=object)
        want[key] = pd.Series([None if v is None or v != v else v for v in want[key]],
                              dtype=object)
    got = got.sort_values(keys, key=lambda c: c.astype(str)).reset_index(drop=True)
    want = want.sort_values(keys, key=lambda c: c.astype(str)).reset_index(drop=True)
    for key in keys:
        assert got[key].tolist() == want[key].tolist()
    for name in AGGS:
        a = pd.to_numeric(got[name], errors="coerce").astype(float).to_numpy()
        b = pd.to_numeric(want[name], errors="coerce").astype(float).to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-6, equal_nan=True, err_msg=name)


values = st.one_of(st.none(), st.integers(-1000, 1000).map(float),
                   st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False))
event = st.tuples(st.integers(0, 60_000), st.sampled_from(["a", "b", "c", None]), values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event, max_size=80),
       size=st.sampled_from([1_000, 5_000, 10_000]),
       hop=st.sampled_from([None, 1, 2, 5]),
       grace=st.sampled_from([0, 500, 5_000]),
       batches=st.lists(st.integers(1, 20), min_size=1, max_size=4))
def test_windows_equal_the_pandas_oracle(events: list, size: int, hop: int | None, grace: int,
                                         batches: list[int]) -> None:
    every = None if hop is None else size // hop
    windows = Windows.make(f"{size}ms", None if every is None else f"{every}ms",
                           grace=f"{grace}ms")
    state = feed(events, windows, batches)
    want, closed, late = oracle(events, windows)
    got = got_frame(state)
    assert_same(got, want, ["k", "s"])
    # closed: exactly the windows the watermark passed, each once
    closed_got = got_frame(state, closed_only=True)
    pairs = list(zip(closed_got["k"], closed_got["s"], strict=True)) if len(closed_got) else []
    assert len(pairs) == len(set(pairs))
    assert set(pairs) == closed
    assert state.closed_total == len(closed)
    # late events: counted on their (closed) window, never merged
    for (k, s), n in late.items():
        row = state.closed.get((k, (s,)))
        if row is not None:
            assert row["late"] == n
    on_rows = sum(late.get((k, s), 0) for k, s in closed)
    assert on_rows + state.late_dropped == sum(late.values())


@settings(max_examples=60, deadline=None)
@given(events=st.lists(event, max_size=60),
       batches=st.lists(st.integers(1, 20), min_size=1, max_size=4))
def test_running_groupby_equals_pandas(events: list, batches: list[int]) -> None:
    state = feed(events, None, batches)
    df = pd.DataFrame([{"s": s, "v": v} for _, s, v in events], columns=["s", "v"])
    df["v"] = df["v"].astype(float)
    assert_same(got_frame(state), expected_frame(df, ["s"]), ["s"])
    assert state.closed_total == 0


@settings(max_examples=40, deadline=None)
@given(events=st.lists(st.tuples(st.floats(0, 100, allow_nan=False), st.sampled_from("ab"),
                                 st.integers(0, 9)), max_size=50),
       size=st.sampled_from([1, 2.5, 10]))
def test_numeric_field_windows(events: list, size: float) -> None:
    """on=<numeric field>: windows in the field's own units, no grace."""
    windows = Windows.make(size, on="x")
    state = AggregateState(["s"], [AggSpec.parse("n", "size"), AggSpec.parse("t", ("v", "sum"))],
                           windows)
    frame = LiveFrame(max_rows=100_000)
    if events:
        values = [json.dumps({"x": x, "s": s, "v": v}).encode() for x, s, v in events]
        chunk = frame.ingest_columns("t", 0, np.arange(len(events), dtype=np.int64),
                                     np.full(len(events), BASE, np.int64),
                                     [None] * len(events), values)
        assert chunk is not None
        state.feed(frame.decoded(chunk))
    watermark = -math.inf
    kept = []
    for x, s, v in events:
        k = math.floor(x / size)
        if (k + 1) * size > watermark:
            kept.append((k, s, v))
        watermark = max(watermark, x)
    want = pd.DataFrame(kept, columns=["k", "s", "v"]).groupby(["k", "s"])["v"].agg(
        ["size", "sum"])
    rows = state.open_rows() + [dict(r) for r in state.closed.values()]
    got = {(round(r["window_start"] / size), r["s"]): (r["n"], r["t"]) for r in rows}
    assert got == {key: (int(a), float(b)) for key, (a, b) in want.iterrows()}


def test_key_space_explosion_is_a_clear_error() -> None:
    state = AggregateState(["s"], [AggSpec.parse("n", "size")], None, max_groups=10)
    frame = LiveFrame()
    values = [json.dumps({"s": i}).encode() for i in range(11)]
    chunk = frame.ingest_columns("t", 0, np.arange(11, dtype=np.int64),
                                 np.full(11, BASE, np.int64), [None] * 11, values)
    assert chunk is not None
    with pytest.raises(AggregateError, match="max_groups=10"):
        state.feed(frame.decoded(chunk))


def test_bad_specs_are_usage_errors() -> None:
    with pytest.raises(DiasporaUsageError, match="unknown function"):
        AggSpec.parse("x", ("v", "avg"))
    with pytest.raises(DiasporaUsageError, match="needs a column"):
        AggSpec.parse("x", (None, "mean"))
    with pytest.raises(DiasporaUsageError, match="every"):
        Windows.make("5s", "10s")
    assert AggSpec.parse("x", ("v", "p99")).q == pytest.approx(0.99)
    assert AggSpec.parse("x", ("v", ("quantile", 0.25))).q == 0.25


def test_state_memory_for_1000_keys_by_60_windows_is_bounded() -> None:
    """1,000 keys x 60 open windows of a mean: the state's arrays and maps stay small."""
    import tracemalloc

    windows = Windows.make("1s", grace="60s")
    frame = LiveFrame(max_rows=1_000)
    tracemalloc.start()
    state = AggregateState(["s"], [AggSpec.parse("m", ("v", "mean")), AggSpec.parse("n", "size")],
                           windows)
    for w in range(60):
        values = [json.dumps({"s": f"sensor-{i}", "v": i}).encode() for i in range(1_000)]
        chunk = frame.ingest_columns("t", 0, np.arange(w * 1000, (w + 1) * 1000, dtype=np.int64),
                                     np.full(1_000, BASE + w * 1000, np.int64), [None] * 1_000,
                                     values)
        assert chunk is not None
        state.feed(frame.decoded(chunk))
        state.close_due()
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert state.open_groups == 60_000
    assert current < 100 * 2**20, current


# --- through a LiveDataFrame on the in-memory source ------------------------------------------


def make_live(topics: MemoryTopics, **kwargs: object) -> LiveDataFrame:
    return LiveDataFrame("t", engine="memory", consumer_config={"topics": topics},
                         start="earliest", **kwargs)  # type: ignore[arg-type]


def produce(topics: MemoryTopics, events: list[tuple[int, str | None, float | None]]) -> None:
    for t, s, v in events:
        topics.produce("t", json.dumps({"s": s, "v": v}).encode(), timestamp_ms=BASE + t)


def test_live_window_final_current_alert_and_to_topic() -> None:
    topics = MemoryTopics()
    topics.create("t", 1)
    topics.create("out", 1)
    live = make_live(topics)
    try:
        agg = live.window("1s", by="s", grace="500ms").agg(**AGGS)
        closed_batches: list[pd.DataFrame] = []
        agg.final().on_update(closed_batches.append)
        fired: list[pd.Series] = []
        alert = agg.when("mean > 30", fired.append)
        writer = agg.to_topic("out")
        events = [(0, "a", 10.0), (100, "b", 50.0), (900, "a", 40.0), (1_200, "a", 20.0),
                  (1_700, "a", 35.0), (1_600, "b", 1.0),  # b: 1.0 goes into [1000, 2000)
                  (400, "a", 99.0),  # late for [0, 1000): the watermark is 1700 > 1000 + 500
                  (2_600, "a", 60.0), (4_000, "b", 5.0)]
        produce(topics, events)
        agg.wait(len(events), timeout=10)
        windows = Windows.make("1s", grace="500ms")
        want, closed, _late = oracle(events, windows)
        assert_same(got_frame(agg._core.state), want, ["k", "s"])
        final = agg.final().df
        starts = [round(ts.timestamp() * 1000) // 1000 for ts in final["window_start"]]
        assert set(zip(starts, final["s"], strict=True)) == closed
        assert final["closed"].all()
        assert int(final.loc[(final["s"] == "a")].iloc[0]["late"]) == 1  # the 99.0
        assert agg.late == 1
        assert sum(len(b) for b in closed_batches) == len(closed)  # each closed window once
        # a crosses 30 in [0,1s) (mean 25 -> no; then 40: mean 25 -> no) ... per key tracks
        assert alert.fired == len(fired) and fired
        assert all(row["mean"] > 30 for row in fired)
        writer.flush(10)
        deadline = time.monotonic() + 10
        while writer.written < len(closed) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.errors == 0, writer.last_error
        reader = LiveDataFrame("out", engine="memory", consumer_config={"topics": topics},
                               start="earliest")
        reader.wait(len(closed), timeout=10)
        got = reader.df
        assert len(got) == len(closed)
        assert set(got["key"]) <= {"a", "b"}
        assert {"window_start", "window_end", "mean"} <= set(got.columns)
        reader.stop()
    finally:
        live.stop()


def test_raw_alert_fires_once_per_crossing() -> None:
    topics = MemoryTopics()
    topics.create("t", 1)
    live = make_live(topics)
    try:
        fired: list[pd.Series] = []
        alert = live.when("value.v > 30", fired.append, by="s")
        produce(topics, [(0, "a", 10.0), (1, "a", 31.0), (2, "a", 40.0), (3, "b", 50.0),
                         (4, "a", 5.0), (5, "a", 33.0)])
        live.wait(6, timeout=10)
        deadline = time.monotonic() + 5
        while alert.fired < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [(r["s"], r["v"]) for r in fired] == [("a", 31.0), ("b", 50.0), ("a", 33.0)]
        with pytest.raises(DiasporaUsageError):
            live.when("__import__('os')", print)
    finally:
        live.stop()


def test_aggregate_replays_held_rows_and_feeds_views() -> None:
    """An aggregate made after events arrived starts from the rows the stream holds; its
    rows_since/tail/sample_table satisfy the LiveFeed contract (one row per key and window)."""
    topics = MemoryTopics()
    topics.create("t", 2)
    for i in range(50):
        topics.produce("t", json.dumps({"s": f"s{i % 4}", "v": i}).encode(),
                       timestamp_ms=BASE + i * 100, partition=i % 2)
    live = make_live(topics, max_rows=30)
    try:
        live.wait(50, timeout=10)
        agg = live.groupby("s").agg(n="size", total=("v", "sum"))
        agg.wait(timeout=10)
        assert agg.counts["missed_before_start"] == 20
        assert int(agg.df["n"].sum()) == 30
        table, seen = agg.rows_since(0, 100)
        assert table.num_rows == 4 and seen >= 4
        assert {"key", "timestamp", "s", "n", "total"} <= set(table.column_names)
        topics.produce("t", json.dumps({"s": "s0", "v": 1000}).encode(), timestamp_ms=BASE)
        agg.wait(31, timeout=10)
        table2, seen2 = agg.rows_since(seen, 100)
        assert table2.num_rows == 1 and table2.column("s").to_pylist() == ["s0"]
        assert seen2 > seen
        assert agg.sample_table().num_rows == 0
        assert agg.mode == "latest_by_key" and agg.running
        agg.stop()
        assert not agg.running
    finally:
        live.stop()


def test_the_live_grid_and_chart_show_an_aggregate(dummy_comm: object) -> None:
    """The grid (unchanged but for its sort on the columns a table has) and the chart read an
    aggregate through the LiveFeed contract: one grid row per key and window, replaced on
    update; one line per key."""
    pytest.importorskip("perspective")
    from diaspora_notebook.notebook.widgets.grid import LiveGrid

    topics = MemoryTopics()
    topics.create("t", 1)
    live = make_live(topics)
    try:
        agg = live.window("1s", by="s").agg(mean=("v", "mean"), n="size")
        grid = LiveGrid(agg)  # type: ignore[arg-type]
        produce(topics, [(0, "a", 1.0), (10, "b", 2.0)])
        agg.wait(2, timeout=10)
        grid.refresh()
        produce(topics, [(20, "a", 3.0), (1_500, "a", 5.0)])
        agg.wait(4, timeout=10)
        grid.refresh()
        view = grid.widget.table.view()
        try:
            rows = view.to_columns()
        finally:
            view.delete()
        got = sorted(zip(rows["s"], rows["mean"], rows["n"], strict=True))
        assert got == [("a", 2.0, 2), ("a", 5.0, 1), ("b", 2.0, 1)]
        assert grid.columns[:2] == ["timestamp", "key"]
        grid.close()
        pytest.importorskip("bqplot")
        from diaspora_notebook.notebook.widgets.chart import LiveChart

        chart = LiveChart(agg.final(), y=["mean"], by="s", autorefresh=False)
        produce(topics, [(3_000, "b", 7.0)])  # closes [0, 1s) and [1s, 2s)
        agg.wait(5, timeout=10)
        chart.refresh()
        assert sorted(chart.lines) == ["a", "b"]
        chart.close()
    finally:
        live.stop()


def test_updates_every_batch_and_a_key_explosion_stops_only_the_aggregate() -> None:
    topics = MemoryTopics()
    topics.create("t", 1)
    topics.create("out", 1)
    live = make_live(topics)
    try:
        running = live.groupby("s").agg(n="size", total=("v", "sum"))
        updates: list[pd.DataFrame] = []
        running.on_update(updates.append)
        writer = running.to_topic("out", updates=True)
        tiny = live.groupby("v").agg(max_groups=3, n="size")
        produce(topics, [(0, "a", 1.0), (1, "b", 2.0), (2, "a", 3.0), (3, "c", 4.0)])
        running.wait(4, timeout=10)
        assert running.df.set_index("s")["total"].to_dict() == {"a": 4.0, "b": 2.0, "c": 4.0}
        assert sum(len(u) for u in updates) >= 3  # each batch's changed rows
        writer.flush(10)
        assert writer.errors == 0 and writer.written >= 3, writer.last_error
        with pytest.raises(AggregateError, match="max_groups=3"):
            tiny.wait(4, timeout=10)
        assert tiny.state == "failed" and "max_groups=3" in (tiny.stats.error or "")
        assert live.running and running.running  # the stream and the other aggregate go on
        with pytest.raises(DiasporaUsageError, match="never close"):
            running.to_topic("out")
    finally:
        live.stop()


def test_a_time_field_as_iso_text_windows_on_event_time() -> None:
    """on=<field>: the payload's own time (ISO text here), not the Kafka timestamp."""
    state = AggregateState(["s"], [AggSpec.parse("n", "size")],
                           Windows.make("1min", on="at", grace="10s"))
    frame = LiveFrame()
    times = ["2026-12-07T10:00:05Z", "2026-12-07T10:00:59.999Z", "2026-12-07T10:01:00Z",
             "not a time", "2026-12-07T10:02:30+00:00", "2026-12-07T10:00:30Z"]
    values = [json.dumps({"s": "a", "at": t}).encode() for t in times]
    chunk = frame.ingest_columns("t", 0, np.arange(6, dtype=np.int64), np.zeros(6, np.int64),
                                 [None] * 6, values)
    assert chunk is not None
    state.feed(frame.decoded(chunk))
    closed = state.close_due()
    minute = pd.Timestamp("2026-12-07T10:00Z").value // 10**6
    assert [(r["window_start"], r["n"]) for r in closed] == [(minute, 2), (minute + 60_000, 1)]
    assert state.no_time == 1
    assert state.late_events == 1 and state.closed[(minute // 60_000, ("a",))]["late"] == 1
    assert [r["n"] for r in state.open_rows()] == [1]
