"""The bounded window: drops counted, duplicates skipped, latest_by_key, lazy decoding."""

from __future__ import annotations

import json
import threading
from typing import NamedTuple

import pandas as pd
import pytest

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.stream.frame import LiveFrame

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


class Rec(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


def recs(start, stop, *, partition=0, topic="t", key=None, value=None):
    out = []
    for i in range(start, stop):
        k = key(i) if callable(key) else key
        v = value(i) if callable(value) else (value or json.dumps({"i": i}).encode())
        out.append(Rec(topic, partition, i, T0 + i, k, v))
    return out


def test_rows_carry_metadata_and_flattened_values():
    frame = LiveFrame()
    frame.ingest([Rec("t", 2, 7, T0, b"k", b'{"a": {"b": 1}, "c": "x"}')])
    df = frame.snapshot()
    assert list(df.columns) == ["topic", "partition", "offset", "timestamp", "key", "a.b", "c"]
    row = df.iloc[0]
    assert (row.topic, row.partition, row.offset, row.key, row["a.b"], row.c) == \
        ("t", 2, 7, "k", 1, "x")
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert df["timestamp"].iloc[0] == pd.Timestamp("2026-01-01T00:00:00Z")


def test_error_column_comes_last_and_bad_payloads_are_kept():
    frame = LiveFrame()
    frame.ingest([Rec("t", 0, 0, T0, None, b"oops"), Rec("t", 0, 1, T0, None, b'{"a": 1}'),
                  Rec("t", 0, 2, T0, None, b"7")])
    df = frame.snapshot()
    assert list(df.columns)[-1] == "_error"
    assert df["value"].tolist()[0] == "oops" and df["value"].tolist()[2] == 7
    assert df["_error"].notna().tolist() == [True, False, False]
    assert frame.decode_errors == 1


def test_missing_timestamp_is_nat():
    frame = LiveFrame()
    frame.ingest([Rec("t", 0, 0, -1, None, b"1")])
    assert frame.snapshot()["timestamp"].isna().all()


def test_empty_frame_has_the_metadata_columns():
    df = LiveFrame().snapshot()
    assert list(df.columns) == ["topic", "partition", "offset", "timestamp", "key", "value"]
    assert len(df) == 0


def test_window_keeps_the_newest_max_rows_and_counts_drops():
    frame = LiveFrame(max_rows=100)
    for start in range(0, 1000, 70):
        frame.ingest(recs(start, min(start + 70, 1000)))
    df = frame.snapshot()
    assert df["offset"].tolist() == list(range(900, 1000))
    assert frame.rows_dropped == 900
    assert frame.events == 1000


def test_duplicates_are_skipped_by_topic_partition_offset():
    frame = LiveFrame()
    frame.ingest(recs(0, 10))
    frame.ingest(recs(5, 15))  # a re-read after a retry
    frame.ingest(recs(0, 3, partition=1))  # other partition: independent
    frame.ingest(recs(0, 3, partition=1))
    df = frame.snapshot()
    assert frame.duplicates == 5 + 3
    assert sorted(zip(df.partition, df.offset, strict=True)) == \
        sorted([(0, i) for i in range(15)] + [(1, i) for i in range(3)])
    assert frame.next_offsets() == {("t", 0): 15, ("t", 1): 3}


def test_latest_by_key_keeps_one_row_per_key():
    frame = LiveFrame(mode="latest_by_key")
    frame.ingest(recs(0, 30, key=lambda i: f"k{i % 3}".encode()))
    df = frame.snapshot()
    assert sorted(df["key"]) == ["k0", "k1", "k2"]
    assert dict(zip(df.key, df.i, strict=True)) == {"k0": 27, "k1": 28, "k2": 29}
    assert frame.rows_replaced == 27
    assert frame.rows_dropped == 0


def test_latest_by_key_is_bounded_too():
    frame = LiveFrame(mode="latest_by_key", max_rows=5)
    frame.ingest(recs(0, 12, key=lambda i: str(i).encode()))
    df = frame.snapshot()
    assert df["key"].tolist() == ["7", "8", "9", "10", "11"]
    assert frame.rows_dropped == 7


def test_latest_by_key_moves_an_updated_key_to_the_end():
    frame = LiveFrame(mode="latest_by_key")
    frame.ingest(recs(0, 3, key=lambda i: str(i).encode()))
    frame.ingest([Rec("t", 0, 3, T0, b"0", b'{"i": 99}')])
    assert frame.snapshot()["key"].tolist() == ["1", "2", "0"]


def test_snapshot_is_a_copy():
    frame = LiveFrame()
    frame.ingest(recs(0, 5))
    df = frame.snapshot()
    df.loc[0, "i"] = -1
    frame.ingest(recs(5, 6))
    assert len(df) == 5
    again = frame.snapshot()
    assert again["i"].tolist() == [0, 1, 2, 3, 4, 5]


def test_tail_is_the_newest_rows():
    frame = LiveFrame()
    frame.ingest(recs(0, 50))
    assert frame.snapshot(tail=3)["offset"].tolist() == [47, 48, 49]
    assert len(frame.snapshot(tail=500)) == 50


def test_rows_since_hands_every_row_over_once_while_events_arrive():
    frame = LiveFrame()
    frame.ingest(recs(0, 10))
    table, seen = frame.rows_since(0, 100)
    assert table.column("offset").to_pylist() == list(range(10)) and seen == 10
    frame.ingest(recs(10, 15))
    table, seen = frame.rows_since(seen, 3)  # at most the newest 3
    assert table.column("offset").to_pylist() == [12, 13, 14] and seen == 15
    assert len(frame.rows_since(seen, 100)[0]) == 0

    got: list[int] = []  # a reader racing a writer gets each row once, none skipped
    writer = threading.Thread(target=lambda: [frame.ingest(recs(i, i + 7))
                                              for i in range(15, 3_015, 7)])
    writer.start()
    while writer.is_alive() or seen < frame.events:
        table, seen = frame.rows_since(seen, 10_000)
        got += table.column("offset").to_pylist()
    writer.join()
    assert got == list(range(15, frame.events))  # 15..3017, in order


def test_rows_dropped_before_being_seen_are_never_decoded(monkeypatch):
    import diaspora_notebook.stream.frame as frame_module

    decoded: list[bytes] = []
    real = frame_module.decode_batch

    def counting(values, decoder):
        decoded.extend(values)
        return real(values, decoder)

    monkeypatch.setattr(frame_module, "decode_batch", counting)
    frame = LiveFrame(max_rows=10)
    for start in range(0, 1000, 100):  # one chunk per consumed batch
        frame.ingest(recs(start, start + 100))
    frame.snapshot()
    assert len(decoded) == 10


def test_idle_decoding_counts_errors_without_a_snapshot():
    frame = LiveFrame()
    frame.ingest(recs(0, 5, value=lambda i: b"bad" if i == 3 else b"1"))
    assert frame.decode_errors == 0
    assert frame.decode_pending() == 5
    assert frame.decode_errors == 1
    frame.snapshot()
    assert frame.decode_errors == 1  # decoded once only


def test_batch_frame_decodes_just_the_batch():
    frame = LiveFrame()
    batch = frame.batch_frame(recs(3, 5))
    assert batch["offset"].tolist() == [3, 4] and batch["i"].tolist() == [3, 4]
    assert frame.events == 0


def test_concurrent_ingest_and_snapshots_stay_consistent():
    frame = LiveFrame(max_rows=500)
    done = threading.Event()

    def writer():
        for start in range(0, 20_000, 100):
            frame.ingest(recs(start, start + 100))
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        df = frame.snapshot()
        offsets = df["offset"].tolist()
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets))) if offsets else True
        assert len(df) <= 500
    thread.join()
    assert frame.snapshot()["offset"].tolist() == list(range(19_500, 20_000))


