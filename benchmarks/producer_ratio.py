"""Our ``diaspora_notebook.KafkaProducer`` vs kafka-python's ``KafkaProducer``, same settings.

    python benchmarks/producer_ratio.py --home /tmp/bench-home [--n 100000] [--repeat 3]

Both producers log in with the same Diaspora key (a fresh account: login, register_topic,
create_key), both serialize values with kafka-python's ``JsonSerializer`` (our default), and
both get the same ``acks``, ``linger_ms``, ``batch_size``, ``max_block_ms`` and bootstrap
timeout. Each run sends N small dict events to a fresh single-partition topic and flushes; only
``send`` + ``flush`` is timed (construction is reported separately). Runs alternate
ours/raw so that load on the machine hits both alike; the best of ``--repeat`` counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import kafka
from kafka.serializer import JsonSerializer

import diaspora_notebook
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.kafka.clients import BOOTSTRAP_TIMEOUT_MS, KafkaAdmin, NewTopic
from diaspora_notebook.testing.identities import create_identity

SETTINGS = {"acks": 1, "linger_ms": 5, "batch_size": 256 * 1024, "max_block_ms": 15000}


def bench_client(fabric: Fabric, prefix: str = "bench") -> Any:
    """A logged-in ``Client`` of a fresh account with a ready key (user dir in a temp dir)."""
    identity = create_identity(fabric, Path(tempfile.mkdtemp(prefix=f"diaspora-{prefix}-")),
                               prefix=prefix)
    client = identity.client()
    client.login()
    client.create_key()
    client.block_until_ready(timeout=60)
    return client


def new_topic(client: Any, prefix: str) -> str:
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.register_topic(topic)
    admin = KafkaAdmin(client=client)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    return topic


def event(i: int) -> dict[str, Any]:
    return {"seq": i, "sensor": f"s{i % 16}", "reading": {"temp": 20.0 + (i % 100) / 10,
                                                          "ok": i % 7 != 0}}


def _one_run(kind: str, client: Any, topic: str, n: int) -> dict[str, float]:
    start = time.perf_counter()
    if kind == "ours":
        producer = diaspora_notebook.KafkaProducer(client=client, **SETTINGS)
    else:
        producer = kafka.KafkaProducer(**client.kafka_config(), **SETTINGS,
                                       value_serializer=JsonSerializer(),
                                       bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    built = time.perf_counter() - start
    try:
        producer.send(topic, event(-1)).get(timeout=30)  # metadata and connection in hand
        start = time.perf_counter()
        for i in range(n):
            producer.send(topic, event(i))
        producer.flush(timeout=120)
        elapsed = time.perf_counter() - start
    finally:
        producer.close(timeout=10)
    return {"events_per_s": n / elapsed, "construct_s": built}


def run(client: Any, n: int, repeat: int) -> dict[str, Any]:
    """Alternate ours and raw ``repeat`` times each on one topic; best of each."""
    topic = new_topic(client, "bench-produce")
    _one_run("raw", client, topic, min(n, 2000))  # warm-up: TLS, SCRAM, JIT-less caches
    _one_run("ours", client, topic, min(n, 2000))
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "raw": []}
    for i in range(repeat):
        for kind in (("ours", "raw") if i % 2 == 0 else ("raw", "ours")):
            runs[kind].append(_one_run(kind, client, topic, n))
    ours = max(r["events_per_s"] for r in runs["ours"])
    raw = max(r["events_per_s"] for r in runs["raw"])
    return {
        "n": n, "repeat": repeat, "settings": dict(SETTINGS), "serializer": "JsonSerializer",
        "ours_events_per_s": ours, "raw_events_per_s": raw, "ratio": ours / raw,
        "ours_construct_s": min(r["construct_s"] for r in runs["ours"]),
        "raw_construct_s": min(r["construct_s"] for r in runs["raw"]),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None, help="fabric home (default: the usual one)")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    client = bench_client(Fabric.at(args.home))
    try:
        result = run(client, args.n, args.repeat)
    finally:
        shutil.rmtree(client.user_dir, ignore_errors=True)  # its tokens and key
    print(f"diaspora_notebook.KafkaProducer {result['ours_events_per_s']:>10,.0f} events/s")
    print(f"kafka.KafkaProducer             {result['raw_events_per_s']:>10,.0f} events/s")
    print(f"ratio ours/raw = {result['ratio']:.3f} (target >= 0.95)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
