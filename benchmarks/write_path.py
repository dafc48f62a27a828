"""The write path, measured in one run against the same broker and printed as ratios.

    python benchmarks/write_path.py --home /tmp/fabric-home [--n 1000000] [--json out.json]
    python benchmarks/write_path.py --home H --large          # + the 10,000,000-row Parquet
    python benchmarks/write_path.py --home H --quick          # the smoke test's sizes

Each writer sends the same rows (the read path's shapes: small, 66 B with one nested object;
wide, ~1 KB with 30 fields) to a fresh 1-partition topic, timed from its creation until every
message is acknowledged (idempotent, acks=all for ours and for the hand-written librdkafka
loops):
  produce_df    ``topics.produce(topic, df)`` (a DataFrame with ``reading.temp`` columns,
                nested again), engine="confluent"
  ck_dumps      a hand-written librdkafka loop: ``json.dumps(dict)`` per event + ``produce``
  ck_raw        librdkafka producing the same payloads already encoded (bytes in hand)
  kp_seed       the seed's ``KafkaProducer`` (kafka-python), ``send(dict)`` + ``flush``
  quix          quixstreams' producer (``app.get_producer()``, its JSON serializer; peers
                venv, benchmarks/peers.py ``quix_produce``)
then replay: ``speed=1.0`` at 5,000 events/s for 60 s (lateness of each row's hand-over to
the producer against its schedule) and ``speed="max"`` against ``produce`` of the same rows;
and with ``--large`` a 10,000,000-row Parquet file produced in a fresh process (peak RSS).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402

from diaspora_notebook.fabric.fabric import Fabric  # noqa: E402
from diaspora_notebook.kafka.confluent import to_librdkafka  # noqa: E402

MB = 1024 * 1024
SAFE = {"enable.idempotence": True, "acks": "all", "linger.ms": 20, "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000, "compression.type": "none"}


class AdminClient:
    """The fabric's admin key in the shape ``topics`` takes (``client=``)."""

    def __init__(self, fabric: Fabric) -> None:
        self.kp = fabric.admin_config()

    def connection_config(self, library: str = "kafka-python") -> dict[str, Any]:
        return to_librdkafka(self.kp) if library == "confluent-kafka" else dict(self.kp)

    def kafka_config(self) -> dict[str, Any]:
        return dict(self.kp)


def new_topic(fabric: Fabric, prefix: str) -> str:
    from live_ingest import new_topic as make

    return make(fabric, prefix)


def drop_topics(fabric: Fabric, *names: str) -> None:
    from live_ingest import drop_topics as drop

    drop(fabric, *names)


def small_frame(n: int) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame({"seq": i, "sensor": pd.Series([f"s{x}" for x in range(16)])
                         .to_numpy()[i % 16],
                         "reading.temp": 20.0 + (i % 100) / 10, "reading.ok": i % 7 != 0})


