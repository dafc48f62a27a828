"""Produce -> screen latency of live tables in a real JupyterLab and a real Chromium.

    python benchmarks/live_grid.py --home /tmp/grid-home                   # every candidate
    python benchmarks/live_grid.py --home /tmp/grid-home --candidates grid --rates 5000

The kernel of a notebook runs a ``LiveDataFrame`` on a fresh topic and shows one candidate
table; another process produces ``{"seq", "sent", "mark"}`` events at a steady rate. In the
page, a probe on every animation frame finds the newest ``mark`` the table shows (DOM text,
shadow roots included) - or, for a canvas grid, the newest one that reached the browser in a
widget message, counted at the next frame - so an event's latency is the time from ``send`` to
the first frame that shows it or a newer one: what a person watching the table sees.

Candidates:
  grid         the toolkit's table (``LiveView``): Perspective's datagrid, a replica in the
               browser, fed the new rows as Arrow
  perspective  perspective-python's widget as its docs show it (server mode: the browser asks
               the kernel for the visible rows after each update), fed ``update(tail)``
  ipydatagrid  ipydatagrid's DataGrid, whose only update is the whole frame (1,000 rows)

Topics (``--topics``):
  history      the topic already holds an event and the stream starts at "latest": a live table
               opened on a topic in use, the usual case (the grid draws the topic's newest
               record, and so its columns, before the first events)
  new          a fresh, empty topic: the first payloads bring the columns, and the grid is drawn
               a second time in the first second (``steady_p99_ms`` leaves that second out)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the Playwright driver of tests/lab/

from live_ingest import drop_topics, new_topic, on_screen_latencies  # noqa: E402
from read_path import pct  # noqa: E402

from diaspora_notebook.fabric.fabric import Fabric  # noqa: E402
from tests.lab.driver import LabBrowser, LabServer  # noqa: E402

SETUP = """\
import time
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.stream import LiveDataFrame
live = LiveDataFrame({topic!r}, start={start!r}, max_rows=200_000, engine="confluent",
                     consumer_config=Fabric.at({home!r}).admin_config(), refresh_hz={hz!r})
"""
CANDIDATES = {
    "grid": """\
from diaspora_notebook.notebook.widgets.live import LiveView
view = LiveView(live)
view""",
    "perspective": """\
import threading
from perspective.widget import PerspectiveWidget
COLS = ["seq", "sent", "mark", "offset"]
grid = PerspectiveWidget({"seq": "integer", "sent": "float", "mark": "string", "offset": "integer"},
                         limit=10_000, sort=[["offset", "desc"]])
def feed():
    shown = 0
    while live.running:
        n = live.frame.events
        if n > shown:
            grid.update(live.tail(min(n - shown, 10_000))[COLS])
            shown = n
        time.sleep(0.1)
threading.Thread(target=feed, daemon=True).start()
grid""",
    "ipydatagrid": """\
import threading
from ipydatagrid import DataGrid
COLS = ["seq", "sent", "mark", "offset"]
def newest():
    return live.tail(1000).reindex(columns=COLS).iloc[::-1].reset_index(drop=True)
grid = DataGrid(newest(), layout={"height": "300px"})
def feed():
    shown = 0
    while live.running:
        n = live.frame.events
        if n > shown:
            grid.data = newest()
            shown = n
        time.sleep(0.1)
