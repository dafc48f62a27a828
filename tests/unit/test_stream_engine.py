"""The read path's pieces without a broker: engine choice, settings translation, batch decoding,
the view registry, the adaptive refresh and the rule that the core never imports notebook code."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.arrow import batch_to_arrow
from diaspora_notebook.kafka.confluent import confluent_batches, to_librdkafka
from diaspora_notebook.kafka.decode import decode_batch
from diaspora_notebook.kafka.flatten import RowDecoder
from diaspora_notebook.kafka.source import RawBatch, pick_engine
from diaspora_notebook.stream import views

STREAM = Path(__file__).resolve().parents[2] / "diaspora_notebook" / "stream"
KAFKA = STREAM.parent / "kafka"


def test_auto_picks_confluent_when_installed_and_names_are_checked():
    assert pick_engine("auto") == "confluent"
    assert pick_engine("kafka-python") == "kafka-python"
    with pytest.raises(DiasporaUsageError, match="unknown engine 'rdkafka'") as info:
        pick_engine("rdkafka")
    assert "confluent" in info.value.hint


def test_kafka_python_settings_translate_to_librdkafka():
    conf = to_librdkafka({"bootstrap_servers": ["127.0.0.1:1", "127.0.0.1:2"],
                          "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                          "sasl_plain_username": "u", "sasl_plain_password": "p",
                          "ssl_cafile": "/ca.pem", "fetch.min.bytes": 1})
    assert conf == {"bootstrap.servers": "127.0.0.1:1,127.0.0.1:2",
                    "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
                    "sasl.username": "u", "sasl.password": "p", "ssl.ca.location": "/ca.pem",
                    "fetch.min.bytes": 1}
    with pytest.raises(DiasporaUsageError, match="kafka-python setting"):
        to_librdkafka({"acks": "all"})


def test_a_clean_json_batch_takes_the_arrow_path():
    values = [json.dumps({"a": i, "b": {"c": f"x{i}", "d": {"e": i / 2}}}).encode()
              for i in range(100)]
    table, errors = decode_batch(values, RowDecoder())
    assert isinstance(table, pa.Table) and errors == 0
    assert table.column_names == ["a", "b.c", "b.d.e"]
    assert table.column("b.d.e").to_pylist()[3] == 1.5


@pytest.mark.parametrize("odd", [
    b"not json", b"17", b'{"a": "text"}', b'{"a": {}}', b"", b'{"a": 1}\n{"a": 2}', None,
])
def test_any_odd_payload_falls_back_per_payload_and_keeps_every_row(odd):
    values = [json.dumps({"a": i}).encode() for i in range(10)]
    values[4] = odd
    payload, errors = decode_batch(values, RowDecoder())
    rows = payload.to_pylist() if isinstance(payload, pa.Table) else \
        payload.to_dict("records")
    assert len(rows) == 10
    assert [r.get("a") for i, r in enumerate(rows) if i != 4] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert errors == (1 if odd in (b"not json", b'{"a": 1}\n{"a": 2}', b"") else 0)


def test_reserved_names_are_renamed_on_both_paths():
    fast, _ = decode_batch([b'{"offset": 1, "key": "k"}'], RowDecoder())
    slow, _ = decode_batch([b'{"offset": 1, "key": "k"}', b"bad"], RowDecoder())
    assert fast.column_names == ["value.offset", "value.key"]
    cols = list(slow.columns) if hasattr(slow, "iloc") else slow.column_names
    assert "value.offset" in cols and "offset" not in cols


def test_read_batches_rows_carry_meta_raw_value_and_fields():
    raw = RawBatch("t", 3, np.array([5, 6], np.int64), np.array([1000, -1], np.int64),
                   [b"k", None], [b'{"a": {"b": 1}}', b"oops"], [[("h", b"v")], []])
    batch = batch_to_arrow(raw, RowDecoder())
    assert batch.schema.names[:7] == ["topic", "partition", "offset", "timestamp", "key",
                                      "headers", "value"]
    assert batch.column("value").to_pylist() == [b'{"a": {"b": 1}}', b"oops"]
    assert batch.column("a.b").to_pylist() == [1, None]
    assert batch.column("timestamp").is_null().to_pylist() == [False, True]
    assert batch.column("headers").to_pylist()[0] == [{"name": "h", "value": b"v"}]
    assert batch.column("_error").to_pylist()[1].startswith("not JSON")


class _Msg:
    def __init__(self, topic, partition, offset):
        self._t, self._p, self._o = topic, partition, offset

    def topic(self):
        return self._t

    def partition(self):
        return self._p

    def offset(self):
        return self._o

    def timestamp(self):
        return (1, 1000 + self._o)

    def key(self):
        return None

    def value(self):
        return b"{}"

    def headers(self):
        return None


def test_consumed_messages_are_grouped_per_partition_in_order():
    msgs = [_Msg("t", p, o) for o, p in enumerate([0, 1, 0, 1, 0])]
    batches = confluent_batches(msgs, "t", headers=False)
    assert [(b.partition, b.offsets.tolist()) for b in batches] == [(0, [0, 2, 4]), (1, [1, 3])]
    two_topics = confluent_batches([_Msg("a", 0, 0), _Msg("b", 0, 0)], None, headers=True)
    assert [(b.topic, b.headers) for b in two_topics] == [("a", [[]]), ("b", [[]])]


def test_without_a_registered_view_asking_for_one_says_what_to_do():
    saved = dict(views._VIEWS)
    try:
        views._VIEWS.clear()
        with pytest.raises(DiasporaUsageError, match="no live table view") as info:
            views.require_view("table")
        assert "%load_ext diaspora_notebook" in info.value.hint
        views.register_view("table", lambda live, **kw: ("view", live, kw))
        assert views.require_view("table")("L", rows=3) == ("view", "L", {"rows": 3})
        with pytest.raises(DiasporaUsageError, match="unknown view kind"):
            views.register_view("chart", print)
    finally:
        views._VIEWS.clear()
        views._VIEWS.update(saved)


def test_the_core_never_imports_notebook_code_or_ipython():
    offenders = []
    for path in sorted([*STREAM.glob("*.py"), *KAFKA.glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.startswith(("diaspora_notebook.notebook", "IPython", "ipywidgets",
                                           "ipykernel"))]
    assert offenders == []


class _Stream:
    """What a ``Refresher`` watches, over a real ``LiveFrame`` (no consumer): rows are added
    by the test."""

    from diaspora_notebook.stream.live import LiveDataFrame as _Live

    wait_changed = _Live.wait_changed
    wake_waiters = _Live.wake_waiters

    def __init__(self) -> None:
        from diaspora_notebook.stream.frame import LiveFrame

        self.frame = LiveFrame(max_rows=10_000)
        self.running = True
        self.state = "running"
        self.added = 0

    @property
    def version(self) -> int:
        return self.frame.version

    def add_row(self) -> float:
        self.frame.ingest_columns("t", 0, np.array([self.added], np.int64),
                                  np.array([0], np.int64), [None], [b"{}"])
        self.added += 1
        return time.monotonic()


def test_one_slow_refresh_does_not_stretch_the_next_wait():
    """The first refresh is slow (thousands of rows, code run for the first time); with the
    last cost alone the next one waited 5x its cost while events piled up. The floor is the
    mean of the last few costs, and refreshes start a period apart."""
    import threading

    from diaspora_notebook.notebook.widgets.refresher import Refresher

    stream = _Stream()
    starts: list[float] = []
    feeding = threading.Event()

    def feed() -> None:  # events keep arriving, as in a running stream
        while not feeding.wait(0.02):
            stream.add_row()

    def refresh() -> None:
        starts.append(time.monotonic())
        time.sleep(0.08 if len(starts) == 1 else 0.001)

    threading.Thread(target=feed, daemon=True).start()
    refresher = Refresher(stream, refresh, hz=10)  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 5
        while len(starts) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        refresher.close()
        feeding.set()
    assert len(starts) >= 4
    # the last cost alone made this gap 0.08 + 5 x 0.08 = 0.48 s
    assert starts[1] - starts[0] < 0.3, starts
    assert refresher.period == pytest.approx(0.1)


def test_the_first_rows_after_a_quiet_spell_are_refreshed_at_once():
    """A tick every period shows a lone event up to a period late (50 ms on average at
    10 Hz); the refresher waits for rows instead and refreshes as they land."""
    import random

    from diaspora_notebook.notebook.widgets.refresher import Refresher

    stream = _Stream()
    seen: list[tuple[float, int]] = []
    refresher = Refresher(stream, lambda: seen.append((time.monotonic(), stream.version)),
                          hz=10)  # type: ignore[arg-type]
    delays = []
    try:
        for _ in range(8):
            time.sleep(random.uniform(0.3, 0.5))  # quiet: more than a period since the last
            added = stream.add_row()
            version = stream.version
            deadline = added + 2
            while not any(v >= version for _, v in seen) and time.monotonic() < deadline:
                time.sleep(0.001)
            delays.append(min(t for t, v in seen if v >= version) - added)
        idle_refreshes = len(seen)
    finally:
        refresher.close()
    refresher.thread.join(1)
    assert not refresher.thread.is_alive()  # close() wakes a refresher waiting for rows
    # on a tick each delay is uniform in 0-100 ms: 7 of 8 under 40 ms by chance is under 1%
    # (one may be late: a loaded machine can hold a thread back for a moment)
    assert sum(d < 0.04 for d in delays) >= 7, delays
    # while quiet, counters are still refreshed (every IDLE_S), not only when rows come
    assert idle_refreshes >= 8 + 8, seen


def test_refresh_period_adapts_to_cost_and_to_a_busy_kernel():
    from diaspora_notebook.notebook.widgets.refresher import Refresher

    r = Refresher.__new__(Refresher)
    r.base = 0.1
    assert r.next_period(0.1, cost=0.001, late=0.0) == pytest.approx(0.1)
    assert r.next_period(0.1, cost=0.08, late=0.0) == pytest.approx(0.4)  # 5x what it cost
    assert r.next_period(0.1, cost=0.001, late=0.2) == pytest.approx(0.1)  # noise: ignored
    busy = r.next_period(0.1, cost=0.001, late=0.5)
    assert busy == pytest.approx(0.15)
    period = busy
    for _ in range(20):
        period = r.next_period(period, cost=0.001, late=0.5)
    assert period == Refresher.MAX_PERIOD_S
    for _ in range(20):
        period = r.next_period(period, cost=0.001, late=0.0)
    assert period == pytest.approx(0.1)
