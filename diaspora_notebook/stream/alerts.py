"""Alerts: call back once each time a condition becomes true, with the row that made it true.

``live.when("value.temp > 30", cb)`` watches the raw events (the filter language of
``topics.read``: payload fields are ``value.<path>``); ``agg.when("mean > 30", cb)`` watches
a live aggregate's rows (its columns by name). A *crossing*: the condition is true for a row
and was false for the previous row of the same key (or there was none), so a stream that stays
above the line fires once, and again only after it went below. The condition goes through the
whitelisted filter parser (:mod:`diaspora_notebook.filters`): nothing is ``eval``-ed.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from diaspora_notebook.filters import FIELD_PREFIX, META, evaluate, parse_filter

if TYPE_CHECKING:
    import pandas as pd

AlertCallback = Callable[["pd.Series"], Any]


class Alert:
    """One condition and its callback (``fired`` counts the calls, ``errors`` the failures).

    :param condition: the filter text
    :param callback: called with the row (a ``pandas.Series``) at each crossing
    :param by: the key columns crossings are tracked per (``[]``: one track)
    :param columns: plain names the condition may use (an aggregate's columns)
    :param raw: rows are raw events: payload fields are named ``value.<path>``
    """

    def __init__(self, condition: str, callback: AlertCallback, *, by: Sequence[str] = (),
                 columns: Iterable[str] = (), raw: bool = False) -> None:
        _check_callable(callback)
        self.condition = parse_filter(condition, columns=columns)
        self.callback = callback
        self.by = list(by)
        self.raw = raw
        self.fired = 0
        self.errors = 0
        self.last_error: str | None = None
        self._above: dict[Any, bool] = {}
        self._lock = threading.Lock()
        self.cancel: Callable[[], None] = lambda: None

    def feed(self, rows: pd.DataFrame) -> int:
        """Check rows in order; call back at each crossing. Returns how many fired."""
        if not len(rows):
            return 0
        frame = rows
        if self.raw:  # payload fields as value.<path>, the filter language's names
            frame = rows.rename(columns={c: FIELD_PREFIX + str(c) for c in rows.columns
                                         if c not in META and not str(c).startswith("_")})
        mask = evaluate(self.condition, frame, "the newest rows")
        fired: list[Any] = []
        with self._lock:
            above = self._above
            keys = (list(zip(*(rows[b].tolist() for b in self.by), strict=True)) if self.by
                    else [()] * len(rows))
            for i, (key, hit) in enumerate(zip(keys, mask.tolist(), strict=True)):
                if hit and not above.get(key, False):
                    fired.append(i)
                above[key] = bool(hit)
        for i in fired:
            self.fired += 1
            try:
                self.callback(rows.iloc[i])
            except Exception as exc:  # user code: counted, never stops the stream
                self.errors += 1
                self.last_error = "".join(traceback.format_exception(exc))
        return len(fired)

    def __repr__(self) -> str:
        return f"<Alert {self.condition.text!r}: fired {self.fired}, {self.errors} errors>"


def _check_callable(callback: Any) -> None:
    if not callable(callback):
        from diaspora_notebook.errors import DiasporaUsageError

        raise DiasporaUsageError(f"the callback must be callable, not {callback!r}",
                                 hint='live.when("value.temp > 30", lambda row: ...)')
