"""Smoke run of benchmarks/live_ingest.py on the session fabric: it runs and prints the ratios.

No timing assertions: the real numbers are recorded in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "live_ingest.py"


def test_live_ingest_benchmark_smoke(fabric, tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARK), "--home", str(fabric.home.root), "--n", "2000",
         "--repeat", "1", "--latency-seconds", "2", "--rate", "1000", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ratio b/a = " in proc.stdout and "ratio b/c = " in proc.stdout
    assert "events/s" in proc.stdout and "growth once the window is full" in proc.stdout
    assert "produce->widget p50" in proc.stdout
    results = json.loads(out.read_text())
    assert results["n"] == 2000
    assert results["ratio_b_a"] > 0 and results["ratio_b_c"] > 0
    assert results["latency"]["events"] == 2000
