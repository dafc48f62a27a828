"""Where a ``LiveDataFrame`` finds its views, without importing any notebook code.

The core cannot import ``diaspora_notebook.notebook`` (that package sits above it), so views are
registered from above: the Jupyter extension registers its ipywidgets table and plot when it
loads. Outside Jupyter nothing is registered, and asking for a view says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from diaspora_notebook.errors import DiasporaUsageError

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
