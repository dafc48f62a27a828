"""Payload -> row: JSON objects flattened, scalars in ``value``, bad payloads kept (``_error``)."""

from __future__ import annotations

import json

import pytest

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.flatten import RowDecoder, decode_key, flatten


def test_flatten_joins_nested_keys_and_keeps_lists_and_empty_objects():
    obj = {"a": {"b": 1, "c": {"d": "x"}}, "e": [1, {"f": 2}], "g": {}, "h": None}
    assert flatten(obj) == {"a.b": 1, "a.c.d": "x", "e": [1, {"f": 2}], "g": {}, "h": None}


def test_flatten_with_another_separator():
    assert flatten({"a": {"b": 1}}, sep="/") == {"a/b": 1}


def test_json_object_becomes_columns():
    payload = json.dumps({"temp": 21.5, "loc": {"lat": 1, "lon": 2}}).encode()
    cols, failed = RowDecoder().decode(payload)
    assert not failed
    assert cols == {"temp": 21.5, "loc.lat": 1, "loc.lon": 2}


@pytest.mark.parametrize("payload, value", [
    (b"42", 42), (b"3.5", 3.5), (b'"text"', "text"), (b"true", True), (b"null", None),
    (b"[1, 2]", [1, 2]),
])
def test_json_scalars_and_lists_go_to_value(payload, value):
    assert RowDecoder().decode(payload) == ({"value": value}, False)


@pytest.mark.parametrize("payload", [b"not json{", b"\xff\xfe binary", b"", b"{'single': 1}"])
def test_non_json_is_kept_as_text_with_a_reason(payload):
    cols, failed = RowDecoder().decode(payload)
    assert failed
    assert cols["value"] == payload.decode("utf-8", errors="replace")
    assert cols["_error"].startswith("not JSON: JSONDecodeError") or \
        cols["_error"].startswith("not JSON: UnicodeDecodeError")


def test_tombstone_is_a_row_with_no_value():
    assert RowDecoder().decode(None) == ({"value": None}, False)


def test_payload_keys_that_clash_with_metadata_columns_are_prefixed():
    cols, _ = RowDecoder().decode(b'{"offset": 5, "topic": "mine", "_error": "x", "ok": 1}')
    assert cols == {"value.offset": 5, "value.topic": "mine", "value._error": "x", "ok": 1}


def test_flatten_false_keeps_the_object_whole():
    cols, _ = RowDecoder(flatten=False).decode(b'{"a": {"b": 1}}')
    assert cols == {"value": {"a": {"b": 1}}}


def test_text_and_bytes_deserializers():
    assert RowDecoder("text").decode(b"h\xc3\xa9") == ({"value": "h\u00e9"}, False)
    assert RowDecoder("bytes").decode(b"\x00\x01") == ({"value": b"\x00\x01"}, False)


def test_a_failing_custom_deserializer_keeps_the_text():
    def strict(raw: bytes) -> dict:
        raise ValueError("nope")

    cols, failed = RowDecoder(strict).decode(b"abc")
    assert failed
    assert cols == {"value": "abc", "_error": "not strict: ValueError: nope"}


def test_custom_deserializer_objects_are_flattened():
    cols, _ = RowDecoder(lambda raw: {"n": {"len": len(raw)}}).decode(b"abcd")
    assert cols == {"n.len": 4}


@pytest.mark.parametrize("bad", ["avro", 3])
def test_unknown_deserializer_is_a_usage_error(bad):
    with pytest.raises(DiasporaUsageError):
        RowDecoder(bad)


def test_keys_are_text():
    assert decode_key(None) is None
    assert decode_key(b"sensor-1") == "sensor-1"
    assert decode_key(b"\xff") == "\\xff"
