"""Starting kafka-python's ended metadata refresh again (kafka-python's own ``ClusterMetadata``
and ``Future``; the manager that schedules the task is a stand-in, no broker). The end-to-end
case is tests/integration/test_kafka_python_clients_recover.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kafka.cluster import ClusterMetadata
from kafka.future import Future

from diaspora_notebook.kafka.metadata_refresh import (
    metadata_refresh_stopped,
    restart_metadata_refresh,
)


class Scheduler:
    """What ``ClusterMetadata.start_refresh_loop`` needs of kafka-python's manager."""

    def __init__(self) -> None:
        self.scheduled: list[Any] = []

    def call_soon(self, task: Any) -> Future:
        self.scheduled.append(task)
        return Future()


def producer_with(task: Future | None, *, closed: bool = False) -> tuple[Any, Scheduler]:
    cluster = ClusterMetadata(bootstrap_servers="127.0.0.1:9")
    scheduler = Scheduler()
    cluster._manager = scheduler
    cluster._refresh_loop_future = task
    cluster.closed = closed
    return SimpleNamespace(_metadata=cluster), scheduler  # a producer names it _metadata


def test_an_ended_refresh_is_started_again_once():
    ended = Future().failure(ConnectionResetError(104, "Connection reset by peer"))
    producer, scheduler = producer_with(ended)
    assert restart_metadata_refresh(producer) == \
        "ConnectionResetError: [Errno 104] Connection reset by peer"
    assert scheduler.scheduled == [producer._metadata._refresh_loop]
    assert producer._metadata._refresh_loop_future is not ended
    assert metadata_refresh_stopped(producer) is None  # running again
    assert restart_metadata_refresh(producer) is None and len(scheduler.scheduled) == 1


def test_a_running_unstarted_or_closed_refresh_is_left_alone():
    for task, closed in ((Future(), False), (None, False), (Future().success(None), True)):
        producer, scheduler = producer_with(task, closed=closed)
        assert restart_metadata_refresh(producer) is None
        assert scheduler.scheduled == [] and producer._metadata._refresh_loop_future is task
    assert restart_metadata_refresh(SimpleNamespace()) is None  # a kafka-python without them
