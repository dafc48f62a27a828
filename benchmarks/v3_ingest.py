"""Ingest rates of the v3 read engines against the v1/SCRAM one, in one run on one fabric.

    python benchmarks/v3_ingest.py --home /tmp/fabric-home [--n 50000] [--json out.json]
    python benchmarks/v3_ingest.py --home H --quick                  # a smoke run

One identity of the local fabric logs in twice: as a v1 client (``local``: SCRAM keys) and as a
v3 client (``local-v3``: an IAM key, the brokers' OAUTHBEARER listeners). It fills one v1 topic
and one v3 topic with the same N small JSON events (~60 B), then times a full read of each
(``kafka.read.read_frame``: consumer creation until every event is a DataFrame row) with:

  v1_scram_confluent   the v1 topic, SCRAM-SHA-512, librdkafka (the reference),
  v3_iam_confluent     the v3 topic, the IAM token through librdkafka's ``oauth_cb``,
  v3_iam_kafka_python  the v3 topic, the IAM token through kafka-python's token provider,
  v3_rest              the v3 topic through the service's consumer REST API over HTTP
                       (``engine="rest"``; the service's own kafka-python consumer behind it),

and prints events/s per engine and each one's ratio to the reference (best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from diaspora_notebook import topics
from diaspora_notebook.client import Client
from diaspora_notebook.environments import load_local
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.testing.accounts import add_account
from diaspora_notebook.kafka.clients import KafkaProducer
from diaspora_notebook.kafka.read import read_frame
from diaspora_notebook.login import ProgrammaticLoginFlowManager

RUNS = (("v1_scram_confluent", "v1", "confluent"),
        ("v3_iam_confluent", "v3", "confluent"),
        ("v3_iam_kafka_python", "v3", "kafka-python"),
        ("v3_rest", "v3", "rest"))


def clients(fabric: Fabric, user_dir: Path) -> tuple[Client, Client]:
    account = add_account(fabric, prefix="bench-v3")
    made = []
    for api in ("v1", "v3"):
        manager = ProgrammaticLoginFlowManager(account.username, account.password)
        client = Client(load_local(fabric.home.root, api=api), user_dir=user_dir,
                        login_flow_manager=manager)
        client.login()
        made.append(client)
    made[1].create_user()
    return made[0], made[1]


def fill(client: Client, topic: str, n: int) -> None:
    """``n`` events through a Kafka producer of ``client`` (SCRAM or IAM)."""
    producer = KafkaProducer(client=client, linger_ms=20, batch_size=512 * 1024)
    try:
        name = client.kafka_topic(topic)
        for i in range(n):
            producer.send(name, {"i": i, "sensor": f"s{i % 8}", "temp": 20.0 + (i % 100) / 10})
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=10)


def timed_read(client: Client, topic: str, engine: str, n: int) -> float:
    began = time.perf_counter()
    frame = read_frame(client, topic, start="earliest", engine=engine, timeout=60)
    seconds = time.perf_counter() - began
    if len(frame) != n:
        raise RuntimeError(f"{engine}: read {len(frame)} of {n} events")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, help="a running fabric's home")
    parser.add_argument("--n", type=int, default=50_000, help="events per topic")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2,000 events, one read each")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeat = 2_000, 1
    fabric = Fabric.at(args.home)
    # the benchmark's own logins live outside the fabric's home (whose every path is
    # owner-only) in a private temporary directory
    user_dir = Path(tempfile.mkdtemp(prefix="bench-v3-user-"))
    v1, v3 = clients(fabric, user_dir)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    topics.register(topic, create=True, client=v1)
    topics.register(topic, client=v3)
    results: dict[str, Any] = {"n": args.n, "repeat": args.repeat, "engines": {}}
    try:
        fill(v1, topic, args.n)
        fill(v3, topic, args.n)
        for label, api, engine in RUNS:
            client = v1 if api == "v1" else v3
            best = min(timed_read(client, topic, engine, args.n) for _ in range(args.repeat))
            results["engines"][label] = {"seconds": round(best, 3),
                                         "events_per_s": round(args.n / best)}
    finally:
        topics.unregister(topic, client=v1)
        v3.delete_user()
        v1.close()
        v3.close()
    ref = results["engines"]["v1_scram_confluent"]["events_per_s"]
    print(f"{args.n} events per topic, best of {args.repeat}:")
    for label, row in results["engines"].items():
        row["ratio_to_v1_scram"] = round(row["events_per_s"] / ref, 3)
        print(f"  {label:22s} {row['events_per_s']:>10,d} events/s  "
              f"({row['seconds']:.2f} s, x{row['ratio_to_v1_scram']:.2f} of v1/SCRAM)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
