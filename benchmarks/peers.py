"""Peer libraries doing the LiveDataFrame job on the same topic: Kafka JSON events -> a DataFrame.

Runs in its own virtualenv (quixstreams pins confluent-kafka<2.13, which would downgrade ours), so
it imports nothing from diaspora_notebook; ``read_path.py`` creates the venv and calls this as a
subprocess, one peer per run, and reads one JSON line from stdout:

    /tmp/bench-venv/bin/python benchmarks/peers.py streamz --topic T --n 200000 \\
        --bootstrap 127.0.0.1:9093 --user admin --password-file F --ca ca.pem

Each peer is timed from its creation until a pandas DataFrame of all N events exists, with the
settings that make it fastest (docs/performance.md says which and why).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def arrow_frame(values: list[bytes]) -> Any:
    import pyarrow as pa
    import pyarrow.json as pj

    table = pj.read_json(io.BytesIO(b"\n".join(values)),
                         read_options=pj.ReadOptions(block_size=1 << 26))
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def run_streamz(conf: dict[str, Any], topic: str, n: int) -> dict[str, Any]:
    """streamz ``Stream.from_kafka_batched``, tuned: 10 ms poll interval, 200k-message batches
    (its defaults, 1 s and 10k, run at ~8k events/s), payloads decoded with pyarrow per batch."""
    import pandas as pd
    import pyarrow as pa
    from streamz import Stream

    params = {**conf, "group.id": f"bench-streamz-{uuid.uuid4().hex[:8]}",
              "auto.offset.reset": "earliest", "enable.auto.commit": False}
    tables: list[Any] = []
    seen = [0]
    start = time.perf_counter()
    source = Stream.from_kafka_batched(topic, params, poll_interval="10ms", npartitions=1,
                                       max_batch_size=200_000, asynchronous=False)

    def take(batch: list[bytes]) -> None:
        if batch:
            tables.append(arrow_frame(batch))
            seen[0] += len(batch)

    source.sink(take)
    source.start()
    deadline = time.monotonic() + 600
    while seen[0] < n and time.monotonic() < deadline:
        time.sleep(0.005)
    df = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    elapsed = time.perf_counter() - start
    source.stop()
    assert isinstance(df, pd.DataFrame) and len(df) >= n, len(df)
    return {"peer": "streamz", "n": n, "seconds": elapsed, "events_per_s": n / elapsed}


def run_quix(conf: dict[str, Any], topic: str, n: int) -> dict[str, Any]:
    """quixstreams ``Application`` + ``StreamingDataFrame`` collecting rows, then
    ``pd.json_normalize``; no changelog topics (nothing stateful)."""
    import pandas as pd
    from quixstreams import Application
    from quixstreams.kafka.configuration import ConnectionConfig

    conn = ConnectionConfig(
        bootstrap_servers=conf["bootstrap.servers"], security_protocol="sasl_ssl",
        sasl_mechanism="SCRAM-SHA-512", sasl_username=conf["sasl.username"],
        sasl_password=conf["sasl.password"], ssl_ca_location=conf["ssl.ca.location"])
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    app = Application(broker_address=conn, consumer_group=f"bench-quix-{uuid.uuid4().hex[:8]}",
                      auto_offset_reset="earliest", use_changelog_topics=False,
                      auto_create_topics=False)
    sdf = app.dataframe(app.topic(topic, value_deserializer="json"))
    sdf.update(rows.append)
    app.run(count=n, timeout=120)
    df = pd.json_normalize(rows)
    elapsed = time.perf_counter() - start
    assert len(df) >= n, len(df)
    return {"peer": "quixstreams", "n": n, "seconds": elapsed, "events_per_s": n / elapsed}


def run_quix_window(conf: dict[str, Any], topic: str, n: int) -> dict[str, Any]:
    """quixstreams doing live_analytics.py's job: a 10 s tumbling-window mean of
    ``reading.temp`` per message key, ``.current()`` (an update per event), state in a fresh
    temporary directory, no changelog topics; timed until every event is aggregated."""
    import tempfile
    from datetime import timedelta

    from quixstreams import Application
    from quixstreams.kafka.configuration import ConnectionConfig

    conn = ConnectionConfig(
        bootstrap_servers=conf["bootstrap.servers"], security_protocol="sasl_ssl",
        sasl_mechanism="SCRAM-SHA-512", sasl_username=conf["sasl.username"],
        sasl_password=conf["sasl.password"], ssl_ca_location=conf["ssl.ca.location"])
    latest: dict[Any, Any] = {}
    with tempfile.TemporaryDirectory() as state_dir:
        start = time.perf_counter()
        app = Application(broker_address=conn,
                          consumer_group=f"bench-quixw-{uuid.uuid4().hex[:8]}",
                          auto_offset_reset="earliest", use_changelog_topics=False,
                          auto_create_topics=False, state_dir=state_dir)
        sdf = app.dataframe(app.topic(topic, value_deserializer="json"))
        sdf = sdf.apply(lambda value: value["reading"]["temp"])
        sdf = sdf.tumbling_window(timedelta(seconds=10)).mean().current()
        sdf.update(lambda value, key, timestamp, headers: latest.__setitem__(
            (key, value["start"]), value["value"]), metadata=True)
        app.run(count=n, timeout=300)
        elapsed = time.perf_counter() - start
    assert len({k for k, _ in latest}) == 16, len(latest)
    return {"peer": "quix_window", "n": n, "seconds": elapsed, "events_per_s": n / elapsed}


def run_quix_produce(conf: dict[str, Any], topic: str, n: int, parquet: str) -> dict[str, Any]:
    """quixstreams' producer doing the write path's job: a DataFrame's rows -> JSON messages
    (``topic.serialize`` with its JSON serializer + ``producer.produce``, then ``flush``),
    timed from the DataFrame in hand until every message is acknowledged. Its rows are
    written flat (``reading.temp``): quixstreams has no re-nesting, so it does less work."""
    import pandas as pd
    from quixstreams import Application
    from quixstreams.kafka.configuration import ConnectionConfig

    frame = pd.read_parquet(parquet)
    conn = ConnectionConfig(
        bootstrap_servers=conf["bootstrap.servers"], security_protocol="sasl_ssl",
        sasl_mechanism="SCRAM-SHA-512", sasl_username=conf["sasl.username"],
        sasl_password=conf["sasl.password"], ssl_ca_location=conf["ssl.ca.location"])
    app = Application(broker_address=conn, consumer_group=f"bench-quixp-{uuid.uuid4().hex[:8]}",
                      use_changelog_topics=False, auto_create_topics=False,
                      producer_extra_config={"linger.ms": 20, "batch.size": 1_000_000,
                                             "queue.buffering.max.messages": 500_000})
    out = app.topic(topic, value_serializer="json")
    start = time.perf_counter()
    with app.get_producer() as producer:
        for row in frame.to_dict("records"):
            msg = out.serialize(key=None, value=row)
            producer.produce(topic=out.name, value=msg.value, key=msg.key)
        producer.flush(600)
    elapsed = time.perf_counter() - start
    return {"peer": "quix_produce", "n": n, "seconds": elapsed, "events_per_s": n / elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=("streamz", "quixstreams", "quix_produce",
                                         "quix_window"))
    parser.add_argument("--parquet", default=None, help="quix_produce: the rows to write")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True, help="a 0600 file with the password")
    parser.add_argument("--ca", required=True)
    args = parser.parse_args(argv)
    conf = {"bootstrap.servers": args.bootstrap, "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": args.user,
            "sasl.password": Path(args.password_file).read_text().strip(),
            "ssl.ca.location": args.ca}
    if args.peer == "quix_produce":
        print(json.dumps(run_quix_produce(conf, args.topic, args.n, args.parquet)))
        sys.stdout.flush()
        return 0
    run = {"streamz": run_streamz, "quix_window": run_quix_window}.get(args.peer, run_quix)
    print(json.dumps(run(conf, args.topic, args.n)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
