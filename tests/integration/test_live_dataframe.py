"""LiveDataFrame against the real local fabric: arrival, windows, pause/resume, stop, a broker
restart and revoked access (no duplicate, no gap), and the widget through a dummy comm.

Every test that reads runs on both engines (librdkafka through confluent-kafka, and kafka-python).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pyarrow as pa
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)

from diaspora_notebook.errors import LiveStreamError, LiveStreamTimeoutError
from diaspora_notebook.explore.groups import group_name
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.kafka.confluent import to_librdkafka
from diaspora_notebook.stream import LiveDataFrame, running_streams

from .kafka_helpers import allow_topic_owner, create_user, user_config


def make_topic(fabric: Fabric, name: str, partitions: int = 2) -> str:
    admin = fabric.admin_client()
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


@pytest.fixture
def producer(fabric: Fabric):
    prod = KafkaProducer(**fabric.admin_config(), acks="all", linger_ms=2)
    yield prod
    prod.close(timeout=10)


def send(producer: KafkaProducer, topic: str, values: list[Any], *, keys=None,
         partition: int | None = None) -> None:
    futures = []
    for i, value in enumerate(values):
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        key = keys[i].encode() if keys else None
        futures.append(producer.send(topic, raw, key=key, partition=partition))
    for fut in futures:
        fut.get(timeout=30)


def topic_contents(fabric: Fabric, topic: str) -> set[tuple[int, int]]:
    """Every (partition, offset) in the topic, read with a plain consumer (the ground truth)."""
    consumer = KafkaConsumer(**fabric.admin_config(), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        seen: set[tuple[int, int]] = set()
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                seen.update((r.partition, r.offset) for r in records)
        return seen
    finally:
        consumer.close()


def assert_exactly_once(df, expected: set[tuple[int, int]]) -> None:
    pairs = list(zip(df["partition"].tolist(), df["offset"].tolist(), strict=True))
    assert len(pairs) == len(set(pairs)), "duplicate rows in the view"
    missing = expected - set(pairs)
    assert not missing, f"{len(missing)} events missing, e.g. {sorted(missing)[:5]}"
    assert set(pairs) == expected


ENGINES = ["confluent", "kafka-python"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def views():
    """The views the Jupyter extension registers when it loads."""
    from diaspora_notebook.notebook.widgets.live import register_views

    register_views()


def live_for(fabric: Fabric, topic: str, engine: str, **kwargs: Any) -> LiveDataFrame:
    kwargs.setdefault("start", "earliest")
    return LiveDataFrame(topic, consumer_config=fabric.admin_config(), engine=engine, **kwargs)


# --- arrival and columns -----------------------------------------------------------------------


def test_every_event_arrives_with_its_columns(engine, fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=3)
    values = [{"i": i, "sensor": {"id": f"s{i % 4}", "temp": 20 + i / 10}} for i in range(600)]
    values += [b"not json {", b'"just a string"', b"17"]
    with live_for(fabric, topic_name, engine) as live:
        send(producer, topic_name, values, keys=[f"k{i % 5}" for i in range(len(values))])
        live.wait(n=len(values), timeout=60)
        df = live.df
        live.wait(timeout=30)  # caught up: lag 0 everywhere
        stats = live.stats
    assert len(df) == len(values)
    assert list(df.columns[:5]) == ["topic", "partition", "offset", "timestamp", "key"]
    assert {"i", "sensor.id", "sensor.temp", "value", "_error"} <= set(df.columns)
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert sorted(df["i"].dropna().astype(int)) == list(range(600))
    bad = df[df["_error"].notna()]
    assert bad["value"].tolist() == ["not json {"]
    assert set(df["value"].dropna()) == {"not json {", "just a string", 17}
    assert stats.events == len(values) and stats.decode_errors == 1
    assert stats.total_lag == 0 and stats.duplicates == 0
    assert set(stats.lag) == {f"{topic_name}[{p}]" for p in range(3)}
    assert_exactly_once(df, topic_contents(fabric, topic_name))


def test_start_latest_sees_events_produced_after_creation_only(engine, fabric, topic_name,
                                                              producer):
    make_topic(fabric, topic_name, partitions=1)
    send(producer, topic_name, [{"old": i} for i in range(10)])
    time.sleep(0.05)
    with live_for(fabric, topic_name, engine, start="latest") as live:
        # produced at once: before the background consumer has even connected
        send(producer, topic_name, [{"new": i} for i in range(5)])
        live.wait(n=5, timeout=30)
        live.wait(timeout=30)
        df = live.df
    assert df["offset"].tolist() == [10, 11, 12, 13, 14]
    assert "old" not in df.columns


def test_start_last_n_and_offset(engine, fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=2)
    for p in (0, 1):
        send(producer, topic_name, [{"i": i} for i in range(20)], partition=p)
    with live_for(fabric, topic_name, engine, start=-5) as live:
        df = live.wait(timeout=30).df
    assert sorted(df["offset"]) == sorted(list(range(15, 20)) * 2)
    with live_for(fabric, topic_name, engine, start=18) as live:
        df = live.wait(timeout=30).df
    assert sorted(df["offset"]) == [18, 18, 19, 19]


def test_window_and_latest_by_key_live(engine, fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=1)
    send(producer, topic_name, [{"i": i} for i in range(300)],
         keys=[f"k{i % 7}" for i in range(300)])
    with live_for(fabric, topic_name, engine, max_rows=50) as live:
        live.wait(n=300, timeout=30)
        df, stats = live.df, live.stats
    assert df["offset"].tolist() == list(range(250, 300))
    assert (stats.rows, stats.rows_dropped, stats.events) == (50, 250, 300)
    with live_for(fabric, topic_name, engine, mode="latest_by_key") as live:
        live.wait(n=300, timeout=30)
        df = live.df
    assert sorted(df["key"]) == [f"k{i}" for i in range(7)]
    assert sorted(df["i"].astype(int)) == list(range(293, 300))


# --- pause, resume, stop -----------------------------------------------------------------------


def test_pause_resume_loses_nothing_and_repeats_nothing(engine, fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=2)
    with live_for(fabric, topic_name, engine) as live:
        send(producer, topic_name, [{"i": i} for i in range(100)])
        live.wait(n=100, timeout=30)
        live.pause()
        assert live.state == "paused"
        send(producer, topic_name, [{"i": i} for i in range(100, 250)])
        time.sleep(1.5)
        assert len(live.df) == 100 and live.stats.events == 100
        started = time.monotonic()
        with pytest.raises(LiveStreamError, match="the stream is paused, so 101 events"):
            live.wait(n=101, timeout=30)  # says so at once, not after the timeout
        assert time.monotonic() - started < 5
        live.resume()
        live.wait(n=250, timeout=30)
        time.sleep(0.5)
        df = live.df
        assert live.stats.duplicates == 0
    assert len(df) == 250
    assert sorted(df["i"].astype(int)) == list(range(250))
    assert_exactly_once(df, topic_contents(fabric, topic_name))


def test_wait_on_a_running_stream_times_out_with_its_counters(engine, fabric, topic_name,
                                                              producer):
    make_topic(fabric, topic_name, partitions=1)
    with live_for(fabric, topic_name, engine) as live:
        send(producer, topic_name, [{"i": i} for i in range(5)])
        live.wait(n=5, timeout=30)
        started = time.monotonic()
        with pytest.raises(LiveStreamTimeoutError, match=r"waited 1 s for .*5 events") as late:
            live.wait(n=6, timeout=1)
        assert 0.9 <= time.monotonic() - started < 10
        assert "produced" in late.value.hint


def test_stop_and_context_manager(engine, fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=1)
    with live_for(fabric, topic_name, engine) as live:
        send(producer, topic_name, [{"i": i} for i in range(10)])
        live.wait(n=10, timeout=30)
        assert live in running_streams()
    assert live.state == "stopped" and not live.running
    assert not live._loop.thread.is_alive()
    assert live not in running_streams()
    send(producer, topic_name, [{"i": i} for i in range(10, 20)])
    time.sleep(0.5)
    assert len(live.df) == 10  # still readable; no more growth
    live.stop()  # stopping twice is fine

    other = live_for(fabric, topic_name, engine)
    other.wait(n=20, timeout=30)
    other.stop()
    assert other.state == "stopped"


def test_on_batch_callbacks_and_their_errors(engine, fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=2)
    seen: list[int] = []
    lock = threading.Lock()
    with live_for(fabric, topic_name, engine) as live:

        @live.on_batch
        def count(batch):
            with lock:
                seen.extend(batch["i"].astype(int).tolist())

        def broken(batch):
            raise ZeroDivisionError("user bug")

        live.on_batch(broken)
        send(producer, topic_name, [{"i": i} for i in range(200)])
        live.wait(n=200, timeout=30)
        time.sleep(0.2)
        stats = live.stats
        assert live.running
        live.on_batch(broken, remove=True)
    assert sorted(seen) == list(range(200))
    assert stats.callback_errors >= 1
    assert "ZeroDivisionError: user bug" in stats.last_callback_error
    assert stats.error is None  # a callback failing is not a stream problem


def test_consumer_group_continues_where_it_stopped(engine, fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=2)
    group = group_name(topic_name, f"live-{engine}")
    send(producer, topic_name, [{"i": i} for i in range(50)])
    with live_for(fabric, topic_name, engine, group_id=group) as live:
        live.wait(n=50, timeout=60)
        live.wait(timeout=30)
    send(producer, topic_name, [{"i": i} for i in range(50, 80)])
    with live_for(fabric, topic_name, engine, group_id=group) as live:
        live.wait(n=30, timeout=60)
        live.wait(timeout=30)
        df = live.df
    assert sorted(df["i"].astype(int)) == list(range(50, 80))


# --- failures: broker restart, revoked access ---------------------------------------------------


@pytest.mark.slow
def test_broker_restart_mid_stream_no_duplicate_no_gap(engine, own_fabric, topic_name):
    fabric = own_fabric()  # the broker is stopped: never the session's
    make_topic(fabric, topic_name, partitions=2)
    cluster = fabric.cluster()
    stop_producing = threading.Event()
    acked: list[int] = []

    def produce_forever():
        prod = KafkaProducer(**fabric.admin_config(), acks="all", retries=1_000_000,
                             max_block_ms=120_000, request_timeout_ms=5_000,
                             delivery_timeout_ms=120_000)
        i = 0
        try:
            while not stop_producing.is_set():
                try:
                    prod.send(topic_name, json.dumps({"i": i}).encode()).get(timeout=120)
                    acked.append(i)
                except Exception:  # the broker is down for a while: keep trying
                    time.sleep(0.2)
                i += 1
                time.sleep(0.005)
        finally:
            prod.close(timeout=10)

    thread = threading.Thread(target=produce_forever, daemon=True)
    with live_for(fabric, topic_name, engine) as live:
        thread.start()
        live.wait(n=200, timeout=60)
        cluster.stop()
        try:
            deadline = time.monotonic() + 30
            while live.error is None and time.monotonic() < deadline:
                time.sleep(0.2)
            outage_error = live.error
            outage_state = live.state
        finally:
            cluster.start()
            cluster.wait_for_brokers(fabric.home.admin_password(), 1)
        before = live.stats.events
        live.wait(n=before + 200, timeout=120)
        stop_producing.set()
        thread.join(150)
        live.wait(timeout=60)
        df = live.df
        stats = live.stats
    assert outage_error is not None, "the outage was never reported in stats.error"
    assert outage_state == "retrying"
    assert stats.error is None and stats.consumer_errors >= 1
    assert_exactly_once(df, topic_contents(fabric, topic_name))
    got = set(df["i"].astype(int))
    assert set(acked) <= got


@pytest.mark.slow
def test_revoked_access_is_reported_and_recovers(engine, fabric, topic_name, producer, dummy_comm):
    from diaspora_notebook.notebook.widgets.live import LiveView

    make_topic(fabric, topic_name, partitions=1)
    admin = fabric.admin_client()
    user, password = f"live-{topic_name}", "live-password-0123456789"
    try:
        create_user(admin, user, password)
        allow_topic_owner(admin, user, topic_name)
        send(producer, topic_name, [{"i": i} for i in range(20)])
        live = LiveDataFrame(topic_name, start="earliest", engine=engine,
                             consumer_config=user_config(fabric, user, password))
        with live:
            live.wait(n=20, timeout=30)
            read_acl = ResourcePatternFilter(ResourceType.TOPIC, topic_name,
                                             ACLResourcePatternType.LITERAL)
            admin.delete_acls([ACLFilter(f"User:{user}", "*", ACLOperation.ANY,
                                         ACLPermissionType.ANY, read_acl)])
            send(producer, topic_name, [{"i": i} for i in range(20, 40)])
            deadline = time.monotonic() + 30
            while live.error is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert live.error is not None and "Authorization" in live.error
            assert live.running
            # the error stays while access is missing: brokers that answer between two failed
            # fetches do not end it (it used to blink off, and a view showed "running")
            seen = []
            for _ in range(50):
                seen.append(live.error)
                time.sleep(0.1)
            assert None not in seen, f"the error cleared {seen.count(None)} times in 5 s"
            view = LiveView(live, autorefresh=False)
            # shown, not printed; without DESCRIBE the brokers also hide the topic's metadata,
            # so the failing call may be a fetch, a metadata or an end-offset request
            shown = view.errors.value
            assert any(text in shown for text in (
                "TopicAuthorizationFailedError", "not readable with these credentials",
                "Unknown partition")), shown
            assert "retrying" in view.counters.value
            view.close()
            admin.create_acls([ACL(f"User:{user}", "*", op, ACLPermissionType.ALLOW,
                                   ResourcePattern(ResourceType.TOPIC, topic_name,
                                                   ACLResourcePatternType.LITERAL))
                               for op in (ACLOperation.READ, ACLOperation.DESCRIBE)])
            send(producer, topic_name, [{"i": i} for i in range(40, 60)])
            live.wait(n=60, timeout=60)
            df = live.df
            assert live.error is None
    finally:
        admin.close()
    assert df["i"].astype(int).tolist() == list(range(60))


# --- the widget, without a browser ------------------------------------------------------------


def sent_updates(widget: Any) -> list[dict[str, Any]]:
    return [m["state"] for m in widget.comm.messages if m and m.get("method") == "update"]


def grid_rows(view: Any) -> dict[str, list[Any]]:
    """What the grid's table holds (the browser's replica is kept equal to it by Perspective)."""
    return view.grid.widget.table.view().to_columns()


def test_widget_shows_the_tail_counters_and_drives_pause_and_stop(engine, fabric, topic_name,
                                                                   producer, dummy_comm, views):
    from diaspora_notebook.notebook.widgets.live import LiveView

    make_topic(fabric, topic_name, partitions=1)
    live = live_for(fabric, topic_name, engine)
    view = LiveView(live, rows=5, autorefresh=False)
    try:
        send(producer, topic_name, [{"i": i, "name": f"<b>n{i}</b>"} for i in range(30)])
        send(producer, topic_name, [b"garbage"])
        live.wait(n=31, timeout=30)
        view.refresh()
        rows = grid_rows(view)
        assert rows["offset"] == list(range(31)) and rows["name"][29] == "<b>n29</b>"
        assert rows["_error"][30] and "not JSON" in rows["_error"][30]
        assert "topic" not in rows and "key" not in rows  # one topic, no keys: no such columns
        table = view.table_html()  # the static record: the newest 5 rows, escaped
        assert "&lt;b&gt;n29&lt;/b&gt;" in table and "n24" not in table
        assert "garbage" in table and "not JSON" in table
        assert "<b>31</b> events" in view.counters.value
        assert "errors 1" in view.counters.value
        assert "could not be decoded" in view.errors.value

        view.pause_button.click()
        assert live.stats.paused and view.pause_button.description == "Resume"
        send(producer, topic_name, [{"i": i} for i in range(30, 40)])
        time.sleep(1.0)
        view.refresh()
        assert live.stats.events == 31 and "paused" in view.counters.value
        assert len(grid_rows(view)["offset"]) == 31
        view.pause_button.click()
        assert view.pause_button.description == "Pause"
        live.wait(n=41, timeout=30)

        view.stop_button.click()
        assert live.state == "stopped"
        assert view.stop_button.disabled and view.pause_button.disabled
        assert "stopped" in view.counters.value
        # what a reopened notebook shows instead of the widget: a static record
        record = view.finished_html or ""
        assert "stopped" in record and topic_name in record and ">39<" in record
    finally:
        live.stop()
        view.close()


def test_widget_refreshes_itself_at_most_refresh_hz(engine, fabric, topic_name, producer,
                                                    dummy_comm, views):
    make_topic(fabric, topic_name, partitions=1)
    with live_for(fabric, topic_name, engine, refresh_hz=4) as live:
        view = live.view(rows=3)
        try:
            stop = threading.Event()

            def trickle():
                i = 0
                while not stop.is_set():
                    send(producer, topic_name, [{"i": i}])
                    i += 1
                    time.sleep(0.01)

            thread = threading.Thread(target=trickle, daemon=True)
            before = len(sent_updates(view.counters))
            start = time.monotonic()
            thread.start()
            time.sleep(2.0)
            stop.set()
            thread.join(10)
            elapsed = time.monotonic() - start
            updates = len(sent_updates(view.counters)) - before
            assert 2 <= updates <= 4 * elapsed + 2
            assert view.refresher.refreshes <= 4 * elapsed + 2
            assert view.refresher is not None and view.refresher.thread.is_alive()
        finally:
            view.close()
    time.sleep(0.6)
    assert not view.refresher.thread.is_alive()


def test_widget_refresh_sends_only_new_rows_and_flags_new_fields(engine, fabric, topic_name,
                                                                  producer, dummy_comm):
    from diaspora_notebook.notebook.widgets.grid import COLUMNS_CONFIG, SORT
    from diaspora_notebook.notebook.widgets.live import LiveView

    make_topic(fabric, topic_name, partitions=1)
    with live_for(fabric, topic_name, engine) as live:
        view = LiveView(live, rows=5, autorefresh=False)
        try:
            grid = view.grid.widget
            sent: list[bytes] = []  # what each update handed Perspective (Arrow IPC)
            original = grid.update
            grid.update = lambda data: (sent.append(data), original(data))[1]
            send(producer, topic_name, [{"i": i} for i in range(10)])
            live.wait(n=10, timeout=30)
            view.refresh()  # the first payloads bring columns: a new table, drawn again
            assert view.grid.reloads == 1 and "i" in view.grid.columns
            holder = view.widget.children[-1]
            assert holder.children == (grid,) and grid_rows(view)["i"] == list(range(10))
            send(producer, topic_name, [{"i": i} for i in range(10, 12)])
            live.wait(n=12, timeout=30)
            view.refresh()
            assert len(sent) == 1 and grid_rows(view)["i"] == list(range(12))
            # only the two new rows went to the grid (and so to the browser's replica)
            assert pa.ipc.open_stream(sent[0]).read_all().column("i").to_pylist() == [10, 11]
            assert view.drift.value == ""

            send(producer, topic_name, [{"i": 12, "extra": {"x": 1}}], keys=["k"])
            live.wait(n=13, timeout=30)
            live.wait(timeout=30)
            view.refresh()
            stats = live.stats
            assert stats.schema_changes >= 1 and "extra.x" in stats.new_fields
            assert stats.new_fields["extra.x"].offset == 12
            assert "new field <code>extra.x</code> since offset 12" in view.drift.value
            # the new column and the first key: the grid is reloaded with them, all rows kept
            assert view.grid.reloads == 2 and "extra.x" in grid.columns and "key" in grid.columns
            # a reload resets the viewer's order; the formats stay
            assert grid.sort == SORT and grid.columns_config == COLUMNS_CONFIG
            # drawn anew in a box the browser has not seen; the old box is closed
            assert view.widget.children[-1] is not holder and holder.comm is None
            rows = grid_rows(view)
            assert rows["extra.x"][-1] == 1 and rows["key"][-1] == "k" and len(rows["i"]) == 13
        finally:
            view.close()



def test_the_grid_gets_every_row_once_while_events_arrive(engine, fabric, topic_name, producer,
                                                         dummy_comm):
    from diaspora_notebook.notebook.widgets.live import LiveView

    make_topic(fabric, topic_name, partitions=1)
    send(producer, topic_name, [{"i": -1}])  # the columns are known: no reload below
    with live_for(fabric, topic_name, engine) as live:
        live.wait(n=1, timeout=30)
        view = LiveView(live, autorefresh=False, grid_rows=5_000)
        try:
            failed: list[BaseException] = []

            def write() -> None:
                try:
                    send(producer, topic_name, [{"i": i} for i in range(3_000)])
                except BaseException as exc:  # re-raised below, not lost in the thread
                    failed.append(exc)

            writer = threading.Thread(target=write)
            writer.start()
            deadline = time.monotonic() + 60
            while ((writer.is_alive() or live.frame.events < 3_001) and not failed
                   and time.monotonic() < deadline):
                view.refresh()  # refreshes while rows arrive, as the view's thread does
                time.sleep(0.005)
            writer.join(timeout=30)
            if failed:
                raise failed[0]
            assert live.frame.events == 3_001, live.stats.summary()
            view.refresh()
            assert view.grid.reloads == 0
            offsets = grid_rows(view)["offset"]
            assert sorted(offsets) == list(range(3_001)), "rows skipped or repeated"
        finally:
            view.close()


def test_a_view_on_a_topic_with_history_draws_its_newest_records_before_the_first_event(
        engine, fabric, topic_name, producer, dummy_comm):
    from diaspora_notebook.notebook.widgets.live import LiveView

    make_topic(fabric, topic_name, partitions=2)
    send(producer, topic_name, [{"i": -1, "extra": {"x": 0}}], keys=["old"], partition=0)
    send(producer, topic_name, [{"i": -2, "note": "b"}], partition=1)
    with live_for(fabric, topic_name, engine, start="latest") as live:
        sample = live.sample_table()
        assert sorted(sample.column("i").to_pylist()) == [-2, -1]
        assert live.frame.events == 0  # the sample is not part of the stream
        view = LiveView(live, rows=5, autorefresh=False)
        try:
            assert view.grid.sampled
            assert {"i", "extra.x", "note", "key"} <= set(view.grid.columns)
            # the newest records are drawn before the first event (rows already made)
            assert sorted(grid_rows(view)["i"]) == [-2, -1]
            send(producer, topic_name, [{"i": i, "extra": {"x": i}} for i in range(5)],
                 keys=[str(i) for i in range(5)], partition=0)
            live.wait(n=5, timeout=30)
            view.refresh()
            # the first events fit the table the browser already drew: no second draw
            assert view.grid.reloads == 0
            rows = grid_rows(view)
            assert sorted(rows["i"]) == [-2, -1, *range(5)]  # each record once
            assert sorted(k for k in rows["key"] if k is not None) == [*"01234", "old"]
            assert live.frame.events == 5  # the stream itself has only its own events
        finally:
            view.close()


def test_a_sample_of_a_missing_topic_is_empty_and_quick(engine, fabric, topic_name):
    with live_for(fabric, f"missing-{topic_name}", engine, start="latest") as live:
        started = time.monotonic()
        sample = live.sample_table(timeout=5.0)
        # the brokers say "no such topic" at once: no waiting for the timeout
        assert len(sample) == 0 and time.monotonic() - started < 2.5
        assert not [t for t in threading.enumerate() if t.name == "diaspora-sample"]


def test_plot_and_reprs(engine, fabric, topic_name, producer, dummy_comm, views):
    make_topic(fabric, topic_name, partitions=1)
    with live_for(fabric, topic_name, engine) as live:
        send(producer, topic_name, [{"t": i * 1.5, "label": "x"} for i in range(50)])
        live.wait(n=50, timeout=30)
        plot = live.plot(y=["t", "label"])
        try:
            plot.refresh()
            assert plot.image.value.startswith("<svg") and "<polyline" in plot.image.value
            assert "\u2014 t" in plot.image.value
        finally:
            plot.close()
        text = repr(live)
        assert text.startswith(f"<LiveDataFrame {topic_name} - running: 50 events")
        bundle = live._repr_mimebundle_()  # outside a kernel: text and HTML, no widget
        assert set(bundle) == {"text/plain", "text/html"} and "<table" in bundle["text/html"]
        view = live.view()
        try:
            assert "application/vnd.jupyter.widget-view+json" in view._repr_mimebundle_()
        finally:
            view.close()


def test_in_a_kernel_displaying_shows_the_widget(engine, fabric, topic_name, dummy_comm, views,
                                                 monkeypatch):
    import diaspora_notebook.notebook.widgets.live as widgets_module

    make_topic(fabric, topic_name, partitions=1)
    monkeypatch.setattr(widgets_module, "_in_kernel", lambda: True)
    with live_for(fabric, topic_name, engine) as live:
        bundle = live._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


# --- construction paths -------------------------------------------------------------------------


class _StandInClient:
    """Anything with ``connection_config(library)`` works as ``client=`` (read lazily)."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.calls: list[str] = []

    def connection_config(self, library: str) -> dict[str, Any]:
        self.calls.append(library)
        config = self.fabric.admin_config()
        return to_librdkafka(config) if library == "confluent-kafka" else config


