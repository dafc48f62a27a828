"""What a view may read of a live stream, and where a ``LiveDataFrame`` finds its views.

The contract: a view (the live table, its grid, the plots, the refresher behind them) is handed
a :class:`LiveFeed` (a :class:`LiveControl` when it has Pause and Stop buttons) and uses nothing
else; ``LiveDataFrame`` is one. Its window, consumer thread and locks stay private, so they can
change without touching a view, and a view can be tested over a small stand-in.

The registry: the core cannot import ``diaspora_notebook.notebook`` (that package sits above
it), so views are registered from above: the Jupyter extension registers its ipywidgets table
and plot when it loads. Outside Jupyter nothing is registered, and asking for a view says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from diaspora_notebook.errors import DiasporaUsageError

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.stream.stats import StreamStats


class LiveFeed(Protocol):
    """Everything a view may read of a live stream (``LiveDataFrame`` is one).

    Cheap to poll: ``version``, ``events``, ``running`` and ``state`` take no snapshot; ``stats``
    is one consistent snapshot of every counter; rows come out as Arrow (``rows_since``,
    ``sample_table``) or pandas (``tail``), always copies.
    """

    @property
    def topics(self) -> Sequence[str]:
        """The topics read."""

    @property
    def mode(self) -> str:
        """``"append"`` or ``"latest_by_key"`` (one row per key)."""

    @property
    def max_rows(self) -> int:
        """Most rows the window holds."""

    @property
    def refresh_hz(self) -> float:
        """Most refreshes per second a view should make."""

    @property
    def events(self) -> int:
        """Events added since the start (grows; a view compares it with what it showed)."""

    @property
    def version(self) -> int:
        """Grows whenever rows are added."""

    @property
    def state(self) -> str:
        """``starting``, ``running``, ``paused``, ``retrying``, ``stopped`` or ``failed``."""

    @property
    def running(self) -> bool:
        """Whether the stream still reads (``False`` once stopped or failed)."""

    @property
    def stats(self) -> StreamStats:
        """Counters, rate, lag and errors, as one consistent snapshot."""

    def tail(self, n: int = 10) -> pd.DataFrame:
        """The newest ``n`` rows."""

    def rows_since(self, seen: int, most: int) -> tuple[Any, int]:
        """The rows of the events after the first ``seen`` (at most ``most``, the newest) as a
        ``pyarrow.Table``, and the event count to pass next time."""

    def sample_table(self) -> Any:
        """The topics' newest records (not part of the stream), as a ``pyarrow.Table``."""

    def wait_changed(self, version: int, timeout: float) -> bool:
        """Wait at most ``timeout`` s for rows after ``version``; ``True`` if they came."""

    def wake_waiters(self) -> None:
        """Wake every ``wait_changed`` now."""


class LiveControl(LiveFeed, Protocol):
    """A :class:`LiveFeed` a view may also pause, resume and stop (the table's buttons)."""

    def pause(self) -> None:
        """Stop adding rows until ``resume()``."""

    def resume(self) -> None:
        """Continue after ``pause()``."""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading; the rows stay readable."""

#: ``"table"``: the live table (``LiveDataFrame.view``/``show``); ``"plot"``: the live plot;
#: ``"display"``: what displaying the object shows (returns ``None`` when it cannot show one)
KINDS = ("table", "plot", "display")
_VIEWS: dict[str, Callable[..., Any]] = {}


def register_view(kind: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(live, **options)`` the ``kind`` view of every ``LiveDataFrame``.

    :param kind: one of ``KINDS``
    :param factory: builds the view; for ``"display"`` it may return ``None`` (no view here)
    """
    if kind not in KINDS:
        raise DiasporaUsageError(f"unknown view kind {kind!r}",
                                 hint=f"use one of {', '.join(KINDS)}")
    _VIEWS[kind] = factory


def unregister_view(kind: str) -> None:
    """Forget the ``kind`` view (e.g. when the extension unloads)."""
    _VIEWS.pop(kind, None)


def view_factory(kind: str) -> Callable[..., Any] | None:
    """The registered ``kind`` view, or ``None``."""
    return _VIEWS.get(kind)


def require_view(kind: str) -> Callable[..., Any]:
    """The registered ``kind`` view; a clear error when there is none (outside Jupyter)."""
    factory = _VIEWS.get(kind)
    if factory is None:
        raise DiasporaUsageError(
            f"no live {kind} view is registered: views come with the Jupyter extension",
            hint="in a notebook run %load_ext diaspora_notebook; elsewhere use live.df, "
            "live.tail() and live.stats",
        )
    return factory
