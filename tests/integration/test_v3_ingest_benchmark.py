"""Smoke run of benchmarks/v3_ingest.py with tiny sizes on the session fabric: every engine's part
runs and prints its line; no timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "v3_ingest.py"
LABELS = ("v1_scram_confluent", "v3_iam_confluent", "v3_iam_kafka_python", "v3_rest")


def test_v3_ingest_benchmark_smoke(fabric, tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARK), "--home", str(fabric.home.root), "--n", "200",
         "--repeat", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "200 events per topic, best of 1:" in proc.stdout, proc.stdout
    for label in LABELS:
        assert f"  {label} " in proc.stdout and "of v1/SCRAM)" in proc.stdout, proc.stdout
    results = json.loads(out.read_text())
    assert set(results["engines"]) == set(LABELS)
    assert all(row["events_per_s"] > 0 for row in results["engines"].values())
