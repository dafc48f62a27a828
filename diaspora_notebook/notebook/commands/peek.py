"""``%diaspora_peek TOPIC [-n N] [--from-beginning] [-o VAR]``: a DataFrame of messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from diaspora_notebook import topics
from diaspora_notebook.errors import DiasporaUsageError

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.notebook.configurable import Diaspora


def run_peek(settings: Diaspora, *, topic: str, n: int | None = None,
             from_beginning: bool = False, timeout: float | None = None) -> pd.DataFrame:
    count = settings.peek_rows if n is None else n
    if count < 1:
        raise DiasporaUsageError(f"-n must be at least 1, not {count}", hint="e.g. -n 10")
    return topics.peek(topic, count, from_beginning=from_beginning,
                       timeout=timeout or settings.peek_timeout,
                       client=settings.logged_in_client())
