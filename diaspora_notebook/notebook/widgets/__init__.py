"""ipywidgets views (skins over plain state objects); ipywidgets is imported lazily.

Widgets import :mod:`diaspora_notebook.notebook.html` and :mod:`~diaspora_notebook.notebook.errors`
and the core; never :mod:`diaspora_notebook.notebook.commands` (commands import widgets).
Methods named as verbs act (``refresh()``, ``rotate_key()``); ``on_<event>(callback,
remove=False)`` registers a callback, as in ipywidgets.
"""

from __future__ import annotations

from typing import Any


def ipywidgets() -> Any:
    """``ipywidgets``, imported on first use (with an install hint if it is missing)."""
    try:
        import ipywidgets as widgets
    except ImportError:
        from diaspora_notebook.errors import DiasporaUsageError

        raise DiasporaUsageError("the Diaspora widgets need ipywidgets",
                                 hint="pip install ipywidgets, or %config Diaspora.widget = "
                                 "False for plain output") from None
    return widgets


def dispatcher() -> Any:
    """An ipywidgets ``CallbackDispatcher`` (what ``Button.on_click`` uses)."""
    return ipywidgets().CallbackDispatcher()
