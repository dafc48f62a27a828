"""Fabric cold start: ``up`` on a fresh home until every part answers, then a warm restart.

    python benchmarks/cold_start.py [--brokers 1] [--brokers 3]

Each run creates a new temporary home, times ``Fabric.up`` from the call until it returns (the
brokers registered, the identity provider and the service answering ``/healthz``), records when
each step reported progress, times ``down``, then times a second ``up`` on the same home
(restart: nothing to create or format) and removes the home. The Kafka jars must already be in
the cache (``diaspora-fabric install``): downloading them is not part of a start.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from diaspora_notebook.fabric.fabric import Fabric

STEPS = (("created the fabric CA", "certificates"),
         ("formatted Kafka storage", "storage formatted"),
         ("starting", "brokers launched"),
         ("Kafka is ready", "brokers ready"),
         ("identity provider is ready", "identity provider ready"),
         ("web service is ready", "web service ready"))


def _timed_up(fabric: Fabric, brokers: int) -> tuple[float, dict[str, float]]:
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def progress(message: str) -> None:
        for prefix, step in STEPS:
            if message.startswith(prefix) and step not in marks:
                marks[step] = time.perf_counter() - start

    fabric.up(brokers=brokers, progress=progress)
    return time.perf_counter() - start, marks


def run(brokers: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"diaspora-cold{brokers}-"))
    fabric = Fabric.at(home)
    try:
        ready, marks = _timed_up(fabric, brokers)
        start = time.perf_counter()
        fabric.down(timeout=30)
        down = time.perf_counter() - start
        restart, restart_marks = _timed_up(fabric, brokers)
    finally:
        fabric.down(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    return {"brokers": brokers, "cold_ready_s": ready, "steps_s": marks, "down_s": down,
            "restart_ready_s": restart, "restart_steps_s": restart_marks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", type=int, action="append", choices=(1, 3))
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    results = [run(b) for b in args.brokers or [1]]
    for r in results:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in r["steps_s"].items())
        print(f"{r['brokers']} broker(s): ready in {r['cold_ready_s']:.1f} s ({steps}); "
              f"down {r['down_s']:.1f} s; restart ready in {r['restart_ready_s']:.1f} s")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
