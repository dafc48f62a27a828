"""The write path without a broker: the encoder against the read path's decoder, and
``topics.produce`` / ``topics.replay`` on the in-memory topics (engine="memory")."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diaspora_notebook import topics
from diaspora_notebook.errors import DiasporaUsageError, TopicMissingError
from diaspora_notebook.kafka.decode import decode_batch
from diaspora_notebook.kafka.encode import payloads
from diaspora_notebook.kafka.flatten import RowDecoder
from diaspora_notebook.kafka.memory import MemoryTopics

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


class MemoryClient:
    def __init__(self, store: MemoryTopics) -> None:
        self.store = store

    def connection_config(self, library: str = "kafka-python") -> dict:
        return {"topics": self.store}


@pytest.fixture
def store():
    s = MemoryTopics()
    for name, parts in (("t", 3), ("u", 3), ("v", 1)):
        s.create(name, partitions=parts)
    return s


@pytest.fixture
def client(store):
    return MemoryClient(store)


def produce(client, topic, data, **kw):
    return topics.produce(topic, data, engine="memory", client=client, **kw)


def everything(client, topic):
    return topics.read(topic, start="earliest", engine="memory", client=client, limit=10_000)


# --- encoding -----------------------------------------------------------------------------------


def test_rows_encode_as_the_read_path_decodes_them_back():
    frame = pd.DataFrame({
        "seq": [1, 2, 3], "name": ['a"b', "c\\d", "tab\there\n"],
        "reading.temp": [20.0, 21.5, float("nan")], "reading.ok": [True, False, None],
        "deep.a.b": [1, 2, 3], "tags": [[1, 2], [], None], "note": ["é ✓", None, "x"]})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    docs = [json.loads(p) for p in payloads(table)]
    assert docs[0] == {"seq": 1, "name": 'a"b', "reading": {"temp": 20.0, "ok": True},
                       "deep": {"a": {"b": 1}}, "tags": [1, 2], "note": "é ✓"}
    assert docs[2]["name"] == "tab\there\n" and docs[2]["reading"]["temp"] is None
    assert isinstance(docs[0]["reading"]["temp"], float)  # 20.0 keeps its .0: a float again
    back, errors = decode_batch(payloads(table), RowDecoder())
    assert errors == 0
    back = back.to_pandas() if hasattr(back, "to_pandas") else back
    assert list(back["reading.temp"][:2]) == [20.0, 21.5] and list(back["seq"]) == [1, 2, 3]
    assert list(back["deep.a.b"]) == [1, 2, 3] and list(back["name"]) == list(frame["name"])


def test_flat_names_and_dropped_nulls():
    table = pa.table({"a.b": [1, None], "c": ["x", None]})
    assert payloads(table, nested=False)[0] == b'{"a.b":1,"c":"x"}'
    assert [json.loads(p) for p in payloads(table, drop_nulls=True)] == [
        {"a": {"b": 1}, "c": "x"}, {}]
    both = pa.table({"a": [1], "a.b": [2]})  # a value and an object of the same name: flat
    assert json.loads(payloads(both)[0]) == {"a": 1, "a.b": 2}


def test_timestamps_numbers_and_odd_values_encode():
    table = pa.table({"when": pa.array([T0], pa.timestamp("ms", tz="UTC")),
                      "big": [2**62], "inf": [float("inf")], "neg": [-0.5]})
    doc = json.loads(payloads(table)[0])
    assert doc == {"when": "2026-01-01T00:00:00.000+00:00", "big": 2**62, "inf": None,
                   "neg": -0.5}


# --- produce --------------------------------------------------------------------------------------


def test_a_dataframe_is_rows_and_a_column_name_is_a_per_row_key(client):
    frame = pd.DataFrame({"sensor": ["s1", "s2", "s1"], "temp": [20.5, 21.0, 22.0]})
    done = produce(client, "t", frame, key="sensor")
    assert done.count == 3 and len(done.offsets) == 3
    rows = everything(client, "t").frame.sort_values("value.temp")
    assert list(rows["key"]) == ["s1", "s2", "s1"]  # not the literal "sensor", not 2 columns
    assert list(rows["value.temp"]) == [20.5, 21.0, 22.0]
    produce(client, "u", frame, key=topics.literal("sensor"))
    assert set(everything(client, "u").frame["key"]) == {"sensor"}
    with pytest.raises(DiasporaUsageError, match="no such column"):
        produce(client, "u", frame, key=topics.column("nope"))


def test_keys_timestamps_headers_and_partitions_per_row_or_for_all(client):
    frame = pd.DataFrame({"n": [0, 1, 2], "p": [2, 0, 2],
                          "at": pd.to_datetime([T0, T0 + 1000, T0 + 2000], unit="ms",
                                               utc=True),
                          "h": [{"run": "a"}, {"run": "b"}, None]})
    produce(client, "t", frame, timestamp="at", headers="h", partition="p")
    rows = everything(client, "t").frame.sort_values("value.n")
    assert list(rows["partition"]) == [2, 0, 2]
    assert [int(t.value // 1_000_000) for t in rows["timestamp"]] == [T0, T0 + 1000, T0 + 2000]
    assert list(rows["headers"])[:2] == [{"run": "a"}, {"run": "b"}]
    produce(client, "v", [{"x": 1}, {"x": 2}], timestamp="2026-01-01T00:00:05Z",
            headers={"src": "lab"}, key="fixed")
    rows = everything(client, "v").frame
    assert set(rows["key"]) == {"fixed"} and list(rows["headers"]) == [{"src": "lab"}] * 2
    assert {int(t.value // 1_000_000) for t in rows["timestamp"]} == {T0 + 5000}


def test_json_values_keep_their_shape_and_fields_can_be_keys(client):
    docs = [{"id": {"dev": "d1"}, "v": 1}, {"id": {"dev": "d2"}, "v": 2}, [1, 2], "text", None]
    done = produce(client, "v", docs, key="id.dev")
    assert done.count == 5
    rows = everything(client, "v").frame
    assert list(rows["key"]) == ["d1", "d2", None, None, None]
    assert list(rows["value"])[:4] == docs[:4]


def test_files_arrow_and_iterators_in_batches(client, tmp_path):
    frame = pd.DataFrame({"n": range(7), "s.x": [f"k{i % 2}" for i in range(7)]})
    frame.to_parquet(tmp_path / "f.parquet")
    frame.to_csv(tmp_path / "f.csv", index=False)
    (tmp_path / "f.jsonl").write_text("".join(json.dumps({"n": i}) + "\n\n" for i in range(7)))
    for source in (tmp_path / "f.parquet", str(tmp_path / "f.csv"), tmp_path / "f.jsonl",
                   pa.Table.from_pandas(frame), (frame.iloc[i:i + 2] for i in range(0, 7, 2))):
        assert produce(client, "v", source).count == 7
    rows = everything(client, "v").frame
    assert len(rows) == 35 and rows["value.n"].sum() == 5 * 21
    assert rows["value.s.x"].dropna().tolist()[:2] == ["k0", "k1"]
    reader = pa.Table.from_pandas(frame).to_reader(max_chunksize=3)
    assert produce(client, "v", reader, key="s.x").count == 7


def test_bad_inputs_say_what_to_do(client):
    with pytest.raises(DiasporaUsageError, match="not text"):
        produce(client, "t", '{"a": 1}')
    with pytest.raises(DiasporaUsageError, match="no such file"):
        produce(client, "t", "missing.parquet")
    with pytest.raises(TopicMissingError):
        produce(client, "nope", [{"a": 1}])
    with pytest.raises(DiasporaUsageError, match="nothing to produce"):
        produce(client, "t", pd.DataFrame())


def test_a_partial_failure_names_the_rows_keeps_what_landed_and_retries_in_one_call(store,
                                                                                    client):
    store.max_message_bytes = 40
    rows = [{"n": i, "pad": "x" * (40 if i in (1, 4) else 1)} for i in range(6)]
    with pytest.raises(topics.ProduceError) as failed:
        produce(client, "v", rows, key="n")
    err = failed.value
    assert err.failed_indices == [1, 4] and err.failed_count == 2
    assert "2 of 6 rows did not land" in str(err) and "rows 1, 4" in str(err)
    assert "MSG_SIZE_TOO_LARGE" in str(err) and "retry()" in err.hint
    assert err.produced.count == 4
    assert len(everything(client, "v").frame) == 4
    store.max_message_bytes = None
    again = err.retry()
    assert again.count == 2
    got = everything(client, "v").frame
    assert sorted(got["value.n"]) == list(range(6)) and set(got["key"]) == {str(i)
                                                                         for i in range(6)}
    assert topics.produce("v", err.failed_rows, engine="memory", client=client).count == 2


# --- replay ---------------------------------------------------------------------------------------


def _recorded(store, n=20, step_ms=10):
    for i in range(n):
        store.produce("t", json.dumps({"i": i, "deep": {"x": i}}).encode(),
                      key=f"k{i % 3}".encode(), timestamp_ms=T0 + i * step_ms,
                      headers=[("run", b"r1")])


def _same(a, b):
    def rows(f):
        return sorted(zip(f["key"], f["timestamp"], f["value"].map(json.dumps),
                          f["headers"].map(json.dumps), strict=True))
    return rows(a) == rows(b)


def test_export_replay_read_round_trip(store, client, tmp_path):
    _recorded(store)
    first = everything(client, "t")
    path = topics.export(first, tmp_path / "run.parquet")
    handle = topics.replay(path, "u", speed="max", keep_timestamps=True, engine="memory",
                           client=client, wait=True)
    assert handle.progress["state"] == "done" and handle.progress["delivered"] == 20
    again = everything(client, "u").frame
    assert _same(first.frame, again)
    for p in range(3):  # same order per partition
        src = first.frame[first.frame.partition == p].sort_values("offset")["value"].tolist()
        dst = again[again.partition == p].sort_values("offset")["value"].tolist()
        assert src == dst


def test_replay_paces_by_event_times_into_many_topics(store, client):
    _recorded(store, n=20, step_ms=20)  # 0.38 s of events
    began = time.monotonic()
    handle = topics.replay(everything(client, "t"), ["u", "v"], speed=2.0, engine="memory",
                           client=client)
    handle.wait(10)
    took = time.monotonic() - began
    assert 0.15 <= took < 2.0, took
    assert len(everything(client, "u").frame) == 20 == len(everything(client, "v").frame)
    late = handle.lateness()
    assert late["rows"] == 20 and late["p99"] < 50
    stamps = everything(client, "u").frame["timestamp"]
    assert stamps.min() > pd.Timestamp(T0 + 10_000, unit="ms", tz="UTC")  # new times


def test_replay_from_a_topic_and_a_frame_with_pause_stop_and_loop(store, client):
    _recorded(store, n=10, step_ms=50)
    handle = topics.replay("t", "u", speed=1.0, keep_timestamps=True, engine="memory",
                           client=client)
    time.sleep(0.12)
    handle.pause()
    time.sleep(0.05)
    held = handle.progress["sent"]
    time.sleep(0.2)
    assert handle.progress["sent"] == held and handle.progress["state"] == "paused"
    handle.resume()
    handle.wait(5)
    assert _same(everything(client, "t").frame, everything(client, "u").frame)
    frame = pd.DataFrame({"at": pd.to_datetime([T0, T0 + 10], unit="ms", utc=True),
                          "v": [1, 2]})
    looping = topics.replay(frame, "v", speed=1.0, loop=True, timestamp="at", engine="memory",
                            client=client)
    time.sleep(0.3)
    looping.stop()
    looping.wait(5)
    assert looping.progress["state"] == "stopped" and looping.passes >= 2
    looped = everything(client, "v").frame
    assert set(looped["value.v"]) == {1, 2}
    assert set(pd.to_datetime(looped["value.at"])) == set(frame["at"])  # its column kept
    with pytest.raises(DiasporaUsageError, match="speed"):
        topics.replay(frame, "v", speed=0, engine="memory", client=client)


def test_replay_of_a_frame_without_times_is_refused(client):
    handle = topics.replay(pd.DataFrame({"x": [1]}), "v", engine="memory", client=client)
    with pytest.raises(DiasporaUsageError, match="timestamp"):
        handle.wait(5)


def test_large_parquet_is_read_a_batch_at_a_time(client, tmp_path, monkeypatch):
    from diaspora_notebook.kafka import write

    monkeypatch.setattr(write, "BATCH_ROWS", 1000)
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"n": np.arange(5000)}), path, row_group_size=1000)
    seen = []
    real = write.table_records

    def spy(table, opts):
        seen.append(table.num_rows)
        return real(table, opts)

    monkeypatch.setattr(write, "table_records", spy)
    done = write.write(client, "v", path, write.Options(batch_rows=1000), engine="memory")
    assert done.count == 5000 and max(seen) <= 1000
