"""The read path, measured in one run on the same topics and printed as ratios.

    python benchmarks/read_path.py --home /tmp/fabric-home [--n 200000] [--json out.json]
    python benchmarks/read_path.py --home H --quick          # the smoke test's run

On one fresh single-partition topic per payload shape (small: 66 B, 1 nested object; wide: ~1 KB,
30 fields), produced once, it times from consumer creation until the events are in hand:
  raw_kp     a raw kafka-python poll loop appending records to a list,
  raw_ck     a raw confluent-kafka ``consume(10000)`` loop doing nothing with the messages,
  live_ck    LiveDataFrame(engine="confluent"), every event decoded, ``.df`` included,
  live_kp    LiveDataFrame(engine="kafka-python"), the same,
  streamz    ``Stream.from_kafka_batched`` -> pyarrow -> DataFrame  (peers: a separate venv,
  quix       quixstreams Application + StreamingDataFrame -> DataFrame    see peers.py),
and then, on the small shape: kernel responsiveness (``1+1`` in the main thread while the engine
catches up in the background), RSS of a 1,000,000-row window (and after 1,000,000 more events),
and produce->widget latency at 5,000 and 50,000 events/s through a stub comm.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import psutil  # noqa: E402
from live_ingest import new_topic, on_screen_latencies, raw_loop  # noqa: E402

from diaspora_notebook.fabric.fabric import Fabric  # noqa: E402
from diaspora_notebook.kafka.confluent import CONFLUENT_TUNING, to_librdkafka  # noqa: E402
from diaspora_notebook.stream import LiveDataFrame  # noqa: E402
from diaspora_notebook.testing.comm import CountingComm  # noqa: E402

MB = 1024 * 1024
BENCH_VENV = Path(os.environ.get("DIASPORA_BENCH_VENV", "/tmp/bench-venv"))
PEER_PACKAGES = ["streamz==0.6.6", "quixstreams==3.28.1", "pyarrow", "pandas", "orjson"]


# --- payloads and producing ------------------------------------------------------------------


def small(i: int) -> bytes:
    return json.dumps({"seq": i, "sensor": f"s{i % 16}", "reading": {
        "temp": 20.0 + (i % 100) / 10, "ok": i % 7 != 0}}).encode()


def wide(i: int) -> bytes:
    """~1 KB, 30 fields: numbers, words, a nested object."""
    body: dict[str, Any] = {"seq": i, "run": f"run-{i // 1000}", "ok": i % 3 != 0}
    for j in range(24):
        body[f"f{j:02d}"] = (i * j) % 9973 if j % 3 == 0 else (
            f"value-{i % 97}-{j}-" + "abcdefghijklmnop" * 2 if j % 3 == 1 else (i % 1000) / 7)
    body["meta"] = {"host": f"node{i % 8}.cluster", "note": "x" * 120, "ver": 3}
    return json.dumps(body).encode()


SHAPES = {"small": small, "wide": wide}


def produce_fast(rd: dict[str, Any], topic: str, n: int, make: Any, start: int = 0) -> float:
    from confluent_kafka import Producer

    producer = Producer({**rd, "linger.ms": 20, "batch.size": 1_000_000, "acks": 1,
                         "queue.buffering.max.messages": 1_000_000,
                         "compression.type": "none"})
    t0 = time.perf_counter()
    for i in range(start, start + n):
        while True:
            try:
                producer.produce(topic, make(i), key=f"s{i % 16}".encode())
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    return n / (time.perf_counter() - t0)


# --- the runs ----------------------------------------------------------------------------------


def raw_confluent(rd: dict[str, Any], topic: str, n: int) -> float:
    from confluent_kafka import Consumer, TopicPartition

    t0 = time.perf_counter()
    # librdkafka at its best: its own fetch defaults (faster here than any "big fetch" setting),
    # but no 1 s pause each time the prefetch queue is full (see sources.CONFLUENT_TUNING)
    consumer = Consumer({**rd, "group.id": f"{topic}/bench", "enable.auto.commit": False,
                         "fetch.queue.backoff.ms": CONFLUENT_TUNING["fetch.queue.backoff.ms"]})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    while got < n:
        # consume() waits for a full batch or the timeout: a short one, or the last partial
        # batch of the topic would cost a whole timeout
        got += len(consumer.consume(num_messages=10_000, timeout=0.05))
    elapsed = time.perf_counter() - t0
    consumer.close()
    return n / elapsed


def live_all(config: dict[str, Any], topic: str, n: int, engine: str) -> float:
    """LiveDataFrame with max_rows >= n: every event decoded and flattened; ``.df`` included."""
    t0 = time.perf_counter()
    live = LiveDataFrame(topic, start="earliest", max_rows=n, consumer_config=config,
                         engine=engine)
    try:
        live.wait(n=n, timeout=900)
        df = live.df
        elapsed = time.perf_counter() - t0
        assert len(df) == n and live.stats.duplicates == 0, live.stats
    finally:
        live.stop()
    return n / elapsed


def ensure_bench_venv() -> Path | None:
    """The peers' virtualenv (created once); ``None`` if it cannot be built here."""
    python = BENCH_VENV / "bin" / "python"
    if python.exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"peers skipped: cannot build {BENCH_VENV}: {exc}")
        return None
    return python


