"""``%diaspora_peek TOPIC [-n N] [--from-beginning] [-o VAR]``: a DataFrame of messages."""

from __future__ import annotations

from typing import Any

from diaspora_notebook.notebook.commands import kafka_ops


def run_peek(settings: Any, *, topic: str, n: int | None = None, from_beginning: bool = False,
             timeout: float | None = None) -> Any:
    return kafka_ops.peek(settings.logged_in_client(), topic, n or settings.peek_rows,
                          from_beginning=from_beginning,
                          timeout=timeout or settings.peek_timeout)
