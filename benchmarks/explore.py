"""The explorer on a large topic, measured in one run and printed as figures and ratios.

    python benchmarks/explore.py --home /tmp/fabric-home [--n 1000000] [--json out.json]
    python benchmarks/explore.py --home H --quick        # small sizes (a smoke run)

As a fresh user of the fabric (login, register, a key: ACLs are checked on every request), on
one 4-partition topic of ``n`` small JSON events produced in two halves (the time between them
is the seek target), it measures:
  first page   ``topics.read(topic)``: the newest 50, merged over the partitions (goal < 1 s)
  seek         ``topics.read(topic, start=<time>)``: offsets-for-times, 50 rows (goal < 1 s)
  plain read   the engine's ``read_batches`` over the whole topic, decoded (events/s)
  filtered     ``topics.read(..., filter=...)`` over the whole topic, few matches (events/s;
               goal >= 50 % of the plain read)
  paging       the explorer widget (stub comm) paging through the whole topic with Next, 1,000
               rows a page: RSS at each page (goal: flat, bounded)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_path import produce_fast

from diaspora_notebook import topics
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.kafka.read import read_batches
from diaspora_notebook.testing.comm import CountingComm
from diaspora_notebook.testing.identities import create_identity, login

MB = 1024 * 1024


def event(i: int) -> bytes:
    return json.dumps({"seq": i, "sensor": f"s{i % 16}", "reading": {
        "temp": 20.0 + (i % 100) / 10, "ok": i % 7 != 0}}).encode()


def timed(call: Any, repeat: int) -> tuple[float, Any]:
    """The median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def plain_read(client: Any, topic: str, n: int) -> float:
    t0 = time.perf_counter()
    got = sum(b.num_rows for b in read_batches(client, topic, start="earliest", timeout=30))
    elapsed = time.perf_counter() - t0
    assert got == n, (got, n)
    return n / elapsed


def filtered_read(client: Any, topic: str, n: int) -> tuple[float, Any]:
    t0 = time.perf_counter()
    got = topics.read(topic, start="earliest", filter="value.seq % 100000 == 7 and "
                      "`value.reading.ok` == True", limit=10_000, scan_budget=None,
                      timeout=600, client=client)
    elapsed = time.perf_counter() - t0
    assert got.total_scanned == n and got.stopped_by == "end", got
    return n / elapsed, got


def paging(client: Any, topic: str, n: int, page_size: int) -> dict[str, Any]:
    """Page through the whole topic with the widget's Next button; RSS after each page."""
    import comm

    from diaspora_notebook.notebook.widgets.explorer import Explorer

    comm.create_comm = lambda *a, **k: CountingComm()
    proc = psutil.Process()
    ui = Explorer(topic, client=client, page_size=page_size, load=False)
    ui.start.value = "oldest"
    ui.buttons["load"].click()
    ui.state.wait()
    seen, pages, rss = 0, 0, []
    t0 = time.perf_counter()
    while ui.state.page is not None and len(ui.state.page.frame):
        seen += len(ui.state.page.frame)
        pages += 1
        if pages % 10 == 1:
            gc.collect()
            rss.append(proc.memory_info().rss / MB)
        ui.buttons["next"].click()
        ui.state.wait(timeout=60)
        if ui.state.error is not None:  # the page stayed: do not count it again
            raise RuntimeError(f"paging failed after {pages} pages: {ui.state.error}")
    elapsed = time.perf_counter() - t0
    ui.close()
    assert seen == n, (seen, n)
    first = rss[min(2, len(rss) - 1)]
    return {"pages": pages, "page_size": page_size, "rows_seen": seen,
            "seconds_per_page": elapsed / pages, "rss_start_mb": first,
            "rss_end_mb": rss[-1], "rss_max_mb": max(rss), "rss_growth_mb": rss[-1] - first}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None, help="fabric home (default: the usual one)")
    parser.add_argument("--n", type=int, default=1_000_000, help="events in the topic")
    parser.add_argument("--page-size", type=int, default=1000, help="rows per page (paging)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-paging", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20,000 events (a smoke run)")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeat = 20_000, 2
    fabric = Fabric.at(args.home)
    with tempfile.TemporaryDirectory() as tmp:
        client = login(create_identity(fabric, Path(tmp), prefix="bench-explore"))
        topic = f"bench-explore-{uuid.uuid4().hex[:8]}"
        topics.register(topic, create=True, partitions=4, client=client)
        try:
            return run(args, client, topic)
        finally:
            topics.unregister(topic, client=client)
            client.logout()


def run(args: argparse.Namespace, client: Any, topic: str) -> int:
    rd = client.connection_config("confluent-kafka")
    half = args.n // 2
    rate = produce_fast(rd, topic, half, event)
    time.sleep(1.0)
    middle = time.time()
    time.sleep(0.5)
    rate = (rate + produce_fast(rd, topic, args.n - half, event, start=half)) / 2
    print(f"produced {args.n:,} events of ~{len(event(args.n // 2))} B to 4 partitions "
          f"at {rate:,.0f}/s")
    results: dict[str, Any] = {"n": args.n, "cpus": os.cpu_count(),
                               "load_avg_start": list(os.getloadavg())}
    t0 = time.perf_counter()  # the first read of the process: imports, key, connections
    topics.read(topic, client=client)
    cold = time.perf_counter() - t0
    first, page = timed(lambda: topics.read(topic, client=client), args.repeat)
    assert len(page.frame) == 50 and page.frame["value.seq"].min() >= args.n - 1000
    seek, found = timed(lambda: topics.read(topic, start=middle, limit=50, client=client),
                        args.repeat)
    assert found.total_scanned <= 50 * 4 and int(found.frame["value.seq"].min()) >= half
    print(f"first page (newest 50):  {first * 1000:6.0f} ms  (goal < 1000 ms); the first read "
          f"of the process (imports, connections) {cold * 1000:.0f} ms")
    print(f"seek to a time (50 rows): {seek * 1000:6.0f} ms  (goal < 1000 ms); scanned "
          f"{found.total_scanned} events to find them")
    plains, filtereds = [], []
    for _ in range(args.repeat):  # interleaved, so the machine's load hits both alike
        plains.append(plain_read(client, topic, args.n))
        rate_f, got = filtered_read(client, topic, args.n)
        filtereds.append(rate_f)
    plain, filtered = max(plains), max(filtereds)
    ratio = filtered / plain
    print(f"engine plain read, decoded:   {plain:>10,.0f} events/s")
    print(f"filtered scan ({len(got.frame)} matches): {filtered:>10,.0f} events/s  "
          f"ratio {ratio:.2f} (goal >= 0.5)")
    results.update(first_page_ms=first * 1000, first_read_of_process_ms=cold * 1000,
                   seek_ms=seek * 1000, seek_scanned=found.total_scanned,
                   plain_events_per_s=plain, filtered_events_per_s=filtered,
                   filtered_ratio=ratio)
    if not args.no_paging:
        pg = paging(client, topic, args.n, args.page_size)
        results["paging"] = pg
        print(f"widget paging: {pg['pages']:,} pages of {pg['page_size']} "
              f"({pg['seconds_per_page'] * 1000:.0f} ms each); RSS {pg['rss_start_mb']:.0f} -> "
              f"{pg['rss_end_mb']:.0f} MB (max {pg['rss_max_mb']:.0f}, growth "
              f"{pg['rss_growth_mb']:+.0f} MB)")
    results["load_avg_end"] = list(os.getloadavg())
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
