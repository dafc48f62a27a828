"""When the kafka-python engine must build a new consumer: its metadata refresh task ended while
the consumer is open (kafka-python's own ``ClusterMetadata`` and ``Future``, no broker).
The end-to-end case, with a real broker restart, is in
tests/integration/test_live_kafka_python_recovery.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kafka.cluster import ClusterMetadata
from kafka.future import Future

from diaspora_notebook.kafka.kafka_python import KafkaPythonSource
from diaspora_notebook.kafka.metadata_refresh import metadata_refresh_stopped
from diaspora_notebook.stream.consumer_thread import _needs_new_consumer


def consumer_with(task: Future | None, *, closed: bool = False) -> Any:
    cluster = ClusterMetadata(bootstrap_servers="127.0.0.1:9")
    cluster._refresh_loop_future = task
    cluster.closed = closed
    return SimpleNamespace(_cluster=cluster)


def reset() -> Future:
    return Future().failure(ConnectionResetError(104, "Connection reset by peer"))


def test_an_ended_refresh_task_of_an_open_consumer_is_reported_with_its_error():
    assert metadata_refresh_stopped(consumer_with(reset())) == \
        "ConnectionResetError: [Errno 104] Connection reset by peer"
    assert metadata_refresh_stopped(consumer_with(Future().success(None))) == "its task ended"


def test_a_running_unstarted_or_closed_refresh_is_no_reason_to_rebuild():
    assert metadata_refresh_stopped(consumer_with(Future())) is None  # still running
    assert metadata_refresh_stopped(consumer_with(None)) is None  # before the bootstrap
    assert metadata_refresh_stopped(consumer_with(reset(), closed=True)) is None  # ends by design
    assert metadata_refresh_stopped(SimpleNamespace()) is None  # a kafka-python without them


def test_the_source_turns_it_into_a_fatal_error_that_builds_a_new_consumer():
    source = KafkaPythonSource.__new__(KafkaPythonSource)  # no broker needed to judge
    source.consumer = consumer_with(reset())
    error = source.take_error()
    assert error is not None and error.fatal and _needs_new_consumer(error)
    assert str(error) == ("kafka-python stopped refreshing metadata (ConnectionResetError: "
                          "[Errno 104] Connection reset by peer); reconnecting with a new consumer")
    assert source.broken() is not None
    source.consumer = consumer_with(Future())
    assert source.take_error() is None and source.broken() is None
