"""The read path on the in-memory source (no broker): one start specification, one-off reads,
the live stream's consumer thread and window, the explorer, errors classified by code and the
one text fallback."""

from __future__ import annotations

import datetime as dt
import json
import time

import pandas as pd
import pyarrow as pa
import pytest

from diaspora_notebook import explore
from diaspora_notebook.errors import DiasporaUsageError, KafkaAccessDeniedError, TopicMissingError
from diaspora_notebook.explore.reader import read_errors
from diaspora_notebook.kafka.arrow import as_text, batch_to_arrow, frame_to_table
from diaspora_notebook.kafka.errors import (
    SourceError,
    code_of,
    is_authentication,
    is_denied,
    is_unknown_topic,
)
from diaspora_notebook.kafka.flatten import RowDecoder
from diaspora_notebook.kafka.memory import MemorySource, MemoryTopics
from diaspora_notebook.kafka.read import read_batches, read_frame, read_raw
from diaspora_notebook.kafka.source import RawBatch, make_source, pick_engine
from diaspora_notebook.kafka.start import Start
from diaspora_notebook.stream import LiveDataFrame

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


@pytest.fixture
def store():
    """Topic "t": partition 0 offsets 0-9, partition 1 offsets 0-4, one record a second."""
    topics = MemoryTopics()
    topics.create("t", partitions=2)
    for i in range(10):
        topics.produce("t", json.dumps({"i": i, "p": 0}).encode(), key=f"k{i}".encode(),
                       partition=0, timestamp_ms=T0 + i * 1000)
    for i in range(5):
        topics.produce("t", json.dumps({"i": i, "p": 1}).encode(), partition=1,
                       timestamp_ms=T0 + i * 1000)
    return topics


def offsets(frame):
    return sorted(zip(frame["partition"], frame["offset"], strict=True))


def test_memory_is_an_engine_and_its_source_follows_the_protocol(store):
    assert pick_engine("memory") == "memory"
    source = make_source("memory", {"topics": store}, topics=["t"])
    assert isinstance(source, MemorySource) and source.partitions("t") == [0, 1]
    assert source.partitions("nope") == []
    assert source.watermarks([("t", 0), ("t", 1)]) == {("t", 0): (0, 10), ("t", 1): (0, 5)}
    assert source.offsets_for_times([("t", 0)], T0 + 3500) == {("t", 0): 4}
    assert source.offsets_for_times([("t", 1)], T0 + 99_000) == {("t", 1): None}
    with pytest.raises(DiasporaUsageError, match="MemoryTopics"):
        make_source("memory", {}, topics=["t"])


@pytest.mark.parametrize("start, expected", [
    ("earliest", {0: 0, 1: 0}),
    ("latest", {0: 10, 1: 5}),
    (3, {0: 3, 1: 3}),
    (7, {0: 7, 1: 5}),  # clamped to the high watermark
    (-2, {0: 8, 1: 3}),
    (-50, {0: 0, 1: 0}),  # clamped to the low watermark
    ({0: 4}, {0: 4, 1: 5}),  # forward: a partition not named has nothing to read
    (dt.datetime(2026, 1, 1, 0, 0, 3), {0: 3, 1: 3}),
    ("2026-01-01T00:00:07Z", {0: 7, 1: 5}),  # nothing that late in partition 1: its end
    ((T0 + 2000) / 1000, {0: 2, 1: 2}),  # time.time()'s float seconds
    (pd.Timestamp("2026-01-01T01:00:01+01:00"), {0: 1, 1: 1}),
])
def test_one_start_resolves_the_same_for_every_reader(store, start, expected):
    source = MemorySource({"topics": store}, group_id=None)
    marks = source.watermarks([("t", 0), ("t", 1)])
    got = Start.of(start).resolve(source, marks)
    assert got == {("t", p): off for p, off in expected.items()}


def test_start_edges_backward_and_latest_from_a_moment(store):
    source = MemorySource({"topics": store}, group_id=None)
    marks = source.watermarks([("t", 0), ("t", 1)])
    # backward, a partition not named has nothing before it: its beginning
    assert Start.of({0: 4}).resolve(source, marks, direction="backward") == \
        {("t", 0): 4, ("t", 1): 0}
    # a live stream's "latest" is "from its creation on": records already after that count
    assert Start.of("latest").resolve(source, marks, latest_ms=T0 + 8000) == \
        {("t", 0): 8, ("t", 1): 5}
    store.truncate("t", 0, 6)  # retention moved the low watermark
    marks = source.watermarks([("t", 0)])
    assert Start.of(2).resolve(source, marks) == {("t", 0): 6}


