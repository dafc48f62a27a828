"""Every secret the fabric issued to a test session, and whether its logs leak them.

:data:`ISSUED_SECRETS` holds every password, token and Kafka key handed out in-process (or
passed to :func:`remember_secret`), so a test can prove none of them ended up in a log of the
fabric (:func:`secrets_in_logs`).

:class:`SecretRecorder` wraps, while it is active, the identity provider's admin API (passwords
of new accounts, client secrets) and ``requests.Session.send`` (every ``password``,
``access_token``, ``refresh_token``, ``id_token`` or ``client_secret`` in a JSON response
received through ``requests``: the SDK's ``create_key`` and token exchanges, raw service calls),
and puts what it sees in :data:`ISSUED_SECRETS`. The wrappers
only record: they call straight through, change no behaviour, and are removed on exit.

The ``record_issued_secrets`` fixture (session scope) keeps one recorder active; a conftest that
runs the audit makes it autouse so every test of the session is covered.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ISSUED_SECRETS: set[str] = set()
_secrets_lock = threading.Lock()


def remember_secret(*values: str | None) -> None:
    """Remember secrets (passwords, tokens, keys) that must never appear in a log."""
    with _secrets_lock:
        ISSUED_SECRETS.update(v for v in values if v)


def log_files(fabric: Any) -> list[Path]:
    """Every log file under the fabric home (process logs, Kafka's server logs)."""
    root = Path(fabric.home.root)
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        parts = path.relative_to(root).parts
        # Kafka's data directories hold *.log segments: message data, not logs
        if "data" in parts or "kraft" in parts:
            continue
        if ".log" in path.name or "logs" in parts or path.suffix in (".out", ".err"):
            found.append(path)
    return sorted(found)


def secrets_in_logs(fabric: Any, values: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Which log files contain which secrets (shown as their first 6 characters)."""
    with _secrets_lock:
        wanted = [v for v in (values if values is not None else ISSUED_SECRETS) if len(v) >= 8]
    leaks: dict[str, list[str]] = {}
    for path in log_files(fabric):
        text = path.read_text(errors="replace")
        hits = sorted({v[:6] + "..." for v in wanted if v in text})
        if hits:
            leaks[str(path)] = hits
    return leaks

SECRET_FIELDS = ("password", "access_token", "refresh_token", "id_token", "client_secret")


def remember_fields(data: Any, depth: int = 0) -> None:
    """Remember the secret fields of a decoded JSON document (a few levels deep)."""
    if depth > 3:
        return
    if isinstance(data, dict):
        for name, value in data.items():
            if name in SECRET_FIELDS and isinstance(value, str):
                remember_secret(value)
            elif isinstance(value, (dict, list)):
                remember_fields(value, depth + 1)
    elif isinstance(data, list):
        for item in data[:50]:
            remember_fields(item, depth + 1)


class SecretRecorder:
    """While active (``with SecretRecorder():``), remember every secret issued in-process."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def _wrap(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, functools.wraps(original)(make(original)))
        self._undo.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> SecretRecorder:
        from diaspora_notebook.fabric.idp import admin

        def add_user(original: Any) -> Any:
            def recorded(state_dir: Any, username: str, password: str, **kwargs: Any) -> Any:
                remember_secret(password)
                return original(state_dir, username, password, **kwargs)
            return recorded

        def set_password(original: Any) -> Any:
            def recorded(state_dir: Any, username: str, password: str) -> Any:
                remember_secret(password)
                return original(state_dir, username, password)
            return recorded

        def add_client(original: Any) -> Any:
            def recorded(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
                    remember_secret(result[1])
                return result
            return recorded

        def send(original: Any) -> Any:
            def recorded(session: requests.Session, request: Any, **kwargs: Any) -> Any:
                response = original(session, request, **kwargs)
                # recording must never break the test that made the call
                with contextlib.suppress(Exception):
                    if (not kwargs.get("stream")
                            and "json" in response.headers.get("content-type", "")
                            and len(response.content) < 1_000_000):
                        remember_fields(json.loads(response.content))
                return response
            return recorded

        self._wrap(admin, "add_user", add_user)
        self._wrap(admin, "set_password", set_password)
        self._wrap(admin, "add_client", add_client)
        self._wrap(requests.Session, "send", send)
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._undo:
            self._undo.pop()()


@pytest.fixture(scope="session")
def record_issued_secrets() -> Iterator[SecretRecorder]:
    """A :class:`SecretRecorder` active until the end of the session."""
    with SecretRecorder() as recorder:
        yield recorder
