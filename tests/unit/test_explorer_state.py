"""The explorer's state without Kafka: one worker for every read, listeners on it, the tail
between actions, close (``read`` and ``describe_topic`` are stand-ins)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

import diaspora_notebook.explore.state as state_module
from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.result import ReadResult
from diaspora_notebook.explore.state import ExplorerState


class _Topic:
    """Reads of a topic whose newest offset grows with ``add``; records where each ran."""

    def __init__(self) -> None:
        self.newest = 5
        self.threads: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()

    def read(self, topic: str, **options: Any) -> ReadResult:
        self.threads.append(threading.current_thread().name)
        self.calls.append(options)
        self.gate.wait(10)
        if options.get("progress"):
            options["progress"](1, 2)
        offsets = list(range(max(self.newest - 3, 0), self.newest))
        if options.get("direction") == "backward":
            offsets.reverse()
        frame = pd.DataFrame({"partition": [0] * len(offsets), "offset": offsets,
                              "timestamp": [pd.Timestamp(0, tz="UTC")] * len(offsets),
                              "key": [None] * len(offsets), "headers": [None] * len(offsets),
                              "value": [b'{"n": %d}' % o for o in offsets]})
        return ReadResult(topic=topic, frame=frame, partitions=[0],
                          direction=options.get("direction", "forward"), filter=None,
                          fields=None, after={0: self.newest}, before={0: offsets[0]})

    def describe(self, topic: str, **_: Any) -> Any:
        return SimpleNamespace(partition_details=[SimpleNamespace(partition=0)])


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> _Topic:
    fake = _Topic()
    monkeypatch.setattr(state_module, "read", fake.read)
    monkeypatch.setattr(state_module, "describe_topic", fake.describe)
    return fake


def test_every_read_and_every_listener_call_runs_on_one_worker(topic: _Topic) -> None:
    state = ExplorerState("t", client=None, page_size=3)  # type: ignore[arg-type]
    heard: list[tuple[str, str, bool]] = []
    state.on_change(lambda what: heard.append((what, threading.current_thread().name,
                                               state._lock.locked())))
    try:
        state.load()
        state.previous_page()  # asked before the first page is there: still after it
        state.wait()
        # newest first (issue 24), however the page was read
        assert state.page is not None and list(state.page.frame["offset"]) == [4, 3, 2]
        state.select(0).result(10)
        assert state.detail is not None and state.detail.offset == 2  # what the stand-in reads
        assert {name for name in topic.threads} == {"diaspora-explore"}
        assert {thread for _, thread, _ in heard} == {"diaspora-explore"}
        assert not any(locked for *_, locked in heard)  # never called under the lock
        assert [w for w, *_ in heard].count("page") == 2 and "progress" in [w for w, *_ in heard]
        assert state.busy is False and state.error is None
        assert len([t for t in threading.enumerate() if t.name == "diaspora-explore"]) == 1
    finally:
        state.close()


def test_actions_run_in_order_and_take_the_query_asked_with(topic: _Topic) -> None:
    state = ExplorerState("t", client=None)  # type: ignore[arg-type]
    try:
        topic.gate.clear()
        state.configure(start="oldest", page_size=2)
        first = state.load()
        state.configure(start="offset", start_offset=7, partitions=(0,))
        second = state.load()
        assert state.busy and state.snapshot().busy
        topic.gate.set()
        second.result(10)
        assert first.done()
        assert [c["start"] for c in topic.calls] == ["earliest", 7]
        assert topic.calls[1]["partitions"] == [0] and topic.calls[0]["limit"] == 2
        assert state.start == "offset" and state.partitions == [0]
    finally:
        state.close()


def test_errors_are_one_field_and_a_bad_filter_reads_nothing(topic: _Topic) -> None:
    state = ExplorerState("t", client=None)  # type: ignore[arg-type]
    errors: list[BaseException | None] = []
    state.on_change(lambda what: what == "error" and errors.append(state.snapshot().error))
    try:
        assert state.check_filter("value.x >") is not None
        with pytest.raises(DiasporaUsageError):
            state.load().result(10)
        assert topic.calls == [] and isinstance(errors[-1], DiasporaUsageError)
        assert state.check_filter("value.x > 1") is None
        state.load().result(10)
        assert state.error is None and topic.calls[-1]["filter"] == "value.x > 1"
    finally:
        state.close()


def test_the_tail_reads_between_actions_and_stops(topic: _Topic) -> None:
    state = ExplorerState("t", client=None, tail_interval=0.05)  # type: ignore[arg-type]
    try:
        state.tail(True)
        deadline = time.monotonic() + 5
        while len(topic.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(topic.calls) >= 3 and state.busy
        state.wait(timeout=1)  # the tail is not an action: this returns at once
        state.pause(True)
        time.sleep(0.1)
        paused_at = len(topic.calls)
        time.sleep(0.3)
        assert len(topic.calls) == paused_at
        topic.newest = 20
        state.pause(False)
        deadline = time.monotonic() + 5
        while (state.page is None or 19 not in set(state.page.frame["offset"])) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert 19 in set(state.page.frame["offset"])
        state.tail(False)
        time.sleep(0.1)
        stopped_at = len(topic.calls)
        time.sleep(0.3)
        assert len(topic.calls) == stopped_at and not state.busy
        assert set(topic.threads) == {"diaspora-explore"}
    finally:
        state.close()


def test_close_drops_queued_actions_and_ends_the_worker(topic: _Topic) -> None:
    state = ExplorerState("t", client=None)  # type: ignore[arg-type]
    topic.gate.clear()
    running = state.load()
    queued = state.load()
    deadline = time.monotonic() + 5
    while not topic.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    state.close()
    topic.gate.set()
    assert queued.cancelled()
    running.result(10)
    state._worker.join(5)  # type: ignore[union-attr]
    assert not state._worker.is_alive()  # type: ignore[union-attr]
    state.wait(timeout=1)
    with pytest.raises(DiasporaUsageError):
        state.load()
