"""The read path's engine: which consumer library reads, and a batch reader for one-off reads.

``engine="auto"`` picks confluent-kafka (librdkafka) when it is importable and kafka-python
otherwise; both connect with the settings of ``Client.connection_config`` (SASL_SSL, SCRAM-SHA-512,
TLS verified against the environment's CA). ``read_batches`` is what peek and the topic views
read with: a bounded read of a topic as Arrow record batches, no consumer group, nothing committed.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.stream.decode import decode_batch
from diaspora_notebook.stream.flatten import RowDecoder
from diaspora_notebook.stream.sources import (
    TP,
    ConfluentSource,
    KafkaPythonSource,
    RawBatch,
    SourceError,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

ENGINES = ("auto", "confluent", "kafka-python")
#: ``Client.connection_config`` library name for each engine
LIBRARY = {"confluent": "confluent-kafka", "kafka-python": "kafka-python"}


def pick_engine(engine: str = "auto") -> str:
    """``"confluent"`` or ``"kafka-python"``: what ``engine`` means on this machine.

    :param engine: ``"auto"`` (confluent-kafka when installed), ``"confluent"`` or
        ``"kafka-python"``
    """
    if engine not in ENGINES:
        raise DiasporaUsageError(f"unknown engine {engine!r}",
                                 hint=f"use one of {', '.join(ENGINES)}")
    has_confluent = importlib.util.find_spec("confluent_kafka") is not None
    if engine == "auto":
        engine = "confluent" if has_confluent else "kafka-python"
    if engine == "confluent" and not has_confluent:
        raise DiasporaUsageError("engine='confluent' needs confluent-kafka, which is not installed",
                                 hint="pip install 'diaspora-notebook[notebook]' or use "
                                 "engine='kafka-python'")
    if engine == "kafka-python" and importlib.util.find_spec("kafka") is None:
        raise DiasporaUsageError("engine='kafka-python' needs kafka-python, which is not installed",
                                 hint="pip install 'diaspora-notebook[kafka-python]'")
    return engine


def make_source(engine: str, config: dict[str, Any], *, group_id: str | None = None,
                auto_offset_reset: str = "latest", topics: Iterable[str] = (),
                headers: bool = False) -> ConfluentSource | KafkaPythonSource:
    """A consumer of ``engine`` (already picked) with ``config`` (kafka-python or librdkafka)."""
    cls = ConfluentSource if engine == "confluent" else KafkaPythonSource
    return cls(config, group_id=group_id, auto_offset_reset=auto_offset_reset,
               topics=list(topics), headers=headers)


def client_config(client: Any, engine: str) -> dict[str, Any]:
    """``client.connection_config(...)`` for ``engine``: the settings the engine connects with."""
    getter = getattr(client, "connection_config", None)
    if getter is None:
        raise DiasporaUsageError(
            f"{type(client).__name__} cannot give Kafka settings (no connection_config method)",
            hint="pass consumer_config={...} with kafka-python KafkaConsumer settings")
    return dict(getter(LIBRARY[engine]))


def read_batches(client: Any, topic: str, *, decode: bool = True,
                 **options: Any) -> Iterator[pa.RecordBatch]:
    """Read part of ``topic`` once, as Arrow record batches (no group, nothing committed).

    Each batch holds consecutive records of one partition with the columns ``topic``,
    ``partition``, ``offset``, ``timestamp`` (ms, UTC), ``key`` (binary), ``headers`` (list of
    name/value structs) and ``value`` (the raw bytes), then, with ``decode``, the flattened JSON
    fields (``a.b``) and ``_error`` where a payload was not JSON.

    :param client: a logged-in ``Client`` (or anything with ``connection_config``)
    :param topic: the topic
    :param decode: add the decoded payload columns
    :param options: as for ``read_raw`` (partitions, start, stop_offsets, max_records, ...)
    """
    decoder = RowDecoder() if decode else None
    for raw in read_raw(client, topic, headers=True, **options):
        yield batch_to_arrow(raw, decoder)


def read_frame(client: Any, topic: str, **options: Any) -> pd.DataFrame:
    """Read part of ``topic`` once into a DataFrame shaped like ``LiveDataFrame.df`` (metadata
    columns, keys as text, flattened JSON, ``_error`` last), in partition-then-offset order.

    :param client: a logged-in ``Client`` (or anything with ``connection_config``)
    :param topic: the topic
    :param options: as for ``read_raw``
    """
    from diaspora_notebook.stream.frame import LiveFrame

    frame = LiveFrame(max_rows=1 << 62)
    for raw in read_raw(client, topic, **options):
        frame.ingest_columns(raw.topic, raw.partition, raw.offsets, raw.timestamps, raw.keys,
                             raw.values)
    return frame.snapshot()


def read_raw(
    client: Any,
    topic: str,
    *,
    partitions: Iterable[int] | None = None,
    start: str | int | dict[int, int] = "earliest",
    stop_offsets: dict[int, int] | None = None,
    max_records: int | None = None,
    per_partition: int | None = None,
    timeout: float = 10.0,
    engine: str = "auto",
    config: dict[str, Any] | None = None,
    batch_size: int = 10_000,
    headers: bool = False,
) -> Iterator[RawBatch]:
    """Read part of ``topic`` once as ``RawBatch`` columns, one partition per batch.

    :param client: a logged-in ``Client`` (or anything with ``connection_config``)
    :param topic: the topic
    :param partitions: which partitions (default: all)
    :param start: ``"earliest"``, ``"latest"``, an offset ``n``, ``-n`` (the last n of each
        partition) or ``{partition: offset}``
    :param stop_offsets: ``{partition: offset}`` to stop before (default: the end offsets seen
        when reading starts, so the read always finishes)
    :param max_records: most records over all partitions
    :param per_partition: most records of each partition (counted from its start)
    :param timeout: give up waiting for more records after this many seconds
    :param engine: ``"auto"``, ``"confluent"`` or ``"kafka-python"``
    :param config: consumer settings instead of ``client`` (kafka-python or librdkafka style)
    :param batch_size: most records asked for per consume call
    :param headers: also read each record's headers
    """
    engine = pick_engine(engine)
    conf = config if config is not None else client_config(client, engine)
    source = make_source(engine, conf, topics=[topic], headers=headers)
    try:
        parts = list(partitions) if partitions is not None else source.partitions(topic)
        if not parts:
            raise SourceError(f"UnknownTopicOrPartitionError: topic {topic} not found or not "
                              "readable with these credentials", retriable=False)
        tps: list[TP] = [(topic, p) for p in parts]
        marks = source.watermarks(tps)
        begin: dict[TP, int] = {}
        for tp in tps:
            low, high = marks[tp]
            if isinstance(start, dict):
                off = start.get(tp[1], low)
            elif start == "earliest":
                off = low
            elif start == "latest":
                off = high
            elif isinstance(start, int) and not isinstance(start, bool):
                off = start if start >= 0 else high + start
            else:
                raise DiasporaUsageError(f"start must be 'earliest', 'latest', an offset or "
                                         f"{{partition: offset}}, not {start!r}",
                                         hint="e.g. start=-10 for the last 10 of each partition")
            begin[tp] = min(max(off, low), high)
        stop = {tp: (stop_offsets or {}).get(tp[1], marks[tp][1]) for tp in tps}
        if per_partition is not None:
            stop = {tp: min(end, begin[tp] + per_partition) for tp, end in stop.items()}
        todo = {tp for tp in tps if begin[tp] < stop[tp]}
        if not todo:
            return
        source.assign({tp: begin[tp] for tp in todo})
        left = max_records if max_records is not None else None
        deadline = time.monotonic() + timeout
        while todo and (left is None or left > 0) and time.monotonic() < deadline:
            want = batch_size if left is None else min(batch_size, left)
            got = source.poll(0.2, want)
            error = source.take_error()
            # fatal: this consumer cannot recover by itself (a one-off read does not rebuild it)
            if not got and error is not None and (not error.retriable or error.fatal):
                raise error
            for raw in got:
                tp = (raw.topic, raw.partition)
                if tp not in todo:
                    continue
                end = stop[tp]
                got_n = len(raw.offsets)
                cut = int((raw.offsets < end).sum())
                if cut < len(raw.offsets):
                    raw = _head(raw, cut)
                if left is not None and raw.offsets.size > left:
                    raw = _head(raw, left)
                if raw.offsets.size:
                    deadline = time.monotonic() + timeout
                    if left is not None:
                        left -= raw.offsets.size
                    yield raw
                if cut < got_n or (raw.offsets.size and raw.next_offset >= end):
                    todo.discard(tp)
    finally:
        source.close(commit=False)


def _head(raw: RawBatch, n: int) -> RawBatch:
    return RawBatch(raw.topic, raw.partition, raw.offsets[:n], raw.timestamps[:n], raw.keys[:n],
                    raw.values[:n], raw.headers[:n] if raw.headers is not None else None)


def batch_to_arrow(raw: RawBatch, decoder: RowDecoder | None) -> pa.RecordBatch:
    """One ``RawBatch`` -> an Arrow record batch (metadata, raw value, decoded fields)."""
    import numpy as np
    import pyarrow as pa

    n = len(raw.offsets)
    missing = raw.timestamps < 0
    header_type = pa.list_(pa.struct([("name", pa.string()), ("value", pa.binary())]))
    columns: dict[str, Any] = {
        "topic": pa.array([raw.topic] * n, pa.string()),
        "partition": pa.array(np.full(n, raw.partition, np.int32)),
        "offset": pa.array(raw.offsets),
        "timestamp": pa.array(raw.timestamps, pa.timestamp("ms", tz="UTC"),
                              mask=missing if missing.any() else None),
        "key": pa.array(raw.keys, pa.binary()),
        "headers": pa.array([[{"name": k, "value": v} for k, v in h] for h in raw.headers]
                            if raw.headers is not None else [None] * n, header_type),
        "value": pa.array(raw.values, pa.binary()),
    }
    if decoder is not None:
        payload, _errors = decode_batch(raw.values, decoder)
        if hasattr(payload, "iloc"):  # mixed types: Arrow holds them as text
            payload = pa.Table.from_pandas(payload.astype(object).map(
                lambda v: None if v is None else str(v)), preserve_index=False)
        for name in payload.column_names:
            if name == "value":
                continue  # the raw bytes are already there
            columns[name] = payload.column(name).combine_chunks()
    return pa.RecordBatch.from_pydict(columns)
