"""``%diaspora_stream TOPIC... [--from-beginning | --start S] [--max-rows N] [--mode M] [-o VAR]``.

Calls the plain ``live_dataframe`` (``LiveDataFrame``) API; the object displays itself (a live
view) and keeps consuming in the background, so the cell returns at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError

if TYPE_CHECKING:
    from diaspora_notebook.notebook.configurable import Diaspora
    from diaspora_notebook.stream import LiveDataFrame


def run_stream(settings: Diaspora, *, topics: list[str], from_beginning: bool = False,
               start: str | None = None, max_rows: int | None = None,
               mode: str = "append") -> LiveDataFrame:
    from diaspora_notebook.stream import live_dataframe, parse_start

    if from_beginning and start:
        raise DiasporaUsageError("--from-beginning and --start contradict each other",
                                 hint="use one of them")
    begin: Any = "earliest" if from_beginning else "latest"
    if start:
        begin = parse_start(start)
    client = settings.logged_in_client()
    # a missing or forbidden topic fails the magic now, in one line, as %diaspora_peek does
    # (the stream itself would keep retrying in the background)
    from diaspora_notebook import topics as topics_api

    for topic in topics:
        topics_api.check_readable(topic, client=client)
    return live_dataframe(topics, start=begin, max_rows=max_rows or settings.stream_max_rows,
                          mode=mode, client=client)