@pytest.mark.parametrize("bad", ["middle", True, None, [1], {0: "x"}, {"0": 1}])
def test_a_bad_start_fails_at_once_with_one_message(store, bad):
    with pytest.raises(DiasporaUsageError, match="start") as info:
        list(read_raw(None, "t", config={"topics": store}, engine="memory", start=bad))
    assert "earliest" in info.value.hint


def test_read_frame_and_batches_read_a_bounded_part(store):
    conf = {"config": {"topics": store}, "engine": "memory"}
    last = read_frame(None, "t", start=-3, **conf)
    assert offsets(last) == [(0, 7), (0, 8), (0, 9), (1, 2), (1, 3), (1, 4)]
    assert list(last.columns[:5]) == ["topic", "partition", "offset", "timestamp", "key"]
    assert last.loc[last.partition == 0, "key"].tolist() == ["k7", "k8", "k9"]
    part = read_frame(None, "t", partitions=[0], start=2, stop_offsets={0: 5}, **conf)
    assert part["offset"].tolist() == [2, 3, 4] and part["i"].tolist() == [2, 3, 4]
    few = read_frame(None, "t", partitions=[0], max_records=4, **conf)
    assert few["offset"].tolist() == [0, 1, 2, 3]
    each = read_frame(None, "t", per_partition=2, **conf)
    assert offsets(each) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    batches = list(read_batches(None, "t", start={1: 3}, **conf))
    assert [b.column("offset").to_pylist() for b in batches] == [[3, 4]]
    assert batches[0].column("value").to_pylist()[0] == b'{"i": 3, "p": 1}'
    timed = read_frame(None, "t", start="2026-01-01T00:00:08Z", **conf)
    assert offsets(timed) == [(0, 8), (0, 9)]
    assert read_frame(None, "t", start="latest", **conf).empty


def test_a_missing_topic_is_classified_by_its_code(store):
    with pytest.raises(SourceError, match="not found") as info:
        list(read_raw(None, "nope", config={"topics": store}, engine="memory"))
    assert is_unknown_topic(info.value) and not is_denied(info.value)
    with pytest.raises(TopicMissingError), read_errors("nope"):
        list(read_raw(None, "nope", config={"topics": store}, engine="memory"))


def test_errors_are_told_apart_by_code_not_text():
    from confluent_kafka import KafkaError, KafkaException
    from kafka import errors

    assert code_of(errors.TopicAuthorizationFailedError("no")) == 29
    assert is_denied(errors.GroupAuthorizationFailedError())
    assert is_authentication(errors.SaslAuthenticationFailedError("bad password"))
    assert is_unknown_topic(errors.UnknownTopicOrPartitionError())
    # kafka-python keeps a producer's fatal error as the cause of a plain KafkaError
    wrapped = errors.KafkaError("Cannot perform send", errors.ClusterAuthorizationFailedError())
    assert code_of(wrapped) == 31 and is_denied(wrapped)
    assert is_denied(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert is_unknown_topic(KafkaError(KafkaError._UNKNOWN_PARTITION))
    assert is_authentication(KafkaError(KafkaError._AUTHENTICATION))
    # the text alone decides nothing
    assert code_of(SourceError("TopicAuthorizationFailedError: sounds denied")) is None
    assert not is_denied(RuntimeError("Authorization failed"))
    with pytest.raises(KafkaAccessDeniedError), read_errors("t"):
        raise SourceError("TopicAuthorizationFailedError: no", code=29, retriable=False)
    with pytest.raises(Exception, match="could not read") as info, read_errors("t"):
        raise SourceError("Authorization in the text but no code")
    assert not isinstance(info.value, KafkaAccessDeniedError)


def test_one_text_fallback_for_what_arrow_cannot_type():
    assert as_text([None, "a", 1, 1.5, True, [1, "x"], {"k": None}, b"\x00"]).to_pylist() == \
        [None, "a", "1", "1.5", "True", '[1, "x"]', '{"k": null}', "b'\\x00'"]
    mixed = pd.DataFrame({"n": [1, 2], "m": [1, "x"], "l": [[1], {"a": 2}]})
    table = frame_to_table(mixed)
    assert table.schema.field("n").type == pa.int64()  # typable columns keep their type
    assert table.column("m").to_pylist() == ["1", "x"]
    assert table.column("l").to_pylist() == ["[1]", '{"a": 2}']
    # one-off reads fall back the same way: per column, not the whole batch as text
    raw = RawBatch("t", 0, pd.array([0, 1], "int64").to_numpy(),
                   pd.array([T0, T0], "int64").to_numpy(), [None, None],
                   [b'{"n": 1, "m": 1}', b'{"n": 2, "m": "x"}'], None)
    batch = batch_to_arrow(raw, RowDecoder())
    assert batch.column("m").to_pylist() == ["1", "x"]


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_live_dataframe_reads_a_memory_topic_through_its_consumer_thread(store):
    live = LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                         start="earliest", max_rows=12)
    try:
        live.wait(15, timeout=10)
        assert len(live.df) == 12 and live.stats.rows_dropped == 3
        store.produce("t", b'{"i": 10, "p": 0}', partition=0, timestamp_ms=T0 + 10_000)
        store.produce("t", b"not json", partition=1, timestamp_ms=T0 + 10_000)
        live.wait(17, timeout=10)
        df = live.df
        assert (0, 10) in offsets(df) and (1, 5) in offsets(df)
        assert df.loc[(df.partition == 1) & (df.offset == 5), "_error"].notna().all()
        assert wait_for(lambda: live.stats.lag == {"t[0]": 0, "t[1]": 0})
    finally:
        live.stop()


