"""Counters, rate, start positions: the pure parts of the live stream."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.start import Start, parse_start
from diaspora_notebook.stream.consumer_thread import describe_error
from diaspora_notebook.stream.stats import RateMeter, StreamStats, StreamStatus


def test_rate_over_a_sliding_window():
    meter = RateMeter(window=5.0)
    for second in range(11):
        meter.add(100 * second, now=float(second))
    assert meter.rate(now=10.0) == pytest.approx(100.0, rel=0.05)
    assert meter.rate(now=100.0) == 0.0  # nothing new for a whole window
    assert RateMeter().rate() == 0.0


def test_total_lag_and_summary():
    stats = StreamStats(state="running", events=1234, rows=100, max_rows=100, rate=12.5,
                        lag={"t[0]": 3, "t[1]": 4}, rows_dropped=1134, decode_errors=2)
    assert stats.total_lag == 7
    assert stats.errors == 2
    text = stats.summary()
    assert "running: 1,234 events (12.5/s)" in text
    assert "100/100 rows, lag 7, 2 errors, 1,134 dropped by the window" in text
    assert stats.as_dict()["total_lag"] == 7


def test_unknown_lag():
    stats = StreamStats(state="starting", events=0, rows=0, max_rows=10, rate=0.0,
                        lag={"t[0]": None})
    assert stats.total_lag is None
    assert "lag ?" in stats.summary()


def test_status_error_lifecycle():
    status = StreamStatus()
    status.record_error(RuntimeError("x"), "RuntimeError: x")
    assert (status.state, status.error) == ("retrying", "RuntimeError: x")
    assert status.consumer_errors == 1
    status.clear_error()
    assert (status.state, status.error, status.last_error) == ("running", None, "RuntimeError: x")
    try:
        raise ValueError("in callback")
    except ValueError as exc:
        status.record_callback_error(exc)
    assert status.callback_errors == 1 and "ValueError: in callback" in status.last_callback_error


def test_an_error_outlives_brokers_that_answer_until_it_has_been_quiet():
    status = StreamStatus()
    status.record_error(RuntimeError("denied"), "TopicAuthorizationFailedError")
    status.clear_error(quiet_for=60.0)  # a probe answered a moment after the failed fetch
    assert (status.state, status.error) == ("retrying", "TopicAuthorizationFailedError")
    status.error_at -= 61.0  # a minute without another error
    status.clear_error(quiet_for=60.0)
    assert (status.state, status.error) == ("running", None)


@pytest.mark.parametrize("start, expected", [
    ("latest", ("latest", None)),
    ("earliest", ("earliest", None)),
    (0, ("offset", 0)),
    (42, ("offset", 42)),
    (-100, ("last", 100)),
    (dt.datetime(2026, 1, 1), ("time", 1_767_225_600_000)),
    (pd.Timestamp("2026-01-01T01:00+01:00"), ("time", 1_767_225_600_000)),
    # one start for every reader: the explorer's ISO text and time.time() seconds too
    ("2026-01-01T00:00Z", ("time", 1_767_225_600_000)),
    (1_767_225_600.0, ("time", 1_767_225_600_000)),
    ({0: 5}, ("offsets", {0: 5})),
])
def test_start_positions(start, expected):
    assert Start.of(start) == Start(*expected)


@pytest.mark.parametrize("bad", ["newest", True, None, {0: "x"}, {True: 1}])
def test_bad_start_is_a_usage_error(bad):
    with pytest.raises(DiasporaUsageError, match="start"):
        Start.of(bad)


def test_parse_start_from_text():
    assert parse_start(" earliest ") == "earliest"
    assert parse_start("-10") == -10
    assert parse_start("2026-01-01T00:00Z") == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    with pytest.raises(DiasporaUsageError):
        parse_start("yesterday")


def test_describe_error():
    assert describe_error(RuntimeError("boom")) == "RuntimeError: boom"
    from confluent_kafka import KafkaError

    from diaspora_notebook.kafka.confluent import _confluent_error

    # librdkafka's "Local: Unknown partition" from the probe when access was removed: say why
    text = describe_error(_confluent_error(KafkaError(KafkaError._UNKNOWN_PARTITION)))
    assert text.startswith("UnknownPartitionError: ") and "may no longer read it" in text
    from kafka.errors import TopicAuthorizationFailedError

    text = describe_error(TopicAuthorizationFailedError("t"))
    assert "TopicAuthorizationFailedError" in text and "may read the topic" in text