def test_client_settings_are_read_lazily_in_the_thread(engine, fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=1)
    client = _StandInClient(fabric)
    with LiveDataFrame(topic_name, start="earliest", client=client, engine=engine) as live:
        send(producer, topic_name, [{"i": 1}])
        live.wait(n=1, timeout=30)
    assert client.calls == ["confluent-kafka" if engine == "confluent" else "kafka-python"]
    assert live.stats.engine == engine


def test_bad_settings_fail_fast_and_say_so(engine, fabric, topic_name):
    live = LiveDataFrame(topic_name, consumer_config={**fabric.admin_config(), "acks": "all"},
                         engine=engine)
    with pytest.raises(Exception, match="stopped before") as info:
        live.wait(n=1, timeout=30)
    assert live.state == "failed"
    expected = "kafka-python setting(s) acks" if engine == "confluent" else "Unrecognized configs"
    assert expected in (live.error or "")
    assert "fix the consumer settings" in info.value.hint


def test_auto_engine_is_confluent_when_installed(fabric, topic_name, producer):
    make_topic(fabric, topic_name, partitions=1)
    send(producer, topic_name, [{"i": 1}])
    with LiveDataFrame(topic_name, start="earliest", consumer_config=fabric.admin_config()) as live:
        live.wait(n=1, timeout=30)
        assert live.engine == "confluent" and live.stats.engine == "confluent"


def test_usage_errors_are_raised_at_once(fabric):
    from diaspora_notebook.errors import DiasporaUsageError

    with pytest.raises(DiasporaUsageError, match="exactly one of"):
        LiveDataFrame("t")
    with pytest.raises(DiasporaUsageError, match="mode"):
        LiveDataFrame("t", consumer_config={}, mode="upsert")
    with pytest.raises(DiasporaUsageError, match="start"):
        LiveDataFrame("t", consumer_config={}, start="newest")
    with pytest.raises(DiasporaUsageError, match="engine"):
        LiveDataFrame("t", consumer_config={}, engine="librdkafka")


def test_a_forgotten_stream_stops_its_thread(engine, fabric, topic_name):
    import gc

    make_topic(fabric, topic_name, partitions=1)
    live = live_for(fabric, topic_name, engine)
    live.wait(timeout=30)
    thread = live._loop.thread
    del live
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