@pytest.mark.parametrize("kwargs", [{"mode": "upsert"}, {"max_rows": 0}, {"max_rows": 2.5}])
def test_bad_options_are_usage_errors(kwargs):
    with pytest.raises(DiasporaUsageError):
        LiveFrame(**kwargs)


def test_schema_drift_is_unioned_and_counted():
    frame = LiveFrame()
    frame.ingest(recs(0, 3, value=lambda i: json.dumps({"a": i}).encode()))
    frame.ingest(recs(3, 6, value=lambda i: json.dumps({"a": i, "b": {"c": i}}).encode()))
    frame.ingest(recs(6, 8, value=lambda i: json.dumps({"b": {"c": "x"}}).encode()))
    df = frame.snapshot()
    assert df["a"].isna().tolist() == [False] * 6 + [True] * 2
    assert df["b.c"].tolist()[3:] == [3, 4, 5, "x", "x"]  # int and str: kept as objects
    assert frame.schema_changes == 2
    assert set(frame.new_fields) == {"b.c"}
    assert frame.new_fields["b.c"].offset == 3


def test_new_field_offset_is_the_first_row_that_has_it():
    frame = LiveFrame()
    frame.ingest(recs(0, 2))
    frame.ingest(recs(2, 6, value=lambda i: json.dumps({"i": i, **({"z": 1} if i > 3 else {})})
                      .encode()))
    frame.snapshot()
    assert frame.new_fields["z"].offset == 4


def test_one_bad_payload_does_not_stop_its_batch():
    values = [json.dumps({"i": i}).encode() for i in range(100)]
    values[50] = b"\xff\xfe not json"
    values[60] = b'{"i": 1}\n{"i": 2}'  # two lines in one payload
    frame = LiveFrame()
    frame.ingest(recs(0, 100, value=lambda i: values[i]))
    df = frame.snapshot()
    assert len(df) == 100 and frame.decode_errors == 2
    assert df["_error"].notna().sum() == 2
    assert df["i"].dropna().astype(int).tolist() == [i for i in range(100) if i not in (50, 60)]
    assert df["value"].iloc[50].endswith("not json")


def test_tombstones_and_reserved_names():
    frame = LiveFrame()
    frame.ingest(recs(0, 2, value=lambda i: json.dumps({"offset": i, "x": 1}).encode()))
    frame.ingest([Rec("t", 0, 2, T0, b"k", None)])
    df = frame.snapshot()
    assert df["offset"].tolist() == [0, 1, 2]
    assert df["value.offset"].tolist()[:2] == [0, 1]
    assert df["value"].isna().all()
