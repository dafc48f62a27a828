"""``read()``: the explorer's one read call (a topic, or a snapshot written by ``export``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.reader import DEFAULT_BUDGET, Progress, normalize_fields, scan
from diaspora_notebook.explore.result import ReadResult
from diaspora_notebook.explore.values import Decoder
from diaspora_notebook.kafka.connections import client_or_default
from diaspora_notebook.kafka.start import StartSpec

if TYPE_CHECKING:
    from diaspora_notebook.client import Client


def read(topic: str | None = None, *, partitions: list[int] | None = None,
         start: StartSpec = "latest", limit: int = 50, direction: str | None = None,
         filter: str | Any = None, fields: list[str] | str | None = None,
         decoder: Decoder | None = None, scan_budget: int | None = DEFAULT_BUDGET,
         timeout: float = 30.0, progress: Progress | None = None, cancel: Any = None,
         stop: dict[int, int] | None = None, snapshot: str | Path | None = None,
         engine: str = "auto", client: Client | None = None) -> ReadResult:
    """Read messages of ``topic``: a page, a seek, a filtered scan (no group, nothing committed).

    :param partitions: which partitions (default: all)
    :param start: ``"latest"`` (default: the newest page, read backward), ``"earliest"``, an
        offset, ``-n`` (the last n of each partition), ``{partition: offset}``, or a time
        (``datetime``, ``pandas.Timestamp``, ISO text, or float seconds since the epoch; naive
        means UTC), which is looked up with
        offsets-for-times, never scanned for
    :param limit: most rows returned (at most this many per partition are held while reading)
    :param direction: ``"forward"`` or ``"backward"`` (the messages before ``start``, newest
        first); default: backward from ``"latest"``, forward otherwise
    :param filter: a condition over the columns in the whitelisted filter language (written
        like a pandas query: comparisons, ``and or not``, arithmetic, a few text/null functions;
        no other call or attribute; the rules are in :mod:`diaspora_notebook.filters`),
        e.g. ``'value.temp > 30 and key == "s1"'`` (dotted names need no backticks), or a
        function ``row dict -> bool``
    :param fields: JSON paths to keep as columns (``"temp"``, ``"deep.x"``); default all
    :param decoder: ``bytes -> object`` in place of JSON (text, then hex, when it fails)
    :param scan_budget: most records read (``None``: no budget); the result says if it stopped
        the scan
    :param timeout: seconds for the whole read; the rows found so far are returned after it
    :param progress: called as ``progress(scanned, expected)`` after each batch
    :param cancel: a ``threading.Event`` (anything with ``is_set()``) that stops the read
    :param stop: ``{partition: offset}`` where a forward read ends (exclusive)
    :param snapshot: re-read exactly the rows of a file written by ``export`` (other read
        arguments are taken from the file)
    :param engine: ``"auto"``, ``"confluent"`` or ``"kafka-python"``
    :returns: a :class:`~diaspora_notebook.explore.result.ReadResult` (``.frame`` is the
        DataFrame)
    """
    if snapshot is not None:
        from diaspora_notebook.explore.snapshot import reread

        return reread(snapshot, timeout=timeout, engine=engine, client=client_or_default(client))
    if not isinstance(topic, str) or not topic.strip():
        raise DiasporaUsageError(f"no topic name given ({topic!r})",
                                 hint="e.g. topics.read('my-topic', limit=20)")
    return scan(client_or_default(client), topic.strip(), partitions=partitions, start=start,
                limit=limit, direction=direction, filter=filter, fields=normalize_fields(fields),
                decoder=decoder, scan_budget=scan_budget, timeout=timeout, progress=progress,
                cancel=cancel, stop=stop, engine=engine)
