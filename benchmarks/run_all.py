"""Every performance ratio of diaspora-notebook, measured in one run, as one table (and JSON).

    python benchmarks/run_all.py                      # the fabric at DIASPORA_FABRIC_HOME
    python benchmarks/run_all.py --short --home /tmp/bench-home --json /tmp/out.json

Measures, on one machine in one run:
  * LiveDataFrame ingest vs a raw kafka-python consume loop (benchmarks/live_ingest.py),
  * our KafkaProducer vs kafka-python's, same settings and serializer (producer_ratio.py),
  * web-service register_topic / create_key p50 and p99, against GET /healthz (service_latency.py),
  * fabric cold start on a fresh home, 1 broker (and 3 brokers unless --short) (cold_start.py).
If the fabric at --home is not running, it is started first and stopped again at the end.
Results go to benchmarks/results/latest.json (latest-short.json with --short) unless --json;
benchmarks/plot.py draws docs/img/performance.png from them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cold_start  # noqa: E402
import live_ingest  # noqa: E402
import producer_ratio  # noqa: E402
import service_latency  # noqa: E402

from diaspora_notebook.fabric.fabric import Fabric  # noqa: E402

RESULTS = HERE / "results"

FULL = {"ingest_n": 200_000, "ingest_repeat": 2, "max_rows": 10_000, "produce_n": 100_000,
        "produce_repeat": 3, "service_n": 50, "cold_brokers": [1, 3]}
SHORT = {"ingest_n": 20_000, "ingest_repeat": 2, "max_rows": 5_000, "produce_n": 20_000,
         "produce_repeat": 2, "service_n": 10, "cold_brokers": [1]}


def machine() -> dict[str, Any]:
    import kafka
    import pandas

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "kafka_python": kafka.__version__,
            "pandas": pandas.__version__, "load_avg": list(os.getloadavg())}


def measure_ingest(fabric: Fabric, n: int, repeat: int, max_rows: int) -> dict[str, Any]:
    config = fabric.admin_config()
    topic = live_ingest.new_topic(fabric, "bench-all-ingest")
    produce_rate = live_ingest.produce(config, topic, n)
    raw, live = [], []
    for i in range(repeat):  # alternate, so that load on the machine hits both alike
        order = ("raw", "live") if i % 2 == 0 else ("live", "raw")
        for kind in order:
            gc.collect()
            if kind == "raw":
                raw.append(live_ingest.raw_loop(config, topic, n))
            else:
                live.append(live_ingest.live_ingest(config, topic, n, max_rows))
    best = max(live, key=lambda r: r["events_per_s"])
    return {"n": n, "repeat": repeat, "max_rows": max_rows, "produce_events_per_s": produce_rate,
            "raw_events_per_s": max(raw), "live_events_per_s": best["events_per_s"],
            "live_df_seconds": best["df_s"], "ratio": best["events_per_s"] / max(raw)}


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ing = results["live_ingest"]
    rows.append({"what": f"LiveDataFrame ingest vs raw kafka-python consume (n={ing['n']:,})",
                 "ours": f"{ing['live_events_per_s']:,.0f} ev/s",
                 "baseline": f"{ing['raw_events_per_s']:,.0f} ev/s",
                 "ratio": ing["ratio"], "target": ">= 0.8"})
    pro = results["producer"]
    rows.append({"what": f"diaspora KafkaProducer vs kafka-python KafkaProducer (n={pro['n']:,})",
                 "ours": f"{pro['ours_events_per_s']:,.0f} ev/s",
                 "baseline": f"{pro['raw_events_per_s']:,.0f} ev/s",
                 "ratio": pro["ratio"], "target": ">= 0.95"})
    svc = results["service"]
    health = svc["healthz"]
    for call in ("register_topic", "create_key"):
        for pct in ("p50", "p99"):
            rows.append({"what": f"service {call} {pct} vs GET /healthz {pct}",
                         "ours": f"{svc[call][pct + '_ms']:.1f} ms",
                         "baseline": f"{health[pct + '_ms']:.1f} ms",
                         "ratio": svc[call][pct + "_ms"] / health[pct + "_ms"], "target": "-"})
    for cold in results["cold_start"]:
        b = cold["brokers"]
        rows.append({"what": f"fabric cold start, {b} broker{'s' if b > 1 else ''} "
                             "(fresh home -> ready)",
                     "ours": f"{cold['cold_ready_s']:.1f} s",
                     "baseline": f"restart {cold['restart_ready_s']:.1f} s",
                     "ratio": cold["cold_ready_s"] / cold["restart_ready_s"], "target": "-"})
    return rows


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    header = ("measurement", "ours", "baseline", "ratio", "target")
    cells = [header] + [(r["what"], r["ours"], r["baseline"], f"{r['ratio']:.2f}", r["target"])
                        for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]

    def line(c: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) if i == 0 else v.rjust(w)
                                 for i, (v, w) in enumerate(zip(c, widths, strict=True))) + " |"

    out = [f"diaspora-notebook performance ({meta['mode']} run, {meta['when']}; "
           f"{meta['machine']['cpus']} CPUs, Python {meta['machine']['python']}, "
           f"kafka-python {meta['machine']['kafka_python']}; load avg at start "
           f"{meta['machine']['load_avg'][0]:.1f})",
           line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(c) for c in cells[1:]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="small N, no 3-broker cold start")
    parser.add_argument("--home", default=None, help="fabric home (default: the usual one)")
    parser.add_argument("--json", dest="json_out", default=None,
                        help="where the results go (default benchmarks/results/latest.json)")
    args = parser.parse_args(argv)
    plan = SHORT if args.short else FULL
    started = time.perf_counter()
    meta = {"mode": "short" if args.short else "full",
            "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "plan": plan}
    fabric = Fabric.at(args.home)
    started_here = not fabric.is_running()
    if started_here:
        print(f"starting the fabric at {fabric.home.root} ...", flush=True)
        fabric.up()
    results: dict[str, Any] = {"meta": meta}
    try:
        print("live ingest ...", flush=True)
        results["live_ingest"] = measure_ingest(fabric, plan["ingest_n"], plan["ingest_repeat"],
                                                plan["max_rows"])
        print("producer ratio ...", flush=True)
        client = producer_ratio.bench_client(fabric)
        try:
            results["producer"] = producer_ratio.run(client, plan["produce_n"],
                                                     plan["produce_repeat"])
        finally:
            shutil.rmtree(client.user_dir, ignore_errors=True)  # its tokens and key
        print("service latency ...", flush=True)
        results["service"] = service_latency.run(fabric, plan["service_n"])
    finally:
        if started_here:
            fabric.down(timeout=30)
    results["cold_start"] = []
    for brokers in plan["cold_brokers"]:
        print(f"cold start, {brokers} broker(s) ...", flush=True)
        results["cold_start"].append(cold_start.run(brokers))
    meta["load_avg_end"] = list(os.getloadavg())
    meta["seconds"] = time.perf_counter() - started
    rows = table_rows(results)
    results["table"] = rows
    print()
    print(render(rows, meta))
    out = Path(args.json_out) if args.json_out else RESULTS / (
        "latest-short.json" if args.short else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults: {out} ({meta['seconds']:.0f} s)")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