threading.Thread(target=feed, daemon=True).start()
grid""",
}
#: what the page sees: the newest mark on screen (DOM text) or arrived in a comm message
PROBE = """(useMessages) => {
  const re = /\\u00a7(\\d+)\\u00a7/g;
  const area = () => document.querySelector('.jp-Cell:last-child .jp-OutputArea');
  function newestIn(root) {
    let best = -1;
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (n.nodeType === 3) {
        if (n.data.indexOf('\\u00a7') < 0) continue;
        for (const m of n.data.matchAll(re)) best = Math.max(best, +m[1]);
      } else if (n.shadowRoot) {
        best = Math.max(best, newestIn(n.shadowRoot));
      }
    }
    return best;
  }
  const probe = window.__probe = {samples: [], arrived: -1, shown: -1, running: true};
  if (useMessages) {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    kernel.iopubMessage.connect((_, msg) => {
      if (msg.header.msg_type !== 'comm_msg') return;
      const text = JSON.stringify(msg.content);
      for (const m of text.matchAll(re)) probe.arrived = Math.max(probe.arrived, +m[1]);
    });
  }
  function frame() {
    if (!probe.running) return;
    const root = area();
    const newest = useMessages ? probe.arrived : (root ? newestIn(root) : -1);
    if (newest > probe.shown) {
      probe.shown = newest;
      probe.samples.push([Date.now() / 1000, newest]);
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
}"""
PRODUCER = """\
import json, sys, time
from confluent_kafka import Producer
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.kafka.confluent import to_librdkafka
home, topic, out, warm = sys.argv[1], sys.argv[2], sys.argv[5], sys.argv[6]
rate, seconds = float(sys.argv[3]), float(sys.argv[4])
producer = Producer({**to_librdkafka(Fabric.at(home).admin_config()), "linger.ms": 1, "acks": 1})
# a producer that is already connected, as a running experiment's is: its first connection
# (TLS, SCRAM) is not part of produce -> screen; another topic, so the table never sees it
producer.produce(warm, b"{}")
producer.flush(30)
producer.list_topics(topic, timeout=10)
total, sent = int(rate * seconds), []
step = max(int(rate / 1000), 1)  # a few events per millisecond at high rates
start = time.time()
for i in range(0, total, step):
    delay = start + i / rate - time.time()
    if delay > 0:
        time.sleep(delay)
    now = time.time()
    for j in range(i, min(i + step, total)):
        producer.produce(topic, json.dumps({"seq": j, "sent": now, "mark": f"\\u00a7{j}\\u00a7"}))
        sent.append(now)
    producer.poll(0)
producer.flush(60)
json.dump(sent, open(out, "w"))
"""


def notebook(cells: list[str]) -> dict[str, Any]:
    return {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [],
                       "execution_count": None} for c in cells],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def seed(fabric: Fabric, topic: str) -> None:
    """One earlier event (no mark, so the probe never counts it)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**fabric.admin_config())
    try:
        producer.send(topic, json.dumps({"seq": -1, "sent": 0.0, "mark": "-"}).encode())
        producer.flush(30)
    finally:
        producer.close()


