"""Pure logic of ``diaspora_notebook.topics`` and its notebook face: argument checks that
fail before any network call, and hints in Python or magic syntax (no fabric needed)."""

from __future__ import annotations

import pytest

from diaspora_notebook import topics
from diaspora_notebook.errors import DiasporaUsageError, KafkaAccessDeniedError
from diaspora_notebook.kafka import errors as kafka_errors
from diaspora_notebook.notebook.errors import notebook_line, widget_message


@pytest.mark.parametrize(("call", "wrong"), [
    (lambda: topics.peek(" "), "no topic name"),
    (lambda: topics.peek("t", 0), "at least 1"),
    (lambda: topics.create("t", partitions=0), "partition count 0"),
    (lambda: topics.create("t", partitions=1001), "partition count 1001"),
    (lambda: topics.register("t", create=True, partitions=True), "partition count True"),
    (lambda: topics.produce("t", '{"a": 1}'), "not text"),
    (lambda: topics.produce("t", []), "nothing to produce"),
])
def test_bad_arguments_fail_before_any_network_call(monkeypatch, call, wrong):
    def no_client():
        raise AssertionError("a bad argument must fail before a client is made")

    monkeypatch.setattr("diaspora_notebook.client.default_client", no_client)
    with pytest.raises(DiasporaUsageError) as info:
        call()
    assert wrong in str(info.value) and info.value.hint


@pytest.mark.parametrize(("error", "python", "magic"), [
    (kafka_errors.missing("t1"), "topics.create('t1')", "%diaspora_register t1 --create"),
    (kafka_errors.denied("t1", "read"), "topics.register('t1')", "%diaspora_register t1"),
])
def test_core_hints_name_the_python_call_and_magics_rewrite_them(error, python, magic):
    assert python in error.hint and "%" not in error.hint
    line = notebook_line(error)
    assert line.startswith(f"{type(error).__name__}: {error.message} - ") and magic in line
    assert widget_message(error) == line


def test_errors_without_a_topic_keep_their_hint():
    error = KafkaAccessDeniedError("refused a producer id", hint="build a new KafkaProducer")
    assert notebook_line(error) == error.one_line()
