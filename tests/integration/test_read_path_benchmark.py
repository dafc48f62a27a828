"""Smoke run of benchmarks/read_path.py --quick on the session fabric: every part runs and prints
its line; no timing assertions (the real figures are in docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "read_path.py"


def test_read_path_benchmark_smoke(fabric, tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARK), "--home", str(fabric.home.root), "--quick",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("live/raw_kafka-python = ", "live/raw_confluent = ", "kernel while the engine",
                 "memory: a 5,000-row window", "produce->widget at 1,000 events/s"):
        assert line in proc.stdout, proc.stdout
    results = json.loads(out.read_text())
    for shape in ("small", "wide"):
        speeds = results[shape]["events_per_s"]
        assert set(speeds) == {"raw_kp", "raw_ck", "live_ck", "live_kp"}
        assert all(v > 0 for v in speeds.values())
    assert results["memory"]["rows"] == 5_000
    assert results["latency"][0]["events"] == 2_000
