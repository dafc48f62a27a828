"""Live-ingest benchmark on the local fabric: LiveDataFrame vs a raw poll loop vs pd.concat.

    python benchmarks/live_ingest.py --home /tmp/ldf-home            # 200,000 events
    python benchmarks/live_ingest.py --home /tmp/ldf-home --n 2000 --json out.json

Measures in one run, on one fresh single-partition topic of N small JSON events:
  (a) a raw kafka-python consume loop appending records to a list,
  (b) LiveDataFrame ingesting into a bounded frame (max_rows), then one ``.df``,
  (b_all) the same with max_rows >= N, so every event is decoded and materialized,
  (c) the naive way: ``pd.concat`` per message (on a smaller N),
RSS while (b) runs (flat once the window is full), and produce-to-visible latency at a steady
rate (default 5,000 events/s) with the widget refreshing (no browser: a dummy comm).
Every timing starts before the consumer is created and stops when all N are in hand.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.stream import LiveDataFrame
from diaspora_notebook.stream.consumer_thread import POLL_MAX_RECORDS, POLL_TIMEOUT_MS
from diaspora_notebook.testing.comm import CountingComm

MB = 1024 * 1024


def rss() -> int:
    return psutil.Process().memory_info().rss


def new_topic(fabric: Fabric, prefix: str) -> str:
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = fabric.admin_client()
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    return topic


def drop_topics(fabric: Fabric, *topics: str) -> None:
    """Delete a run's topics: hundreds of left-over 400,000-event topics slow the broker and
    make later runs noisier."""
    admin = fabric.admin_client()
    try:
        admin.delete_topics(list(topics))
    finally:
        admin.close()


def event(i: int) -> bytes:
    return json.dumps({"seq": i, "sensor": f"s{i % 16}", "reading": {"temp": 20.0 + (i % 100) / 10,
                       "ok": i % 7 != 0}}).encode()


def produce(config: dict[str, Any], topic: str, n: int) -> float:
    producer = KafkaProducer(**config, acks=1, linger_ms=5, batch_size=512 * 1024)
    start = time.perf_counter()
    for i in range(n):
        producer.send(topic, event(i), key=f"s{i % 16}".encode())
    producer.flush()
    producer.close()
    return n / (time.perf_counter() - start)


def raw_loop(config: dict[str, Any], topic: str, n: int) -> float:
    """(a) what kafka-python alone does: poll into a list, nothing else."""
    start = time.perf_counter()
    consumer = KafkaConsumer(**config, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    got: list[Any] = []
    while len(got) < n:
        for records in consumer.poll(timeout_ms=POLL_TIMEOUT_MS,
                                     max_records=POLL_MAX_RECORDS).values():
            got.extend(records)
    elapsed = time.perf_counter() - start
    consumer.close()
    return n / elapsed


def live_ingest(config: dict[str, Any], topic: str, n: int, max_rows: int,
                memory: list[dict[str, float]] | None = None) -> dict[str, float]:
    """(b) LiveDataFrame from its creation until all n arrived, then one ``.df``."""
    rss0 = rss()
    start = time.perf_counter()
    live = LiveDataFrame(topic, start="earliest", max_rows=max_rows, consumer_config=config)
    done = threading.Event()

    def sample() -> None:  # RSS as the stream runs: it should be flat once the window is full
        while not done.wait(0.05):
            memory.append({"events": live.frame.events, "rss_mb": (rss() - rss0) / MB})

    sampler = threading.Thread(target=sample, daemon=True)
    if memory is not None:
        sampler.start()
    try:
        live.wait(n=n, timeout=600)
        ingest = time.perf_counter() - start
        done.set()
        if memory is not None:
            sampler.join()
            memory.append({"events": live.frame.events, "rss_mb": (rss() - rss0) / MB})
        t_df = time.perf_counter()
        df = live.df
        materialize = time.perf_counter() - t_df
        stats = live.stats
        assert len(df) == min(n, max_rows) and stats.duplicates == 0, stats
    finally:
        live.stop()
    return {"events_per_s": n / ingest, "ingest_s": ingest, "df_s": materialize,
            "with_df_events_per_s": n / (ingest + materialize), "rows": len(df)}


def naive(config: dict[str, Any], topic: str, n: int) -> float:
    """(c) the way people often start: one pd.concat per message."""
    start = time.perf_counter()
    consumer = KafkaConsumer(**config, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    df = pd.DataFrame()
    count = 0
    while count < n:
        for records in consumer.poll(timeout_ms=POLL_TIMEOUT_MS).values():
            for r in records[: n - count]:
                row = pd.json_normalize(json.loads(r.value))
                row.insert(0, "offset", r.offset)
                df = pd.concat([df, row], ignore_index=True)
                count += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    assert len(df) == n
    return n / elapsed


# --- latency ---------------------------------------------------------------------------------


def _produce_paced(config: dict[str, Any], topic: str, rate: float, seconds: float) -> None:
    producer = KafkaProducer(**config, acks=1)
    start = time.time()
    total = int(rate * seconds)
    for i in range(total):
        target = start + i / rate
        delay = target - time.time()
        if delay > 0:
            time.sleep(delay)
        producer.send(topic, json.dumps({"seq": i, "sent": time.time()}).encode())
    producer.flush()
    producer.close()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else values[0]


def raw_latency(fabric: Fabric, config: dict[str, Any], rate: float,
                seconds: float) -> dict[str, float]:
    """The same paced producer read by a bare kafka-python loop: the floor for the numbers below."""
    topic = new_topic(fabric, "bench-latency-raw")
    total = int(rate * seconds)
    consumer = KafkaConsumer(**config, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    consumer.poll(timeout_ms=500)
    proc = multiprocessing.get_context("spawn").Process(
        target=_produce_paced, args=(config, topic, rate, seconds))
    proc.start()
    delays: list[float] = []
    deadline = time.monotonic() + seconds + 120
    try:
        while len(delays) < total and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=POLL_TIMEOUT_MS,
                                         max_records=POLL_MAX_RECORDS).values():
                now = time.time()
                delays.extend(now - json.loads(r.value)["sent"] for r in records)
    finally:
        proc.join(60)
        consumer.close()
    return {"p50_ms": _pct(delays, 50) * 1000, "p99_ms": _pct(delays, 99) * 1000}


def on_screen_latencies(renders: list[tuple[float, int]], sent: list[float]) -> list[float]:
    """Send -> screen time of each event: event i is on screen at the first render (time,
    events shown) that showed more than i events."""
    to_view: list[float] = []
    j = 0
    for t, events in renders:
        while j < min(events, len(sent)):
            to_view.append(t - sent[j])
            j += 1
    return to_view


def latency(fabric: Fabric, config: dict[str, Any], rate: float, seconds: float,
            refresh_hz: float) -> dict[str, float]:
    """Produce at ``rate`` from another process; time from send() to the frame and to the view."""
    import comm

    from diaspora_notebook.notebook.widgets.live import LiveView

    comm.create_comm = lambda **kwargs: CountingComm()
    topic = new_topic(fabric, "bench-latency")
    total = int(rate * seconds)
    to_frame: list[float] = []
    renders: list[tuple[float, int]] = []
    live = LiveDataFrame(topic, start="earliest", max_rows=total + 1000, refresh_hz=refresh_hz,
                         consumer_config=config)

    @live.on_batch
    def arrived(batch: pd.DataFrame) -> None:
        now = time.time()
        to_frame.extend(now - batch["sent"].astype(float))

    view = LiveView(live, rows=10)
    original = view.refresh

    def timed_refresh() -> None:
        events = live.frame.events
        original()
        renders.append((time.time(), events))

    view.refresh = timed_refresh  # type: ignore[method-assign]
    assert view.refresher is not None
    view.refresher.refresh = timed_refresh
    proc = multiprocessing.get_context("spawn").Process(
        target=_produce_paced, args=(config, topic, rate, seconds))
    try:
        live.wait(timeout=30)
        proc.start()
        live.wait(n=total, timeout=seconds + 120)
        time.sleep(2.5 / refresh_hz)
        proc.join(60)
        sent = live.df.sort_values("offset")["sent"].astype(float).tolist()
    finally:
        view.close()
        live.stop()
    to_view = on_screen_latencies(renders, sent)
    achieved = total / (max(sent) - min(sent)) if len(sent) > 1 else float("nan")
    return {
        "rate": rate, "achieved_rate": achieved, "events": total, "refresh_hz": refresh_hz,
        "to_frame_p50_ms": _pct(to_frame, 50) * 1000, "to_frame_p99_ms": _pct(to_frame, 99) * 1000,
        "to_view_p50_ms": _pct(to_view, 50) * 1000, "to_view_p99_ms": _pct(to_view, 99) * 1000,
        "renders": len(renders),
    }


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None, help="fabric home (default: the usual one)")
    parser.add_argument("--n", type=int, default=200_000, help="events for (a) and (b)")
    parser.add_argument("--naive-n", type=int, default=5_000, help="events for (c)")
    parser.add_argument("--max-rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    parser.add_argument("--rate", type=float, default=5_000, help="latency: events/s")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--refresh-hz", type=float, default=4.0)
    parser.add_argument("--json", dest="json_out", default=None, help="write results here")
    args = parser.parse_args(argv)

    fabric = Fabric.at(args.home)
    config = fabric.admin_config()
    n, naive_n = args.n, min(args.naive_n, args.n)
    max_rows = min(args.max_rows, max(n // 4, 1))
    topic = new_topic(fabric, "bench-ingest")
    produce_rate = produce(config, topic, n)
    print(f"produced {n:,} events ({len(event(0))} B JSON each) at {produce_rate:,.0f}/s "
          f"to {topic}")

    memory: list[dict[str, float]] = []
    runs_b = [live_ingest(config, topic, n, max_rows, memory if i == 0 else None)
              for i in range(args.repeat)]
    gc.collect()
    runs_a = [raw_loop(config, topic, n) for _ in range(args.repeat)]
    gc.collect()
    runs_all = [live_ingest(config, topic, n, n) for _ in range(args.repeat)]
    gc.collect()
    c = naive(config, topic, naive_n)

    a = max(runs_a)
    b = max(runs_b, key=lambda r: r["events_per_s"])
    b_all = max(runs_all, key=lambda r: r["with_df_events_per_s"])
    full = [m for m in memory if m["events"] >= 2 * max_rows] or memory[-1:]
    growth = max(m["rss_mb"] for m in full) - full[0]["rss_mb"]
    checkpoints = [next((m for m in memory if m["events"] >= n * k // 4), memory[-1])
                   for k in (1, 2, 3, 4)]
    results: dict[str, Any] = {
        "n": n, "naive_n": naive_n, "max_rows": max_rows, "repeat": args.repeat,
        "produce_events_per_s": produce_rate,
        "a_raw_events_per_s": a,
        "b_live_events_per_s": b["events_per_s"],
        "b_live_df_seconds": b["df_s"],
        "b_all_decoded_events_per_s": b_all["with_df_events_per_s"],
        "c_naive_events_per_s": c,
        "ratio_b_a": b["events_per_s"] / a,
        "ratio_b_c": b["events_per_s"] / c,
        "ratio_b_all_a": b_all["with_df_events_per_s"] / a,
        "rss_mb_during_b": checkpoints,
        "rss_growth_mb_after_window_full": growth,
    }
    rows = [
        ("(a) raw kafka-python poll loop -> list", a, ""),
        (f"(b) LiveDataFrame, max_rows={max_rows:,}", b["events_per_s"],
         f"(then .df of {b['rows']:,} rows: {b['df_s'] * 1000:.0f} ms)"),
        ("(b_all) LiveDataFrame, every event decoded", b_all["with_df_events_per_s"],
         "(max_rows >= n, .df included)"),
        (f"(c) naive pd.concat per message, n={naive_n:,}", c, ""),
    ]
    for label, value, note in rows:
        print(f"{label:<46} {value:>10,.0f} events/s  {note}".rstrip())
    print(f"ratio b/a = {results['ratio_b_a']:.2f}   ratio b/c = {results['ratio_b_c']:.1f}"
          f"   ratio b_all/a = {results['ratio_b_all_a']:.2f}")
    print("RSS during (b): " + ", ".join(f"{m['events']:,} ev: +{m['rss_mb']:.1f} MB"
                                        for m in checkpoints)
          + f"; growth once the window is full: {growth:+.1f} MB")

    raw = raw_latency(fabric, config, args.rate, args.latency_seconds)
    lat = latency(fabric, config, args.rate, args.latency_seconds, args.refresh_hz)
    results["latency"] = lat
    results["latency_raw_consumer"] = raw
    print(f"latency at {lat['rate']:,.0f} events/s (achieved {lat['achieved_rate']:,.0f}/s, "
          f"widget at {lat['refresh_hz']:g} Hz): produce->frame p50 {lat['to_frame_p50_ms']:.0f} ms"
          f" p99 {lat['to_frame_p99_ms']:.0f} ms; produce->widget p50 {lat['to_view_p50_ms']:.0f}"
          f" ms p99 {lat['to_view_p99_ms']:.0f} ms")
    print(f"  (a bare kafka-python loop at the same rate: p50 {raw['p50_ms']:.0f} ms, "
          f"p99 {raw['p99_ms']:.0f} ms)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
