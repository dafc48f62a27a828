"""``%diaspora_explore TOPIC [-o VAR] [--page-size N]``: the topic explorer widget.

Ends in one core call, :class:`~diaspora_notebook.explore.state.ExplorerState` (inside the
widget); without widgets (``%config Diaspora.widget = False``) it shows the newest page
(``topics.read``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diaspora_notebook import topics

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.notebook.configurable import Diaspora


def run_explore(settings: Diaspora, *, topic: str, page_size: int = 50,
                store: Callable[[pd.DataFrame], None] | None = None) -> Any:
    """The explorer of ``topic`` (or, without widgets, its newest page)."""
    client = settings.logged_in_client()
    if settings.widget:
        from diaspora_notebook.notebook.widgets.explorer import Explorer

        return Explorer(topic, client=client, page_size=page_size, store=store)
    page = topics.read(topic, limit=page_size, client=client)
    if store is not None:
        store(page.frame)
    return page


__all__ = ["run_explore"]
