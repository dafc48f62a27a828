"""Live analytics against the real local fabric, on both engines: windowed and running
aggregates equal pandas over what is on the topic (read by a plain consumer, the ground truth),
and across a broker restart no window counts an event twice."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.stream import LiveDataFrame

from .test_live_dataframe import ENGINES, make_topic

BASE = int(time.time() * 1000) // 60_000 * 60_000 - 3_600_000  # an hour ago, on a minute


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def topic_frame(fabric: Fabric, topic: str) -> pd.DataFrame:
    """Every event on the topic (plain consumer): partition, offset, timestamp, payload."""
    consumer = KafkaConsumer(**fabric.admin_config(), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        rows: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                rows += [{"partition": r.partition, "offset": r.offset, "t": r.timestamp,
                          **json.loads(r.value)} for r in records]
        return pd.DataFrame(rows)
    finally:
        consumer.close()


def produce(fabric: Fabric, topic: str, n: int, *, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    prod = KafkaProducer(**fabric.admin_config(), acks="all", linger_ms=5)
    try:
        futures = []
        for i in range(n):
            sensor = f"s{i % 5}"
            value = None if i % 17 == 0 else round(float(rng.normal(20, 3)), 3)
            stamp = BASE + int(rng.integers(0, 120_000))  # two minutes, in any order
            futures.append(prod.send(topic, json.dumps({"sensor": sensor, "v": value}).encode(),
                                     key=sensor.encode(), timestamp_ms=stamp))
        for future in futures:
            future.get(timeout=30)
    finally:
        prod.close(timeout=10)


def live_for(fabric: Fabric, topic: str, engine: str) -> LiveDataFrame:
    return LiveDataFrame(topic, consumer_config=fabric.admin_config(), engine=engine,
                         start="earliest", max_rows=100_000)


def test_windows_and_groupby_equal_pandas_over_the_topic(engine: str, fabric: Fabric,
                                                         topic_name: str) -> None:
    """A grace longer than the data's spread: no event is late whatever the order the
    partitions arrive in, so the result is pandas' resample of everything on the topic."""
    make_topic(fabric, topic_name, partitions=3)
    produce(fabric, topic_name, 3_000)
    with live_for(fabric, topic_name, engine) as live:
        windowed = live.window("10s", by="sensor", grace="5min").agg(
            mean=("v", "mean"), n=("v", "count"), rows="size", hi=("v", "max"),
            sd=("v", "std"), p50=("v", "median"))
        hopping = live.window("20s", every="10s", by="sensor", grace="5min").agg(
            total=("v", "sum"), rows="size")
        running = live.groupby("sensor").agg(rows="size", mean=("v", "mean"),
                                             distinct=("v", "nunique"))
        live.wait(3_000, timeout=120)
        for agg in (windowed, hopping, running):
            agg.wait(timeout=60)
        truth = topic_frame(fabric, topic_name)
        truth["time"] = pd.to_datetime(truth["t"], unit="ms", utc=True)
        assert len(truth) == 3_000
        got = windowed.df.set_index(["sensor", "window_start"]).sort_index()
        want = (truth.set_index("time").groupby("sensor")["v"].resample("10s")
                .agg(["mean", "count", "size", "max", "std", "median"]))
        want = want[want["size"] > 0]
        want.index = want.index.set_names(["sensor", "window_start"])
        got.index = got.index.set_levels(got.index.levels[1].as_unit("ns"), level=1)
        want.index = want.index.set_levels(want.index.levels[1].as_unit("ns"), level=1)
        assert list(got.index) == list(want.index.sort_values())
        want = want.sort_index()
        for mine, theirs in [("mean", "mean"), ("n", "count"), ("rows", "size"), ("hi", "max"),
                             ("sd", "std"), ("p50", "median")]:
            np.testing.assert_allclose(got[mine].astype(float), want[theirs].astype(float),
                                       rtol=1e-9, equal_nan=True, err_msg=mine)
        assert int(windowed.df["rows"].sum()) == 3_000  # each event in one window, once
        assert int(hopping.df["rows"].sum()) == 2 * 3_000  # each event in two windows
        run = running.df.set_index("sensor").sort_index()
        by_sensor = truth.groupby("sensor")["v"]
        assert run["rows"].tolist() == by_sensor.size().sort_index().tolist()
        np.testing.assert_allclose(run["mean"], by_sensor.mean().sort_index(), rtol=1e-9)
        assert run["distinct"].tolist() == by_sensor.nunique().sort_index().tolist()


@pytest.mark.slow
def test_no_window_counts_an_event_twice_across_a_broker_restart(engine: str, own_fabric: Any,
                                                                 topic_name: str) -> None:
    fabric = own_fabric()  # the broker is stopped: never the session's
    make_topic(fabric, topic_name, partitions=2)
    cluster = fabric.cluster()
    stop = threading.Event()

    def produce_forever() -> None:
        prod = KafkaProducer(**fabric.admin_config(), acks="all", retries=1_000_000,
                             max_block_ms=120_000, request_timeout_ms=5_000,
                             delivery_timeout_ms=120_000)
        i = 0
        try:
            while not stop.is_set():
                try:
                    prod.send(topic_name, json.dumps({"sensor": f"s{i % 3}", "i": i}).encode(),
                              key=f"s{i % 3}".encode()).get(timeout=120)
                except Exception:  # the broker is down for a while: keep trying
                    time.sleep(0.2)
                i += 1
                time.sleep(0.005)
        finally:
            prod.close(timeout=10)

    thread = threading.Thread(target=produce_forever, daemon=True)
    with live_for(fabric, topic_name, engine) as live:
        per_second = live.window("1s", by="sensor", grace="10min").agg(rows="size")
        totals = live.groupby("sensor").agg(rows="size")
        thread.start()
        live.wait(n=200, timeout=60)
        cluster.stop()
        try:
            time.sleep(5)
        finally:
            cluster.start()
            cluster.wait_for_brokers(fabric.home.admin_password(), 1)
        before = live.stats.events
        live.wait(n=before + 200, timeout=120)
        stop.set()
        thread.join(150)
        live.wait(timeout=60)
        per_second.wait(timeout=60)
        totals.wait(timeout=60)
        truth = topic_frame(fabric, topic_name)
        windows = per_second.df
        assert int(windows["rows"].sum()) == len(truth)  # every event once, in one window
        truth["second"] = pd.to_datetime(truth["t"], unit="ms", utc=True).dt.floor("1s")
        want = truth.groupby(["sensor", "second"]).size()
        got = windows.set_index(["sensor", "window_start"])["rows"]
        assert sorted(zip(got.index.get_level_values(0), got.tolist(), strict=True)) == sorted(
            zip(want.index.get_level_values(0), want.tolist(), strict=True))
        assert int(totals.df["rows"].sum()) == len(truth)
