"""The explorer's pure logic: filter translation and errors, field names, start parsing."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.reader import normalize_fields
from diaspora_notebook.explore.values import decode_value, engine_column, field_column
from diaspora_notebook.filters import evaluate, parse_filter
from diaspora_notebook.kafka.start import as_millis, direction_of


def test_dotted_fields_are_backticked_and_collected():
    f = parse_filter('value.temp > 30 and key == "value.x" or `value.a-b` < 2')
    assert f.expr == '`value.temp` > 30 and key == "value.x" or `value.a-b` < 2'
    assert f.fields == ("value.temp", "value.a-b") and f.meta == {"key"}
    deep = parse_filter("value.deep.x.y == 1 and offset > 3 and partition in [0, 1]")
    assert deep.fields == ("value.deep.x.y",) and deep.meta == {"offset", "partition"}


@pytest.mark.parametrize(("text", "position", "words"), [
    ("value.temp > > 3", 14, "invalid syntax"),
    ("value.temp >", 13, "ends too early"),  # just after the end
    ('key == "s1', 8, "never closed"),
    ("`value.x == 1", 1, "never closed"),
    ("lambda r: r", 1, "condition"),
])
def test_bad_expressions_name_the_position(text, position, words):
    with pytest.raises(DiasporaUsageError) as bad:
        parse_filter(text)
    message = str(bad.value)
    assert f"position {position}:" in message and words in message
    caret_line = message.splitlines()[-1]
    assert caret_line.index("^") - 2 == position - 1  # the caret sits under that character


def test_evaluate_on_missing_and_mixed_columns():
    frame = pd.DataFrame({"key": ["a", "b", None], "value.temp": [31.0, float("nan"), 12.0]})
    assert list(evaluate(parse_filter('value.temp > 30 or key == "b"'), frame, "x")) == \
        [True, True, False]
    assert list(evaluate(parse_filter("True"), frame, "x")) == [True] * 3
    with pytest.raises(DiasporaUsageError, match="not a condition"):
        evaluate(parse_filter("value.temp + 1"), frame, "x")
    with pytest.raises(DiasporaUsageError, match="failed on rows 1-3"):
        evaluate(parse_filter("value.temp.startswith('a')"), frame, "rows 1-3")


def test_fields_and_names():
    assert normalize_fields(["temp", "$.deep.x", "value.y"]) == \
        ["value.temp", "value.deep.x", "value.y"]
    assert normalize_fields("temp") == ["value.temp"] and normalize_fields(None) is None
    with pytest.raises(DiasporaUsageError):
        normalize_fields(["$."])
    assert field_column("deep.x") == "value.deep.x" and field_column("value.key") == "value.key"
    assert engine_column("value.key") == "value.key" and engine_column("value.a.b") == "a.b"


def test_values_decode_json_then_text_then_hex():
    assert decode_value(b'{"a": 1}') == {"a": 1} and decode_value(b"7") == 7
    assert decode_value(b"plain") == "plain" and decode_value(b"\xff\x00") == "ff00"
    assert decode_value(b"abc", decoder=lambda b: b.upper()) == b"ABC"
    assert decode_value(b"abc", decoder=lambda b: 1 / 0) == "abc" and decode_value(None) is None


def test_starts_and_directions():
    assert direction_of("latest", None) == "backward"
    assert direction_of("earliest", None) == direction_of(5, None) == "forward"
    with pytest.raises(DiasporaUsageError):
        direction_of("latest", "sideways")
    utc = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    ms = int(utc.timestamp() * 1000)
    assert as_millis(utc) == as_millis(utc.replace(tzinfo=None)) == ms  # naive means UTC
    assert as_millis("2026-01-02T03:04:05Z") == as_millis(pd.Timestamp(utc)) == ms
    assert as_millis(utc.timestamp()) == ms and as_millis("soon") is None
    assert as_millis(dt.date(2026, 1, 2)) == int(dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
                                                 .timestamp() * 1000)