def peer(python: Path, name: str, fabric: Fabric, rd: dict[str, Any], topic: str,
         n: int) -> float | None:
    with tempfile.TemporaryDirectory() as tmp:
        secret = Path(tmp) / "password"
        secret.touch(mode=0o600)
        secret.write_text(rd["sasl.password"])
        proc = subprocess.run(
            [str(python), str(HERE / "peers.py"), name, "--topic", topic, "--n", str(n),
             "--bootstrap", rd["bootstrap.servers"], "--user", rd["sasl.username"],
             "--password-file", str(secret), "--ca", rd["ssl.ca.location"]],
            capture_output=True, text=True, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"peer {name} failed: {proc.stderr.strip()[-600:]}")
        return None
    return float(json.loads(lines[-1])["events_per_s"])


def responsiveness(config: dict[str, Any], topic: str, n: int) -> dict[str, float]:
    """The engine catches up on ``n`` events in its thread; the main thread runs ``1+1`` every
    5 ms and records how late each one finishes (waiting for the GIL is what would hurt)."""
    live = LiveDataFrame(topic, start="earliest", max_rows=100_000, consumer_config=config,
                         engine="confluent")
    delays: list[float] = []
    try:
        while live.stats.events == 0:
            time.sleep(0.001)
        t_start, e_start = time.perf_counter(), live.stats.events
        while live.frame.events < n:
            t0 = time.perf_counter()
            time.sleep(0.005)
            _ = 1 + 1
            delays.append(time.perf_counter() - t0 - 0.005)
        rate = (live.frame.events - e_start) / max(time.perf_counter() - t_start, 1e-6)
    finally:
        live.stop()
    return {"ingest_events_per_s": rate, "cells": len(delays),
            "p50_ms": pct(delays, 50) * 1000, "p99_ms": pct(delays, 99) * 1000,
            "max_ms": max(delays, default=float("nan")) * 1000}


def memory(config: dict[str, Any], rd: dict[str, Any], topic: str, window: int) -> dict[str, Any]:
    """RSS added by a full ``window``-row window of small events, and after ``window`` more."""
    gc.collect()
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    live = LiveDataFrame(topic, start="earliest", max_rows=window, consumer_config=config,
                         engine="confluent")
    samples: list[tuple[int, float]] = []
    try:
        live.wait(n=window, timeout=900)
        live.frame.decode_pending(budget=10 * window)
        full = (proc.memory_info().rss - rss0) / MB
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                samples.append((live.frame.events, (proc.memory_info().rss - rss0) / MB))

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        live.wait(n=2 * window, timeout=900)
        live.frame.decode_pending(budget=10 * window)
        done.set()
        thread.join()
        after = (proc.memory_info().rss - rss0) / MB
        rows = live.stats.rows
    finally:
        live.stop()
    return {"window": window, "rows": rows, "rss_full_mb": full, "rss_after_mb": after,
            "rss_max_after_full_mb": max([s[1] for s in samples] + [after]),
            "growth_after_full_mb": after - full}


def _produce_paced(rd: dict[str, Any], topic: str, rate: float, seconds: float) -> None:
    from confluent_kafka import Producer

    producer = Producer({**rd, "linger.ms": 1, "acks": 1})
    start = time.time()
    total = int(rate * seconds)
    step = max(int(rate / 1000), 1)  # a few events per millisecond at high rates
    for i in range(0, total, step):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        now = time.time()
        for j in range(i, min(i + step, total)):
            producer.produce(topic, json.dumps({"seq": j, "sent": now}).encode())
        producer.poll(0)
    producer.flush(60)