def test_a_live_dataframe_starts_where_start_says(store):
    store.produce("t", b'{"late": 1}', partition=0, timestamp_ms=int(time.time() * 1000) + 5000)
    for start, expected in [(-2, {(0, 9), (0, 10), (1, 3), (1, 4)}),
                            ({0: 9}, {(0, 9), (0, 10)}),
                            ("latest", {(0, 10)}),  # records from its creation on
                            ("2026-01-01T00:00:04Z", {(0, o) for o in range(4, 11)} | {(1, 4)})]:
        live = LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                             start=start)
        try:
            live.wait(len(expected), timeout=10)
            time.sleep(0.1)
            assert set(offsets(live.df)) == expected, start
        finally:
            live.stop()


def test_the_consumer_thread_survives_an_error_without_repeating_records(store):
    live = LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                         start="earliest")
    try:
        live.wait(15, timeout=10)
        store.fail(SourceError("NetworkException: the broker went away", fatal=True))
        assert wait_for(lambda: live.stats.consumer_errors >= 1)
        store.produce("t", b'{"i": 99}', partition=1)
        live.wait(16, timeout=10)
        assert len(live.df) == 16 and live.stats.duplicates == 0
        assert offsets(live.df).count((1, 5)) == 1
    finally:
        live.stop()


def test_group_mode_commits_and_a_new_stream_continues(store):
    first = LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                          start="earliest", group_id="t/live")
    first.wait(15, timeout=10)
    first.stop()
    assert store.groups["t/live"] == {("t", 0): 10, ("t", 1): 5}
    store.produce("t", b'{"i": 10}', partition=0)
    second = LiveDataFrame("t", engine="memory", consumer_config={"topics": store},
                           start="earliest", group_id="t/live")
    try:
        second.wait(1, timeout=10)
        time.sleep(0.1)
        assert offsets(second.df) == [(0, 10)]
    finally:
        second.stop()


class MemoryClient:
    """A stand-in for a logged-in ``Client``: its connection settings are the memory topics."""

    def __init__(self, topics: MemoryTopics) -> None:
        self.topics = topics

    def connection_config(self, library: str) -> dict:
        assert library == "memory"
        return {"topics": self.topics}


def test_the_explorer_reads_pages_forward_backward_and_filtered(store):
    client = MemoryClient(store)
    newest = explore.read("t", client=client, engine="memory", limit=3)
    assert newest.direction == "backward" and len(newest.frame) == 3
    assert offsets(newest.frame) == [(0, 7), (0, 8), (0, 9)]  # the newest by timestamp
    first = explore.read("t", client=client, engine="memory", start="earliest", limit=4,
                         partitions=[0])
    assert first.frame["offset"].tolist() == [0, 1, 2, 3] and first.stopped_by == "limit"
    seek = explore.read("t", client=client, engine="memory", start={0: 7}, limit=10)
    assert offsets(seek.frame) == [(0, 7), (0, 8), (0, 9)] and seek.stopped_by == "end"
    hot = explore.read("t", client=client, engine="memory", start="earliest", limit=10,
                       filter="value.i >= 3 and value.p == 1")
    assert offsets(hot.frame) == [(1, 3), (1, 4)]
    back = explore.read("t", client=client, engine="memory", start=6, direction="backward",
                        limit=2, partitions=[0])
    assert back.frame["offset"].tolist() == [5, 4]
    timed = explore.read("t", client=client, engine="memory",
                         start=(T0 + 8000) / 1000, limit=10)
    assert offsets(timed.frame) == [(0, 8), (0, 9)]
    with pytest.raises(DiasporaUsageError, match="invalid start"):
        explore.read("t", client=client, engine="memory", start="soon")
