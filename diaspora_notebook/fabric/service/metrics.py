"""Request counts per route template and status, for ``GET /metrics`` (no identities)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict


class RequestMetrics:
    """Thread-safe counters keyed by ``"METHOD /route/template"`` and HTTP status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def record(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self._counts[f"{method} {route}"][str(status)] += 1

    def snapshot(self) -> tuple[float, dict[str, dict[str, int]]]:
        with self._lock:
            counts = {key: dict(by_status) for key, by_status in self._counts.items()}
        return time.monotonic() - self._started, counts