def run_one(fabric: Fabric, server: LabServer, browser: LabBrowser, candidate: str, rate: float,
            seconds: float, inspect: Any = None, history: bool = False,
            refresh_hz: float = 10.0, producer_nice: int = 0) -> dict[str, Any]:
    """One candidate at one rate; ``inspect(page)`` is called once everything is shown;
    ``history``: the topic holds an event already and the stream starts at "latest";
    ``producer_nice``: the producer's niceness (it stands in for an instrument on another
    machine, but here takes a third of a core at 50,000 events/s from what is measured)."""
    topic = new_topic(fabric, "bench-grid")
    warm = new_topic(fabric, "bench-warm")
    if history:
        seed(fabric, topic)
    name = f"{candidate}-{int(rate)}.ipynb"
    cells = [SETUP.format(topic=topic, home=str(fabric.home.root),
                          start="latest" if history else "earliest", hz=refresh_hz),
             CANDIDATES[candidate]]
    (server.root / name).write_text(json.dumps(notebook(cells)))
    page = browser.new_page()
    try:
        page.open(name)
        assert page.run_all(), page.errors()
        time.sleep(3.0)  # the table has drawn itself once (perspective loads its wasm)
        page.page.evaluate(PROBE, candidate == "ipydatagrid")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "sent.json"
            nice = ["nice", "-n", str(producer_nice)] if producer_nice else []
            subprocess.run([*nice, sys.executable, "-c", PRODUCER, str(fabric.home.root), topic,
                            str(rate), str(seconds), str(out), warm], check=True)
            time.sleep(3.0)
            sent = json.loads(out.read_text())
        if inspect is not None:
            inspect(page)
        samples = page.page.evaluate("() => { window.__probe.running = false;"
                                     " return window.__probe.samples; }")
        errors = page.errors()
    finally:
        page.close()
        server.shutdown_kernels()
        drop_topics(fabric, topic, warm)
    # event i is on screen from the first frame whose newest seq is i or more
    got = on_screen_latencies([(t, int(newest) + 1) for t, newest in samples], sent)
    return {"candidate": candidate, "rate": rate, "history": history, "events": len(sent),
            "producer_nice": producer_nice, "send_s": sent[-1] - sent[0] if sent else 0.0,
            "frames": len(samples),
            "seen": len(got), "p50_ms": pct(got, 50) * 1000, "p99_ms": pct(got, 99) * 1000,
            "max_ms": max(got) * 1000 if got else float("nan"), "errors": errors,
            "steady_p99_ms": pct(got[int(rate):], 99) * 1000,
            "first_ms": got[0] * 1000 if got else float("nan"),
            "max_ms_by_second": [round(max(got[i:i + int(rate)]) * 1000)
                                 for i in range(0, len(got), int(rate))]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None, help="fabric home (default: the usual one)")
    parser.add_argument("--candidates", default="grid,perspective,ipydatagrid")
    parser.add_argument("--rates", default="5000,50000", help="events/s")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--topics", default="history,new", help="history, new or both")
    parser.add_argument("--refresh-hz", type=float, default=10.0,
                        help="LiveDataFrame(refresh_hz=): most view refreshes a second")
    parser.add_argument("--producer-nice", type=int, default=0,
                        help="niceness of the producer process (0: as the rest; 19: it yields"
                             " the cores to the kernel, broker and browser)")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    fabric = Fabric.at(args.home)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = LabServer(root=Path(tmp) / "nb", state=Path(tmp) / "state").start()
        try:
            with LabBrowser(server) as browser:
                runs = itertools.product([t == "history" for t in args.topics.split(",")],
                                         [float(r) for r in args.rates.split(",")],
                                         range(args.repeat), args.candidates.split(","))
                for history, rate, _, candidate in runs:
                    r = run_one(fabric, server, browser, candidate, rate, args.seconds,
                                history=history, refresh_hz=args.refresh_hz,
                                producer_nice=args.producer_nice)
                    results.append(r)
                    print(f"{'history' if history else 'new':<8}{candidate:<12}"
                          f" {rate:>7,.0f} ev/s  p50 {r['p50_ms']:5.0f} ms"
                          f"  p99 {r['p99_ms']:5.0f} ms  after 1 s: p99"
                          f" {r['steady_p99_ms']:5.0f} ms  max {r['max_ms']:5.0f} ms"
                          f"  frames {r['frames']:5d}  seen {r['seen']:,}/{r['events']:,}"
                          f" sent in {r['send_s']:.1f} s"
                          f"  load {os.getloadavg()[0]:.1f}"
                          + (f"  ERRORS {r['errors']}" if r["errors"] else ""), flush=True)
        finally:
            server.stop()
    for history, rate in sorted({(r["history"], r["rate"]) for r in results}):
        same = [r for r in results if (r["history"], r["rate"]) == (history, rate)]
        ours = [r for r in same if r["candidate"] == "grid"]
        for r in same:
            if ours and r["candidate"] != "grid":
                print(f"{'history' if history else 'new':<8}{rate:>7,.0f} ev/s"
                      f"  {r['candidate']} / grid: p50 {r['p50_ms'] / ours[0]['p50_ms']:.1f}x"
                      f"  p99 {r['p99_ms'] / ours[0]['p99_ms']:.1f}x")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