def latency(fabric: Fabric, config: dict[str, Any], rd: dict[str, Any], rate: float,
            seconds: float) -> dict[str, float]:
    """Produce at ``rate`` from another process; time from send to the end of the first widget
    refresh that shows the event (a stub comm records what would go to the browser)."""
    import comm

    from diaspora_notebook.notebook.widgets.live import LiveView

    comms: list[CountingComm] = []

    def create(*args: Any, **kwargs: Any) -> CountingComm:
        comms.append(CountingComm())
        return comms[-1]

    comm.create_comm = create
    topic = new_topic(fabric, "bench-latency")
    total = int(rate * seconds)
    renders: list[tuple[float, int]] = []
    live = LiveDataFrame(topic, start="earliest", max_rows=total + 1000, consumer_config=config,
                         engine="confluent")
    view = LiveView(live, rows=10, autorefresh=False)
    original = view.refresh

    def timed_refresh() -> None:
        events = live.frame.events
        original()
        renders.append((time.time(), events))

    view.refresh = timed_refresh  # type: ignore[method-assign]
    view.start_refresher()
    proc = multiprocessing.get_context("spawn").Process(
        target=_produce_paced, args=(rd, topic, rate, seconds))
    try:
        live.wait(timeout=30)
        sent0 = sum(c.bytes for c in comms)
        proc.start()
        live.wait(n=total, timeout=seconds + 120)
        time.sleep(1.0)
        proc.join(60)
        sent = live.df.sort_values("offset")["sent"].astype(float).tolist()
        comm_bytes = sum(c.bytes for c in comms) - sent0
    finally:
        view.close()
        live.stop()
    to_view = on_screen_latencies(renders, sent)
    achieved = total / (max(sent) - min(sent)) if len(sent) > 1 else float("nan")
    return {"rate": rate, "achieved_rate": achieved, "events": total, "renders": len(renders),
            "p50_ms": pct(to_view, 50) * 1000, "p99_ms": pct(to_view, 99) * 1000,
            "comm_kb_per_s": comm_bytes / 1024 / seconds}


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- main --------------------------------------------------------------------------------------


