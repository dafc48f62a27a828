"""Load: 100 identities at once on the session fabric, each through the whole SDK path.

Each identity is a new account that logs in headless (globus-sdk PKCE + the IdP's login form),
registers its own topic, creates a key, lists its topics, creates the topic, produces events
carrying its identity id, and consumes its topic back. A bounded pool of threads runs them
concurrently. Then: zero cross-user leaks (every consumer saw only its own events, every
``list_topics`` holds only the caller's topic, and a sample of users are refused on each other's
topics). Prints p50/p99 of each service call and the producers' throughput.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from diaspora_notebook.errors import KafkaAccessDeniedError
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.testing.secrets import remember_secret
from diaspora_notebook.kafka.clients import KafkaAdmin, KafkaConsumer, KafkaProducer, NewTopic
from diaspora_notebook.testing.identities import create_identity

pytestmark = pytest.mark.slow

IDENTITIES = 100
WORKERS = 16  # 2 cores: more threads only add contention
MESSAGES = 200
CALLS = ("login", "register_topic", "create_key", "list_topics")
DENIED = (KafkaAccessDeniedError, TopicAuthorizationFailedError, GroupAuthorizationFailedError)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def read_back(consumer: Any, topic: str, expected: int, timeout: float = 60) -> list[dict]:
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=300).values():
            got.extend(json.loads(r.value) for r in records)
    # one more short poll: nothing beyond our own events may show up
    for records in consumer.poll(timeout_ms=200).values():
        got.extend(json.loads(r.value) for r in records)
    return got


def set_up(fabric: Fabric, base: Path, n: int, suffix: str) -> dict[str, Any]:
    """Account, login, topic, key, list; then the topic itself and a ready producer."""
    timings: dict[str, float] = {}

    def timed(name: str, call: Any) -> Any:
        start = time.perf_counter()
        result = call()
        timings[name] = time.perf_counter() - start
        return result

    identity = create_identity(fabric, base / f"u{n:03d}", prefix="load100")
    remember_secret(identity.password)
    client = identity.client()
    topic = f"load100-{suffix}-{n:03d}"
    timed("login", client.login)
    timed("register_topic", lambda: client.register_topic(topic))
    key = timed("create_key", client.create_key)
    remember_secret(key["password"])
    listed = timed("list_topics", client.list_topics)["topics"]
    admin = KafkaAdmin(client=client)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    client.block_until_ready(timeout=60)
    producer = KafkaProducer(client=client, acks="all", linger_ms=5)
    producer.partitions_for(topic)  # metadata in hand: the produce phase times sending only
    return {"id": identity.id, "topic": topic, "client": client, "listed": listed,
            "key": key, "timings": timings, "producer": producer}


def produce(run: dict[str, Any]) -> None:
    producer = run["producer"]
    start = time.perf_counter()
    try:
        for i in range(MESSAGES):
            producer.send(run["topic"], {"owner": run["id"], "topic": run["topic"], "seq": i})
        producer.flush(timeout=60)
        run["produce"] = (start, time.perf_counter())
    finally:
        producer.close(timeout=10)


def consume(run: dict[str, Any]) -> None:
    consumer = KafkaConsumer(client=run["client"], enable_auto_commit=False)
    try:
        run["got"] = read_back(consumer, run["topic"], MESSAGES)
    finally:
        consumer.close()


def attempt_foreign(run: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """``run``'s user tries to read and to write ``other``'s topic; returns what succeeded."""
    leaks = []
    consumer = KafkaConsumer(client=run["client"], enable_auto_commit=False)
    try:
        got = read_back(consumer, other["topic"], 1, timeout=5)
        if got:
            leaks.append(f"{run['id']} read {len(got)} events of {other['topic']}")
    except DENIED:
        pass
    finally:
        consumer.close()
    producer = KafkaProducer(client=run["client"], acks="all", max_block_ms=5000)
    try:
        producer.send(other["topic"], {"owner": run["id"], "intruder": True}).get(timeout=10)
        leaks.append(f"{run['id']} wrote to {other['topic']}")
    except DENIED:
        pass
    finally:
        producer.close(timeout=5)
    return leaks


def test_hundred_identities_at_once_no_cross_user_leak(fabric, tmp_path, capsys):
    suffix = f"{time.time_ns():x}"
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(set_up, fabric, tmp_path, n, suffix) for n in range(IDENTITIES)]
        runs = [f.result(timeout=150) for f in futures]
        set_up_wall = time.perf_counter() - started
        produce_start = time.perf_counter()
        list(pool.map(produce, runs, timeout=120))
        produce_wall = time.perf_counter() - produce_start
        list(pool.map(consume, runs, timeout=120))
    wall = time.perf_counter() - started

    # no cross-user leak
    assert len({r["id"] for r in runs}) == IDENTITIES
    for run in runs:
        assert run["listed"] == [run["topic"]], (run["id"], run["listed"])
        assert run["key"]["username"] == run["id"]
        owners = {m["owner"] for m in run["got"]}
        topics = {m["topic"] for m in run["got"]}
        assert owners == {run["id"]} and topics == {run["topic"]}, (run["id"], owners, topics)
        assert sorted(m["seq"] for m in run["got"]) == list(range(MESSAGES)), run["id"]
    pairs = random.Random(7).sample([(a, b) for a in range(IDENTITIES)
                                     for b in range(IDENTITIES) if a != b], 6)
    leaks = [leak for a, b in pairs for leak in attempt_foreign(runs[a], runs[b])]
    assert leaks == [], leaks
    # the foreign producer's event never landed: each topic still holds only its owner's events
    for _, b in pairs:
        consumer = KafkaConsumer(client=runs[b]["client"], enable_auto_commit=False)
        try:
            again = read_back(consumer, runs[b]["topic"], MESSAGES, timeout=20)
        finally:
            consumer.close()
        assert {m["owner"] for m in again} == {runs[b]["id"]} and len(again) == MESSAGES

    per_producer = [MESSAGES / (r["produce"][1] - r["produce"][0]) for r in runs]
    lines = [f"load: {IDENTITIES} identities ({WORKERS} threads): set up in {set_up_wall:.1f}s, "
             f"everything done in {wall:.1f}s"]
    for call in CALLS:
        values = [r["timings"][call] for r in runs]
        lines.append(f"  {call:15s} p50 {percentile(values, 50) * 1000:7.1f} ms   "
                     f"p99 {percentile(values, 99) * 1000:7.1f} ms   "
                     f"max {max(values) * 1000:7.1f} ms")
    lines.append(f"  produce: {IDENTITIES * MESSAGES:,} JSON events (acks=all) from {IDENTITIES} "
                 f"producers, {WORKERS} at a time: {IDENTITIES * MESSAGES / produce_wall:,.0f} "
                 f"events/s aggregate; per producer p50 {percentile(per_producer, 50):,.0f} "
                 "events/s")
    lines.append(f"  cross-user: 0 leaks in {IDENTITIES} consumers and {IDENTITIES} topic lists; "
                 f"{len(pairs)} users refused on another user's topic (read and write)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
