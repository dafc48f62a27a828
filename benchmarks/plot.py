"""Draw docs/img/performance.png from benchmarks/results/latest.json (written by run_all.py).

    python benchmarks/plot.py [--results RESULTS.json] [--out PNG]

Three panels: the throughput ratios against their targets, service latency (p50 bar, p99
whisker) next to the GET /healthz baseline, and fabric cold start vs restart time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
DEFAULT_OUT = ROOT / "docs" / "img" / "performance.png"


def draw(results: dict[str, Any], out: Path) -> Path:
    meta = results["meta"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1, 1.3, 1]})

    # 1. throughput ratios vs targets
    ax = axes[0]
    ing, pro = results["live_ingest"], results["producer"]
    names = ["LiveDataFrame\nvs raw consume", "our KafkaProducer\nvs kafka-python"]
    ratios = [ing["ratio"], pro["ratio"]]
    targets = [0.8, 0.95]
    bars = ax.bar(names, ratios, color=["#4C72B0", "#55A868"], width=0.55)
    for bar, target, ratio in zip(bars, targets, ratios, strict=True):
        x0, w = bar.get_x(), bar.get_width()
        ax.hlines(target, x0 - 0.08, x0 + w + 0.08, colors="#C44E52", linestyles="--")
        ax.text(x0 + w / 2, ratio + 0.02, f"{ratio:.2f}", ha="center", va="bottom")
        ax.text(x0 + w + 0.1, target, f"target {target}", va="center", fontsize=8,
                color="#C44E52")
    ax.set_ylim(0, max(1.25, max(ratios) + 0.15))
    ax.set_ylabel("throughput ratio (ours / baseline)")
    ax.set_title("Throughput, same settings")
    ax.text(0.02, 0.02, f"ingest {ing['live_events_per_s']:,.0f} vs {ing['raw_events_per_s']:,.0f}"
            f" ev/s\nproduce {pro['ours_events_per_s']:,.0f} vs {pro['raw_events_per_s']:,.0f}"
            " ev/s", transform=ax.transAxes, fontsize=8, va="bottom")

    # 2. service latency: p50 bars, p99 whiskers
    ax = axes[1]
    svc = results["service"]
    calls = ["healthz", "list_topics", "create_key", "register_topic"]
    p50 = [svc[c]["p50_ms"] for c in calls]
    p99 = [svc[c]["p99_ms"] for c in calls]
    err = [[0] * len(calls), [b - a for a, b in zip(p50, p99, strict=True)]]
    ax.bar(calls, p50, yerr=err, capsize=6, color=["#8C8C8C", "#64B5CD", "#DD8452", "#C44E52"],
           width=0.6)
    for i, (a, b) in enumerate(zip(p50, p99, strict=True)):
        ax.text(i, b * 1.02 + 0.5, f"p50 {a:.1f}\np99 {b:.1f} ms", ha="center", va="bottom",
                fontsize=8)
    ax.set_ylim(0, max(p99) * 1.35 + 2)
    ax.set_ylabel("ms per call (bar p50, whisker p99)")
    ax.set_title(f"Web service latency (n={svc['n']} each, keep-alive HTTP)")

    # 3. cold start vs restart
    ax = axes[2]
    cold = results["cold_start"]
    labels = [f"{c['brokers']} broker{'s' if c['brokers'] > 1 else ''}" for c in cold]
    xs = range(len(cold))
    width = 0.38
    ax.bar([x - width / 2 for x in xs], [c["cold_ready_s"] for c in cold], width,
           label="fresh home", color="#4C72B0")
    ax.bar([x + width / 2 for x in xs], [c["restart_ready_s"] for c in cold], width,
           label="restart", color="#8172B2")
    for x, c in zip(xs, cold, strict=True):
        ax.text(x - width / 2, c["cold_ready_s"] + 0.2, f"{c['cold_ready_s']:.1f}s", ha="center")
        ax.text(x + width / 2, c["restart_ready_s"] + 0.2, f"{c['restart_ready_s']:.1f}s",
                ha="center")
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("seconds until every part answers")
    ax.set_title("Fabric start (`up`)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_ylim(0, max(c["cold_ready_s"] for c in cold) * 1.3)

    machine = meta["machine"]
    fig.suptitle(f"diaspora-notebook performance, {meta['mode']} run {meta['when']} "
                 f"({machine['cpus']} CPUs, Python {machine['python']}, kafka-python "
                 f"{machine['kafka_python']}, load avg {machine['load_avg'][0]:.1f})", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


READ_PATH_OUT = ROOT / "docs" / "img" / "read_path.png"
_READ_LABELS = {"raw_kp": "raw\nkafka-python", "raw_ck": "raw\nconfluent", "live_ck":
                "LiveDataFrame\nconfluent", "live_kp": "LiveDataFrame\nkafka-python",
                "streamz": "streamz\n(tuned)", "quixstreams": "quixstreams"}


def draw_read_path(results: dict[str, Any], out: Path) -> Path:
    """benchmarks/read_path.py's JSON -> events/s per consumer and shape, and the latencies."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1.3, 1.3, 1]})
    for ax, shape in zip(axes[:2], ("small", "wide"), strict=True):
        speeds = results[shape]["events_per_s"]
        keys = [k for k in _READ_LABELS if k in speeds]
        colors = ["#8C8C8C" if k.startswith("raw") else "#4C72B0" if k.startswith("live")
                  else "#DD8452" for k in keys]
        bars = ax.bar([_READ_LABELS[k] for k in keys], [speeds[k] for k in keys], color=colors)
        for bar, k in zip(bars, keys, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, speeds[k], f"{speeds[k]:,.0f}",
                    ha="center", va="bottom", fontsize=8)
        r = results[shape]
        note = (f"LiveDataFrame / raw kafka-python {r['ratio_live_vs_raw_kp']:.2f} (goal 5)\n"
                f"LiveDataFrame / raw confluent {r['ratio_live_vs_raw_ck']:.2f} (goal 0.5)")
        if "ratio_live_vs_best_peer" in r:
            note += f"\nLiveDataFrame / best peer {r['ratio_live_vs_best_peer']:.2f} (goal 1.5)"
        ax.text(0.98, 0.97, note, transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.set_ylim(0, max(speeds.values()) * 1.35)
        ax.set_ylabel("events/s until the DataFrame exists")
        ax.set_title(f"{shape}: {r['n']:,} events of ~{r['bytes']} B")
        ax.tick_params(axis="x", labelsize=7)
    ax = axes[2]
    lat = results["latency"]
    xs = range(len(lat))
    ax.bar([x - 0.2 for x in xs], [v["p50_ms"] for v in lat], 0.4, label="p50", color="#64B5CD")
    ax.bar([x + 0.2 for x in xs], [v["p99_ms"] for v in lat], 0.4, label="p99", color="#C44E52")
    ax.set_xticks(list(xs), [f"{v['rate']:,.0f} ev/s" for v in lat])
    for x, v in zip(xs, lat, strict=True):
        ax.text(x + 0.2, v["p99_ms"], f"{v['p99_ms']:.0f}", ha="center", va="bottom", fontsize=8)
    resp = results["responsiveness"]
    ax.set_title("produce -> widget (stub comm)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=8, loc="upper left")
    mem = results["memory"]
    ax.set_ylim(0, max(v["p99_ms"] for v in lat) * 1.45)
    ax.text(0.02, 0.80, f"1+1 under ingest: p99 {resp['p99_ms']:.0f} ms\n"
            f"{mem['window']:,}-row window: +{mem['rss_full_mb']:.0f} MB RSS",
            transform=ax.transAxes, ha="left", va="top", fontsize=8)
    fig.suptitle(f"Read path, one run ({results['cpus']} CPUs, load avg "
                 f"{results['load_avg_start'][0]:.1f} at start)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


WRITE_PATH_OUT = ROOT / "docs" / "img" / "write_path.png"
_WRITE_LABELS = {"produce_df": "topics.produce\n(df)", "ck_dumps": "librdkafka\n+ json.dumps",
                 "ck_raw": "librdkafka\npre-encoded", "kp_seed": "seed\nKafkaProducer",
                 "quix": "quixstreams\nproducer"}


def draw_write_path(results: dict[str, Any], out: Path) -> Path:
    """benchmarks/write_path.py's JSON -> events/s per writer and shape, and replay."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1.3, 1.3, 1]})
    for ax, shape in zip(axes[:2], ("small", "wide"), strict=True):
        r = results[shape]
        speeds = r["events_per_s"]
        keys = [k for k in _WRITE_LABELS if k in speeds]
        colors = ["#4C72B0" if k == "produce_df" else "#8C8C8C" if k.startswith("ck")
                  else "#DD8452" for k in keys]
        bars = ax.bar([_WRITE_LABELS[k] for k in keys], [speeds[k] for k in keys], color=colors)
        for bar, k in zip(bars, keys, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, speeds[k], f"{speeds[k]:,.0f}",
                    ha="center", va="bottom", fontsize=8)
        note = (f"produce / librdkafka + json.dumps {r['vs_ck_dumps']:.2f} (goal 1.0)\n"
                f"produce / pre-encoded {r['vs_ck_raw']:.2f} (goal 0.5)\n"
                f"produce / seed {r['vs_kp_seed']:.0f} (goal 10)")
        if "vs_quix" in r:
            note += f"\nproduce / quixstreams {r['vs_quix']:.2f} (goal > 1)"
        ax.text(0.98, 0.97, note, transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.set_ylim(0, max(speeds.values()) * 1.45)
        ax.set_ylabel("events/s until every message is acknowledged")
        ax.set_title(f"{shape}: {r['n']:,} rows of ~{r['bytes']} B")
        ax.tick_params(axis="x", labelsize=7)
    ax = axes[2]
    rp = results["replay"]
    late = rp["lateness_ms"]
    ax.bar(["p50", "p99", "max"], [late["p50"], late["p99"], late["max"]],
           color=["#64B5CD", "#C44E52", "#8C8C8C"])
    ax.axhline(20, color="#C44E52", linestyle="--")
    ax.text(2.4, 20, "goal p99 20 ms", va="bottom", ha="right", fontsize=8, color="#C44E52")
    ax.set_ylabel("ms late against the schedule")
    ax.set_title(f"replay speed=1 at {rp['rate']:,}/s for {rp['seconds']:.0f} s")
    text = f"speed='max' / produce: {rp['max_vs_produce']:.2f} (goal 0.8)"
    if "large" in results:
        lg = results["large"]
        text += (f"\n{lg['rows']:,}-row Parquet: peak RSS {lg['peak_rss_mb']:.0f} MB "
                 "(goal 300)")
    ax.text(0.02, 0.97, text, transform=ax.transAxes, ha="left", va="top", fontsize=8)
    ax.set_ylim(0, max(late["max"], 25) * 1.3)
    fig.suptitle(f"Write path, one run ({results['cpus']} CPUs, load avg "
                 f"{results['load_avg_start'][0]:.1f} at start)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(DEFAULT_RESULTS))
    parser.add_argument("--out", default=None)
    parser.add_argument("--read-path", action="store_true",
                        help="--results is benchmarks/read_path.py's JSON: draw read_path.png")
    parser.add_argument("--write-path", action="store_true",
                        help="--results is benchmarks/write_path.py's JSON: draw write_path.png")
    args = parser.parse_args(argv)
    data = json.loads(Path(args.results).read_text())
    if args.write_path:
        out = draw_write_path(data, Path(args.out or WRITE_PATH_OUT))
    elif args.read_path:
        out = draw_read_path(data, Path(args.out or READ_PATH_OUT))
    else:
        out = draw(data, Path(args.out or DEFAULT_OUT))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
