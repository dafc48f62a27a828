"""The explorer's core API (``topics.read``, ``details``, ``groups``, ``reset_group``, ``schema``,
``export``) against the real broker, with both read engines."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from diaspora_notebook import topics
from diaspora_notebook.errors import (
    DiasporaError,
    DiasporaUsageError,
    KafkaAccessDeniedError,
    TopicMissingError,
)
from diaspora_notebook.kafka.clients import KafkaConsumer, KafkaProducer
from diaspora_notebook.testing.identities import create_identity, login

N = 120  # events per partition 0/1 in the shared topic


@pytest.fixture(scope="module")
def owner(fabric, tmp_path_factory):
    return login(create_identity(fabric, tmp_path_factory.mktemp("explore-owner"),
                                 prefix="explorer"))


@pytest.fixture(scope="module")
def filled(owner):
    """A 2-partition topic: keys s0/s1 pick the partition; two bursts 1.5 s apart."""
    name = f"explore-{time.time_ns() % 10**9}"
    topics.register(name, create=True, partitions=2, client=owner)
    first = [{"n": i, "temp": i % 40, "deep": {"x": i}} for i in range(N)]
    topics.produce(name, first[: N // 2], key="s0", client=owner)
    topics.produce(name, first[N // 2:], key="s1", client=owner)
    time.sleep(1.5)
    between = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.2)
    later = [{"n": N + i, "temp": 100, "deep": {"x": -i}, "late": True} for i in range(10)]
    topics.produce(name, later, key="s0", client=owner)
    yield {"topic": name, "between": between}
    topics.unregister(name, client=owner)


@pytest.mark.parametrize("engine", ["confluent", "kafka-python"])
def test_starts_directions_and_pages(owner, filled, engine):
    t = filled["topic"]
    newest = topics.read(t, limit=5, engine=engine, client=owner)  # default: newest, backward
    assert newest.direction == "backward" and list(newest.frame["value.n"]) == \
        [N + 9, N + 8, N + 7, N + 6, N + 5]
    assert list(newest.frame.columns[:7]) == ["topic", "partition", "offset", "timestamp",
                                              "key", "headers", "value"]
    assert newest.frame["value"][0] == {"n": N + 9, "temp": 100, "deep": {"x": -9},
                                        "late": True}
    assert newest.stopped_by == "limit" and newest.limited
    older = topics.read(t, start=newest.before, direction="backward", limit=5, engine=engine,
                        client=owner)
    assert list(older.frame["value.n"]) == [N + 4, N + 3, N + 2, N + 1, N]
    first = topics.read(t, start="earliest", limit=3, engine=engine, client=owner)
    assert first.direction == "forward" and list(first.frame["value.n"]) == [0, 1, 2]
    whole = topics.read(t, start="earliest", limit=1000, engine=engine, client=owner)
    assert len(whole.frame) == N + 10 and whole.stopped_by == "end"
    assert whole.frame["timestamp"].is_monotonic_increasing  # merged in time order
    assert whole.scanned == {0: len(whole.frame[whole.frame.partition == 0]),
                             1: len(whole.frame[whole.frame.partition == 1])}
    nxt = topics.read(t, start=first.after, direction="forward", limit=1000, engine=engine,
                      client=owner)
    assert len(nxt.frame) + len(first.frame) == N + 10  # pages neither overlap nor skip
    assert set(nxt.frame["value.n"]).isdisjoint(first.frame["value.n"])
    p0 = whole.frame[whole.frame.partition == 0]
    at = topics.read(t, start={0: int(p0.offset.iloc[3])}, limit=2, engine=engine, client=owner)
    assert list(at.frame["offset"]) == list(p0.offset.iloc[3:5]) and set(at.frame.partition) == {0}
    same = topics.read(t, start=int(p0.offset.iloc[3]), partitions=[0], limit=2, engine=engine,
                       client=owner)
    assert list(same.frame["offset"]) == list(at.frame["offset"])
    last = topics.read(t, start=-2, engine=engine, client=owner)  # the last 2 of each partition
    assert len(last.frame) == 4 and last.direction == "forward"
    assert set(last.frame["value.n"]) >= {N + 8, N + 9}


def test_timestamp_seek_is_one_lookup(owner, filled):
    t = filled["topic"]
    got = topics.read(t, start=filled["between"], limit=100, client=owner)
    assert list(got.frame["value.n"]) == list(range(N, N + 10))
    assert got.total_scanned == 10  # seeked with offsets-for-times: nothing before was read
    text = filled["between"].isoformat()
    assert list(topics.read(t, start=text, limit=3, client=owner).frame["value.n"]) == \
        [N, N + 1, N + 2]
    before = topics.read(t, start=filled["between"], direction="backward", limit=2,
                         client=owner)
    assert all(n < N for n in before.frame["value.n"])
    seconds = topics.read(t, start=filled["between"].timestamp(), limit=1, client=owner)
    assert list(seconds.frame["value.n"]) == [N]  # time.time()-style float seconds
    future = topics.read(t, start=dt.datetime(2100, 1, 1), client=owner)
    assert future.frame.empty and future.stopped_by == "end"


@pytest.mark.parametrize("engine", ["confluent", "kafka-python"])
def test_filters_fields_and_budget(owner, filled, engine):
    t = filled["topic"]
    hot = topics.read(t, start="earliest", filter='value.temp > 35 and key == "s1"',
                      limit=100, engine=engine, client=owner)
    want = [n for n in range(N // 2, N) if n % 40 > 35]
    assert sorted(hot.frame["value.n"]) == want and set(hot.frame["key"]) == {"s1"}
    assert hot.total_scanned >= len(want) and hot.filter == 'value.temp > 35 and key == "s1"'
    quoted = topics.read(t, start="earliest", filter="`value.deep.x` < 3", limit=100,
                         engine=engine, client=owner)
    assert sorted(quoted.frame["value.n"]) == [0, 1, 2, *list(range(N, N + 10))]
    late = topics.read(t, filter="value.late == True", limit=100, client=owner, engine=engine)
    assert len(late.frame) == 10  # a field most messages lack is simply false for them
    fn = topics.read(t, start="earliest", filter=lambda row: row["value.n"] % 50 == 0,
                     limit=100, engine=engine, client=owner)
    assert sorted(fn.frame["value.n"]) == [0, 50, 100]
    narrow = topics.read(t, fields=["deep.x", "$.temp"], limit=3, engine=engine, client=owner)
    assert list(narrow.frame.columns) == ["topic", "partition", "offset", "timestamp", "key",
                                          "headers", "value", "value.deep.x", "value.temp"]
    budget = topics.read(t, start="earliest", filter="value.n < 0", scan_budget=25,
                         engine=engine, client=owner)
    assert budget.frame.empty and budget.stopped_by == "budget" and budget.total_scanned == 25
    newest_hot = topics.read(t, filter="value.temp == 39", limit=2, engine=engine, client=owner)
    assert list(newest_hot.frame["value.n"]) == [119, 79]  # backward with a filter


def test_bad_filters_say_where(owner, filled):
    t = filled["topic"]
    with pytest.raises(DiasporaUsageError) as bad:
        topics.read(t, filter="value.temp > > 3", client=owner)
    assert "position 14" in str(bad.value) and "^" in str(bad.value)
    with pytest.raises(DiasporaUsageError, match="ends too early"):
        topics.read(t, filter="value.temp >", client=owner)
    with pytest.raises(DiasporaUsageError, match="never closed"):
        topics.read(t, filter='key == "s1', client=owner)
    with pytest.raises(DiasporaUsageError, match="failed on partition"):
        topics.read(t, filter="value.deep.x.startswith('a')", client=owner)
    for kwargs, message in [({"limit": 0}, "limit"), ({"direction": "up"}, "direction"),
                            ({"start": "soon"}, "invalid start"), ({"partitions": [7]},
                                                                  "no partition 7"),
                            ({"scan_budget": -1}, "scan_budget"), ({"filter": 3}, "filter")]:
        with pytest.raises(DiasporaUsageError, match=message):
            topics.read(t, client=owner, **kwargs)


def test_cancel_progress_and_missing_topic(owner, filled, topic_name):
    seen = []
    cancel = threading.Event()
    cancel.set()
    stopped = topics.read(filled["topic"], start="earliest", cancel=cancel, client=owner)
    assert stopped.stopped_by == "cancelled" and stopped.frame.empty
    got = topics.read(filled["topic"], start="earliest", limit=1000,
                      progress=lambda n, total: seen.append((n, total)), client=owner)
    assert seen and seen[-1] == (len(got.frame), N + 10)
    topics.register(topic_name, client=owner)  # registered but not on the brokers
    try:
        with pytest.raises(TopicMissingError):
            topics.read(topic_name, client=owner)
    finally:
        topics.unregister(topic_name, client=owner)


def test_text_binary_headers_and_a_decoder(owner, topic_name):
    topics.register(topic_name, create=True, client=owner)
    try:
        producer = KafkaProducer(client=owner, value_serializer=None)
        producer.send(topic_name, b"plain text", key=b"k1", headers=[("source", b"lab")])
        producer.send(topic_name, b"\xff\x00\x10", key=b"k2")
        producer.send(topic_name, b"7", key=b"k3")
        producer.flush(timeout=30)
        producer.close()
        rows = topics.read(topic_name, start="earliest", client=owner).frame
        assert list(rows["value"]) == ["plain text", "ff0010", 7]
        assert rows["headers"][0] == {"source": "lab"} and list(rows["key"]) == ["k1", "k2", "k3"]
        upper = topics.read(topic_name, start="earliest", decoder=lambda b: {"len": len(b)},
                            client=owner).frame
        assert list(upper["value.len"]) == [10, 3, 1]
        picked = topics.read(topic_name, start="earliest", decoder=lambda b: {"len": len(b)},
                             filter="value.len > 2", client=owner).frame
        assert list(picked["key"]) == ["k1", "k2"]
    finally:
        topics.unregister(topic_name, client=owner)


def test_details(owner, filled, topic_name):
    info = topics.details(filled["topic"], client=owner)
    assert info.on_broker and info.partitions == 2 and info.messages == N + 10
    table = info.table()
    assert list(table["partition"]) == [0, 1] and list(table["earliest"]) == [0, 0]
    assert table["latest"].sum() == N + 10 and all(r == [1] for r in table["replicas"])
    assert all(isr == [1] for isr in table["isr"]) and set(table["leader"]) == {1}
    assert info.configs["cleanup.policy"] == "delete" and info.retention_ms is not None
    assert next(iter(info.configs)) == "retention.ms"
    assert info.size_bytes is None  # the broker tells cluster operators only
    topics.register(topic_name, client=owner)  # registered, not created
    try:
        assert topics.details(topic_name, client=owner) == topics.TopicDetails(topic_name, False)
    finally:
        topics.unregister(topic_name, client=owner)
    with pytest.raises(KafkaAccessDeniedError):  # never registered: not yours to describe
        topics.details(topic_name, client=owner)


def test_groups_lag_and_reset(owner, filled):
    t = filled["topic"]
    group = f"{t}/readers"
    con = KafkaConsumer(t, client=owner, group_id=group, auto_offset_reset="earliest",
                        enable_auto_commit=False)
    try:
        deadline = time.monotonic() + 30
        got = 0
        while got < N + 10 and time.monotonic() < deadline:
            got += sum(len(v) for v in con.poll(timeout_ms=500).values())
        con.commit()
        frame = topics.groups(t, client=owner)
        assert set(frame["group"]) == {group} and list(frame["partition"]) == [0, 1]
        assert frame["lag"].sum() == 0 and frame["members"].iloc[0] == 1
        with pytest.raises(DiasporaError, match="active member"):
            topics.reset_group(group, "earliest", client=owner)
    finally:
        con.close()
    assert topics.reset_group(group, "earliest", client=owner) == {0: 0, 1: 0}
    after = topics.groups(t, client=owner)
    assert after["lag"].sum() == N + 10 and after["members"].sum() == 0
    moved = topics.reset_group(group, filled["between"], client=owner)
    assert sum(moved.values()) == N  # the later burst is left to read
    assert topics.groups(t, client=owner)["lag"].sum() == 10
    with pytest.raises(DiasporaUsageError, match="not a group"):
        topics.reset_group("no-slash", client=owner)


def test_schema_and_drift(owner, filled):
    found = topics.schema(filled["topic"], sample=N + 10, client=owner)
    fields = found.fields.set_index("field")
    assert set(fields.index) == {"value.n", "value.temp", "value.deep.x", "value.late"}
    assert fields.loc["value.n", "types"] == "int" and fields.loc["value.n", "null_fraction"] == 0
    assert fields.loc["value.late", "types"] == "bool"
    assert fields.loc["value.late", "null_fraction"] == pytest.approx(N / (N + 10))
    assert [d.field for d in found.drift] == ["value.late"]
    assert found.drift[0].partition == fields.loc["value.late", "first_partition"]
    assert "value.late" in repr(found)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_then_reread_gives_the_same_rows(owner, filled, fmt, tmp_path):
    t = filled["topic"]
    page = topics.read(t, filter="value.temp > 30", limit=15, client=owner)
    path = topics.export(page, tmp_path / f"page.{fmt}", client=owner)
    again = topics.read(snapshot=path, client=owner)
    pd.testing.assert_frame_equal(page.frame, again.frame)
    assert again.filter == "value.temp > 30"
    if fmt == "parquet":
        meta = json.loads(pq.read_schema(path).metadata[b"diaspora"])
        assert meta["topic"] == t and meta["filter"] == "value.temp > 30"
        assert meta["rows"] == 15 and set(meta["ranges"]) <= {"0", "1"}
        assert "value.temp" in meta["schema"] and meta["exported_at"]
        written = pd.read_parquet(path)
        assert list(written["offset"]) == list(page.frame["offset"])
        assert [json.loads(v) for v in written["value"]] == list(page.frame["value"])
    elif fmt == "csv":
        assert list(pd.read_csv(path)["offset"]) == list(page.frame["offset"])
    else:
        lines = path.read_text().splitlines()
        assert len(lines) == 15 and json.loads(lines[0])["value"] == page.frame["value"][0]
    whole = topics.export(t, tmp_path / f"all.{fmt}", client=owner)
    assert len(topics.read(snapshot=whole, client=owner).frame) == N + 10
    with pytest.raises(DiasporaUsageError, match=r"provenance|cannot read"):
        (tmp_path / "other.parquet").write_bytes(b"not parquet")
        topics.read(snapshot=tmp_path / "other.parquet", client=owner)
