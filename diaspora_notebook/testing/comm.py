"""Widgets without a browser: a comm that records what a widget sends (ipywidgets' pattern)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest


class DummyComm:
    """Records every message a widget would send to the front end.

    Each comm gets its own id, as a kernel would give each widget model.
    """

    kernel = "Truthy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.comm_id = uuid.uuid4().hex
        self.messages: list[Any] = []

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        self.messages.append(data)

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


class CountingComm(DummyComm):
    """Counts the messages and JSON bytes a widget would send, and keeps none of them (for
    benchmarks: memory stays what the widget itself holds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent = 0
        self.bytes = 0

    def send(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        self.sent += 1
        self.bytes += len(json.dumps(data, default=str)) if data is not None else 0


@pytest.fixture
def dummy_comm(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[DummyComm]]:
    """Every comm opened during the test (in order); nothing reaches a front end."""
    import comm
    import ipywidgets  # noqa: F401 - imported before the patch: it registers a comm target

    opened: list[DummyComm] = []

    def create(*args: Any, **kwargs: Any) -> DummyComm:
        opened.append(DummyComm(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(comm, "create_comm", create)
    monkeypatch.setattr(comm, "get_comm_manager", lambda *a, **k: None)
    yield opened