def throughput(fabric: Fabric, config: dict[str, Any], rd: dict[str, Any], shape: str, n: int,
               repeat: int, python: Path | None) -> dict[str, Any]:
    topic = new_topic(fabric, f"bench-read-{shape}")
    rate = produce_fast(rd, topic, n, SHAPES[shape])
    size = len(SHAPES[shape](n // 2))
    print(f"[{shape}] produced {n:,} events of ~{size} B to {topic} at {rate:,.0f}/s")
    kinds = ["raw_kp", "raw_ck", "live_ck", "live_kp"]
    if python is not None:
        kinds += ["streamz", "quixstreams"]
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(repeat):  # interleaved, so load on the machine hits every run alike
        order = list(runs) if i % 2 == 0 else list(runs)[::-1]
        for kind in order:
            gc.collect()
            if kind in ("streamz", "quixstreams"):
                got = peer(python, kind, fabric, rd, topic, n)  # type: ignore[arg-type]
                if got is not None:
                    runs[kind].append(got)
            elif kind == "raw_kp":
                runs[kind].append(raw_loop(config, topic, n))
            elif kind == "raw_ck":
                runs[kind].append(raw_confluent(rd, topic, n))
            else:
                runs[kind].append(live_all(config, topic, n, "confluent" if kind == "live_ck"
                                           else "kafka-python"))
    best = {k: max(v) for k, v in runs.items() if v}
    peers = [best[p] for p in ("streamz", "quixstreams") if p in best]
    out = {"shape": shape, "n": n, "bytes": size, "events_per_s": best,
           "ratio_live_vs_raw_kp": best["live_ck"] / best["raw_kp"],
           "ratio_live_vs_raw_ck": best["live_ck"] / best["raw_ck"],
           "ratio_live_kp_vs_raw_kp": best["live_kp"] / best["raw_kp"]}
    if peers:
        out["ratio_live_vs_best_peer"] = best["live_ck"] / max(peers)
    labels = {"raw_kp": "raw kafka-python poll loop", "raw_ck": "raw confluent consume() loop",
              "live_ck": "LiveDataFrame confluent, decoded + .df",
              "live_kp": "LiveDataFrame kafka-python, decoded + .df",
              "streamz": "streamz from_kafka_batched (tuned)",
              "quixstreams": "quixstreams Application + SDF"}
    for key, value in best.items():
        print(f"[{shape}] {labels[key]:<44} {value:>10,.0f} events/s")
    line = (f"[{shape}] live/raw_kafka-python = {out['ratio_live_vs_raw_kp']:.2f} (goal >= 5)   "
            f"live/raw_confluent = {out['ratio_live_vs_raw_ck']:.2f} (goal >= 0.5)")
    if peers:
        line += f"   live/best_peer = {out['ratio_live_vs_best_peer']:.2f} (goal >= 1.5)"
    print(line)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None, help="fabric home (default: the usual one)")
    parser.add_argument("--n", type=int, default=200_000, help="events per shape")
    parser.add_argument("--wide-n", type=int, default=100_000, help="events of the 1 KB shape")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--window", type=int, default=1_000_000, help="memory: rows held")
    parser.add_argument("--rates", default="5000,50000", help="latency: events/s")
    parser.add_argument("--latency-seconds", type=float, default=8.0)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--parts", default="throughput,responsiveness,memory,latency",
                        help="which parts to run (comma-separated)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, no peers (the smoke test)")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.wide_n, args.repeat, args.window = 2_000, 1_000, 1, 5_000
        args.rates, args.latency_seconds, args.no_peers = "1000", 2.0, True

    fabric = Fabric.at(args.home)
    config = fabric.admin_config()
    rd = to_librdkafka(config)
    parts = set(args.parts.split(","))
    python = None if args.no_peers or "throughput" not in parts else ensure_bench_venv()
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg_start": list(os.getloadavg())}
    if "throughput" in parts:
        results["small"] = throughput(fabric, config, rd, "small", args.n, args.repeat, python)
        results["wide"] = throughput(fabric, config, rd, "wide", args.wide_n, args.repeat,
                                     python)
    if "responsiveness" in parts:
        responsive_part(fabric, config, rd, args.n, results)
    if "memory" in parts:
        memory_part(fabric, config, rd, args.window, results)
    if "latency" in parts:
        latency_part(fabric, config, rd, args, results)
    results["load_avg_end"] = list(os.getloadavg())
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.flush()
    return 0


def responsive_part(fabric: Fabric, config: dict[str, Any], rd: dict[str, Any], n: int,
                    results: dict[str, Any]) -> None:
    topic = new_topic(fabric, "bench-responsive")
    produce_fast(rd, topic, n, small)
    resp = responsiveness(config, topic, n)
    results["responsiveness"] = resp
    print(f"kernel while the engine ingests {resp['ingest_events_per_s']:,.0f} events/s: "
          f"1+1 late by p50 {resp['p50_ms']:.1f} ms, p99 {resp['p99_ms']:.1f} ms "
          f"(max {resp['max_ms']:.0f} ms, {resp['cells']:,} cells) (goal p99 <= 100 ms)")


def memory_part(fabric: Fabric, config: dict[str, Any], rd: dict[str, Any], window: int,
                results: dict[str, Any]) -> None:
    """In a fresh process: RSS grown by earlier runs would hide what the window costs."""
    topic = new_topic(fabric, "bench-memory")
    produce_fast(rd, topic, 2 * window, small)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        mem = pool.apply(memory, (config, rd, topic, window))
    results["memory"] = mem
    print(f"memory: a {mem['window']:,}-row window adds {mem['rss_full_mb']:.0f} MB RSS "
          f"(goal <= 150 MB); {mem['window']:,} events later {mem['rss_after_mb']:.0f} MB "
          f"(growth {mem['growth_after_full_mb']:+.0f} MB, max {mem['rss_max_after_full_mb']:.0f})")


def latency_part(fabric: Fabric, config: dict[str, Any], rd: dict[str, Any], args: Any,
                 results: dict[str, Any]) -> None:
    results["latency"] = []
    for rate in (float(r) for r in args.rates.split(",")):
        lat = latency(fabric, config, rd, rate, args.latency_seconds)
        results["latency"].append(lat)
        print(f"produce->widget at {rate:,.0f} events/s (achieved {lat['achieved_rate']:,.0f}): "
              f"p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, {lat['renders']} "
              f"refreshes, {lat['comm_kb_per_s']:.1f} KB/s to the browser")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    _ = uuid
    raise SystemExit(main())
