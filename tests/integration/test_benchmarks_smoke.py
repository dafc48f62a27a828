"""Smoke run of benchmarks/run_all.py --short on a fresh home: it runs and prints the table.

No timing assertions: the measured numbers are recorded in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.launcher import tagged_processes

ROOT = Path(__file__).resolve().parents[2]
RUN_ALL = ROOT / "benchmarks" / "run_all.py"
PLOT = ROOT / "benchmarks" / "plot.py"


@pytest.mark.slow
def test_run_all_short_prints_the_table_and_cleans_up(tmp_path):
    home = tmp_path / "bench-home"
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(RUN_ALL), "--short", "--home", str(home),
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=480, cwd=ROOT)
    try:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    finally:
        Fabric.at(home).down(timeout=10)
    table = proc.stdout
    for row in ("| measurement", "LiveDataFrame ingest vs raw kafka-python consume",
                "diaspora KafkaProducer vs kafka-python KafkaProducer",
                "service register_topic p50 vs GET /healthz p50",
                "service create_key p99 vs GET /healthz p99",
                "fabric cold start, 1 broker"):
        assert row in table, table
    assert "3 brokers" not in table  # --short skips the 3-broker cold start
    results = json.loads(out.read_text())
    assert results["meta"]["mode"] == "short"
    assert results["live_ingest"]["ratio"] > 0 and results["producer"]["ratio"] > 0
    assert results["service"]["create_key"]["samples"] == results["service"]["n"]
    assert [c["brokers"] for c in results["cold_start"]] == [1]
    # the fabric it started for itself is stopped again
    assert tagged_processes(str(Fabric.at(home).home.root)) == []

    png = tmp_path / "performance.png"
    drawn = subprocess.run([sys.executable, str(PLOT), "--results", str(out), "--out", str(png)],
                           capture_output=True, text=True, timeout=120)
    assert drawn.returncode == 0, drawn.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