def wide_frame(n: int) -> pd.DataFrame:
    i = np.arange(n)
    cols: dict[str, Any] = {"seq": i, "run": [f"run-{x}" for x in i // 1000], "ok": i % 3 != 0}
    for j in range(24):
        if j % 3 == 0:
            cols[f"f{j:02d}"] = (i * j) % 9973
        elif j % 3 == 1:
            cols[f"f{j:02d}"] = [f"value-{x}-{j}-" + "abcdefghijklmnop" * 2 for x in i % 97]
        else:
            cols[f"f{j:02d}"] = (i % 1000) / 7
    cols["meta.host"] = [f"node{x}.cluster" for x in i % 8]
    cols["meta.note"] = "x" * 120
    cols["meta.ver"] = 3
    return pd.DataFrame(cols)


FRAMES = {"small": small_frame, "wide": wide_frame}


def as_dicts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The events as a producer loop would hold them (nested dicts)."""
    out = []
    for row in frame.to_dict("records"):
        doc: dict[str, Any] = {}
        for k, v in row.items():
            if "." in k:
                a, b = k.split(".", 1)
                doc.setdefault(a, {})[b] = v
            else:
                doc[k] = v
        out.append(doc)
    return out


def _json_default(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else str(v)


def ck_loop(rd: dict[str, Any], topic: str, docs: list[Any] | None,
            raw: list[bytes] | None) -> float:
    from confluent_kafka import Producer

    producer = Producer({**rd, **SAFE})
    failed = []

    def cb(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(err)

    t0 = time.perf_counter()
    items = raw if raw is not None else docs
    assert items is not None
    for item in items:
        value = item if raw is not None else json.dumps(item, default=_json_default).encode()
        while True:
            try:
                producer.produce(topic, value, on_delivery=cb)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(300)
    dt = time.perf_counter() - t0
    assert not failed, failed[:3]
    return len(items) / dt


def kp_seed(admin: AdminClient, topic: str, docs: list[Any]) -> float:
    from diaspora_notebook.kafka.clients import KafkaProducer

    producer = KafkaProducer(client=admin)  # type: ignore[arg-type]  # the seed's defaults
    t0 = time.perf_counter()
    for doc in docs:
        producer.send(topic, doc)
    producer.flush(600)
    dt = time.perf_counter() - t0
    producer.close()
    return len(docs) / dt


def ours(admin: AdminClient, topic: str, frame: pd.DataFrame, engine: str = "confluent"
         ) -> float:
    from diaspora_notebook import topics

    t0 = time.perf_counter()
    done = topics.produce(topic, frame, engine=engine, client=admin, progress=False)  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    assert done.count == len(frame)
    return len(frame) / dt


def quix(fabric: Fabric, admin: AdminClient, topic: str, frame: pd.DataFrame,
         python: Path) -> float | None:
    """quixstreams' producer in the peers' venv (it pins an older confluent-kafka)."""
    with_file = Path(f"/tmp/bench-write-{uuid.uuid4().hex[:8]}.parquet")
    frame.to_parquet(with_file)
    kp = admin.kp
    pw = Path(f"/tmp/bench-pw-{uuid.uuid4().hex[:8]}")
    pw.write_text(kp["sasl_plain_password"])
    pw.chmod(0o600)
    try:
        out = subprocess.run(
            [str(python), str(HERE / "peers.py"), "quix_produce", "--topic", topic,
             "--n", str(len(frame)), "--bootstrap", ",".join(kp["bootstrap_servers"]),
             "--user", kp["sasl_plain_username"], "--password-file", str(pw),
             "--ca", kp["ssl_cafile"], "--parquet", str(with_file)],
            capture_output=True, text=True, timeout=1800, check=False)
    finally:
        with_file.unlink(missing_ok=True)
        pw.unlink(missing_ok=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        print(f"[quix] failed: {out.stderr[-800:]}")
        return None
    return float(json.loads(lines[-1])["events_per_s"])


def throughput(fabric: Fabric, admin: AdminClient, rd: dict[str, Any], shape: str, n: int,
               kp_n: int, python: Path | None) -> dict[str, Any]:
    frame = FRAMES[shape](n)
    docs = as_dicts(frame)
    raw = [json.dumps(d, default=_json_default).encode() for d in docs]
    size = int(np.mean([len(r) for r in raw[:1000]]))
    rates: dict[str, float] = {}
    made: list[str] = []

    def topic() -> str:
        t = new_topic(fabric, f"bench-write-{shape}")
        made.append(t)
        return t

    gc.collect()
    rates["produce_df"] = ours(admin, topic(), frame)
    gc.collect()
    rates["ck_dumps"] = ck_loop(rd, topic(), docs, None)
    gc.collect()
    rates["ck_raw"] = ck_loop(rd, topic(), None, raw)
    gc.collect()
    rates["kp_seed"] = kp_seed(admin, topic(), docs[:kp_n])
    if python is not None:
        got = quix(fabric, admin, topic(), frame, python)
        if got is not None:
            rates["quix"] = got
    drop_topics(fabric, *made)
    out = {"shape": shape, "n": n, "bytes": size, "events_per_s": rates,
           "vs_ck_dumps": rates["produce_df"] / rates["ck_dumps"],
           "vs_ck_raw": rates["produce_df"] / rates["ck_raw"],
           "vs_kp_seed": rates["produce_df"] / rates["kp_seed"]}
    if "quix" in rates:
        out["vs_quix"] = rates["produce_df"] / rates["quix"]
    labels = {"produce_df": "topics.produce(df), confluent",
              "ck_dumps": "librdkafka loop + json.dumps per event",
              "ck_raw": "librdkafka, payloads pre-encoded",
              "kp_seed": f"seed KafkaProducer (kafka-python, {kp_n:,})",
              "quix": "quixstreams producer"}
    for k, v in rates.items():
        print(f"[{shape}] {labels[k]:<44} {v:>10,.0f} events/s")
    line = (f"[{shape}] produce/dumps_loop = {out['vs_ck_dumps']:.2f} (goal >= 1.0)   "
            f"produce/pre-encoded = {out['vs_ck_raw']:.2f} (goal >= 0.5)   "
            f"produce/seed = {out['vs_kp_seed']:.1f} (goal >= 10)")
    if "vs_quix" in out:
        line += f"   produce/quix = {out['vs_quix']:.2f} (goal > 1)"
    print(line, flush=True)
    return out


def bare_lateness(rate: int, seconds: float) -> dict[str, float]:
    """How late a loop that only sleeps until each row's time is: the scheduler's share."""
    due = np.arange(int(rate * seconds)) / rate
    lags, pos, t0 = [], 0, time.monotonic()
    while pos < len(due):
        now = time.monotonic() - t0
        j = int(np.searchsorted(due, now, side="right"))
        if j <= pos:
            time.sleep(min(max(due[pos] - now, 0.0), 0.05))
            continue
        lags.append(time.monotonic() - t0 - due[pos:j])
        pos = j
    ms = np.concatenate(lags) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max())}


def replay_part(fabric: Fabric, admin: AdminClient, rate: int, seconds: float,
                max_n: int) -> dict[str, Any]:
    from diaspora_notebook import topics

    base = bare_lateness(rate, min(seconds, 10.0))
    print(f"[replay] the machine's own: a bare paced loop (sleep until due, nothing else) at "
          f"{rate:,}/s is late by p50 {base['p50']:.2f} ms, p99 {base['p99']:.2f} ms, max "
          f"{base['max']:.1f} ms", flush=True)
    n = int(rate * seconds)
    frame = small_frame(n)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frame["timestamp"] = start + pd.to_timedelta(np.arange(n) * (1000 / rate), unit="ms")
    target = new_topic(fabric, "bench-replay")
    handle = topics.replay(frame, target, speed=1.0, client=admin)  # type: ignore[arg-type]
    handle.wait()
    late = handle.lateness()
    print(f"[replay] speed=1.0 at {rate:,}/s for {seconds:.0f} s: lateness p50 "
          f"{late['p50']:.2f} ms, p99 {late['p99']:.2f} ms, max {late['max']:.1f} ms "
          f"(goal p99 <= 20 ms)", flush=True)
    big = small_frame(max_n)
    big["timestamp"] = start + pd.to_timedelta(np.arange(max_n), unit="ms")
    t_max = new_topic(fabric, "bench-replay-max")
    t0 = time.perf_counter()
    topics.replay(big, t_max, speed="max", client=admin, wait=True)  # type: ignore[arg-type]
    replay_rate = max_n / (time.perf_counter() - t0)
    t_prod = new_topic(fabric, "bench-replay-prod")
    t0 = time.perf_counter()
    topics.produce(t_prod, big, client=admin, progress=False)  # type: ignore[arg-type]
    produce_rate = max_n / (time.perf_counter() - t0)
    print(f"[replay] speed='max' {replay_rate:,.0f}/s vs produce {produce_rate:,.0f}/s = "
          f"{replay_rate / produce_rate:.2f} (goal >= 0.8)", flush=True)
    drop_topics(fabric, target, t_max, t_prod)
    return {"rate": rate, "seconds": seconds, "lateness_ms": late, "bare_loop_ms": base,
            "max_events_per_s": replay_rate, "produce_events_per_s": produce_rate,
            "max_vs_produce": replay_rate / produce_rate}


def large_child(home: str, path: str, topic: str) -> None:
    """In a fresh process: produce the Parquet file, print peak RSS."""
    from diaspora_notebook import topics

    fabric = Fabric.at(home)
    admin = AdminClient(fabric)
    start = psutil.Process().memory_info().rss
    peak = [start]
    import threading

    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], psutil.Process().memory_info().rss)
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    done = topics.produce(topic, path, client=admin, progress=False)  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    stop.set()
    print(json.dumps({"rows": done.count, "seconds": dt, "peak_rss_mb": peak[0] / MB,
                      "start_rss_mb": start / MB}))


def large_part(fabric: Fabric, home: str, rows: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(f"/tmp/bench-large-{uuid.uuid4().hex[:8]}.parquet")
    with pq.ParquetWriter(path, pa.Table.from_pandas(small_frame(10), preserve_index=False)
                          .schema) as writer:
        step = 500_000
        for s in range(0, rows, step):
            part = small_frame(min(step, rows - s))
            part["seq"] += s
            writer.write_table(pa.Table.from_pandas(part, preserve_index=False))
    topic = new_topic(fabric, "bench-large")
    try:
        out = subprocess.run([sys.executable, __file__, "--large-child", str(path), topic,
                              "--home", home], capture_output=True, text=True, timeout=3600,
                             check=True)
    finally:
        path.unlink(missing_ok=True)
        drop_topics(fabric, topic)
    got = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    print(f"[large] {got['rows']:,} rows from Parquet in {got['seconds']:.0f} s "
          f"({got['rows'] / got['seconds']:,.0f}/s), peak RSS {got['peak_rss_mb']:.0f} MB "
          f"(goal <= 300 MB; {got['start_rss_mb']:.0f} MB before producing)", flush=True)
    return got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None)
    parser.add_argument("--n", type=int, default=1_000_000, help="rows of the small shape")
    parser.add_argument("--wide-n", type=int, default=200_000, help="rows of the wide shape")
    parser.add_argument("--kp-n", type=int, default=100_000,
                        help="rows for the (slow) seed KafkaProducer")
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-n", type=int, default=300_000, help="rows of replay speed=max")
    parser.add_argument("--parts", default="throughput,replay")
    parser.add_argument("--large", action="store_true", help="+ the 10M-row Parquet (RSS)")
    parser.add_argument("--large-rows", type=int, default=10_000_000)
    parser.add_argument("--large-child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    if args.large_child:
        large_child(args.home, *args.large_child)
        return 0
    if args.quick:
        args.n, args.wide_n, args.kp_n, args.seconds, args.max_n = 5000, 2000, 2000, 3.0, 5000
        args.large_rows, args.no_peers = 50_000, True
    fabric = Fabric.at(args.home)
    admin = AdminClient(fabric)
    rd = to_librdkafka(admin.kp)
    parts = set(args.parts.split(","))
    python = None
    if not args.no_peers and "throughput" in parts:
        from read_path import ensure_bench_venv  # the peers' venv (quixstreams)

        python = ensure_bench_venv()
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg_start": list(os.getloadavg())}
    if "throughput" in parts:
        results["small"] = throughput(fabric, admin, rd, "small", args.n, args.kp_n, python)
        results["wide"] = throughput(fabric, admin, rd, "wide", args.wide_n, args.kp_n, python)
    if "replay" in parts:
        results["replay"] = replay_part(fabric, admin, args.rate, args.seconds, args.max_n)
    if args.large:
        results["large"] = large_part(fabric, str(fabric.home.root), args.large_rows)
    results["load_avg_end"] = list(os.getloadavg())
    print(f"load average: start {results['load_avg_start']}, end {results['load_avg_end']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
