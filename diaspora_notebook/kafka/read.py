"""One-off reads: part of a topic once, no consumer group, nothing committed.

``read_raw`` is the loop (columns, one partition per batch), ``read_batches`` its Arrow record
batches (what peek, the topic views and the explorer read with), ``read_frame`` a DataFrame
shaped like ``LiveDataFrame.df``. Any engine (:func:`~.source.pick_engine`) reads; ``start`` is
the one start specification (:class:`~.start.Start`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from diaspora_notebook.kafka.arrow import Chunk, batch_to_arrow, to_frame
from diaspora_notebook.kafka.decode import decode_batch
from diaspora_notebook.kafka.errors import UNKNOWN_TOPIC, SourceError
from diaspora_notebook.kafka.flatten import RowDecoder
from diaspora_notebook.kafka.source import TP, RawBatch, client_config, make_source, pick_engine
from diaspora_notebook.kafka.start import Start, StartSpec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


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
    decoder = RowDecoder()
    chunks = []
    for raw in read_raw(client, topic, **options):
        payload, _errors = decode_batch(raw.values, decoder)
        chunks.append(Chunk(raw.topic, raw.partition, raw.offsets, raw.timestamps, raw.keys,
                            None, payload=payload))
    return to_frame(chunks, None)


def read_raw(
    client: Any,
    topic: str,
    *,
    partitions: Iterable[int] | None = None,
    start: StartSpec = "earliest",
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
    :param start: where to begin (:class:`~.start.Start`): ``"earliest"``, ``"latest"``, an
        offset ``n``, ``-n`` (the last n of each partition), ``{partition: offset}`` (a
        partition not named is not read) or a time
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
    engine = pick_engine(engine, client=client if config is None else None)
    first = Start.of(start)
    conf = config if config is not None else client_config(client, engine)
    source = make_source(engine, conf, topics=[topic], headers=headers)
    try:
        parts = list(partitions) if partitions is not None else source.partitions(topic)
        if not parts:
            raise SourceError(f"UnknownTopicOrPartitionError: topic {topic} not found or not "
                              "readable with these credentials", code=UNKNOWN_TOPIC,
                              retriable=False)
        tps: list[TP] = [(topic, p) for p in parts]
        marks = source.watermarks(tps)
        begin = first.resolve(source, marks)
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
                    raw = raw.head(cut)
                if left is not None and raw.offsets.size > left:
                    raw = raw.head(left)
                if raw.offsets.size:
                    deadline = time.monotonic() + timeout
                    if left is not None:
                        left -= raw.offsets.size
                    yield raw
                if cut < got_n or (raw.offsets.size and raw.next_offset >= end):
                    todo.discard(tp)
    finally:
        source.close(commit=False)
