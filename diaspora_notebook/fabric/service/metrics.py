"""Request counts per route template and status, for ``GET /metrics`` (no identities).

``/metrics`` needs no token, so nothing a caller chose may appear in it: keys are built only
from the app's own route templates (``<unmatched>`` for any other path), a known HTTP method
(``OTHER`` for the rest) and the status code. Never a raw path, a topic or an identity, and the
number of keys stays bounded whatever clients send.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"


class RequestMetrics:
    """Thread-safe counters keyed by ``"METHOD /route/template"`` and HTTP status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def record(self, method: str, route: str | None, status: int) -> None:
        """Count one request; ``route`` must be a route TEMPLATE of the app, or ``None``."""
        method = method.upper() if method.upper() in KNOWN_METHODS else "OTHER"
        status_key = str(status) if 100 <= status <= 599 else "other"
        with self._lock:
            self._counts[f"{method} {route or UNMATCHED}"][status_key] += 1

    def snapshot(self) -> tuple[float, dict[str, dict[str, int]]]:
        with self._lock:
            counts = {key: dict(by_status) for key, by_status in self._counts.items()}
        return time.monotonic() - self._started, counts
