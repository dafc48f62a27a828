"""``%diaspora_topics``, ``%diaspora_register``, ``%diaspora_unregister``.

Each ends in one call of :mod:`diaspora_notebook.topics`; the topic manager widget calls the
same functions, so a button and a magic always do the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from diaspora_notebook import topics
from diaspora_notebook.notebook.html import Result, TopicList

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.notebook.configurable import Diaspora
    from diaspora_notebook.notebook.widgets.topics import TopicManager


def run_register(settings: Diaspora, *, topic: str, create: bool = False,
                 partitions: int = 1) -> Result:
    """Register ``topic`` and, with ``create``, create it on the brokers (idempotent)."""
    return Result(topics.register(topic, create=create, partitions=partitions,
                                  client=settings.logged_in_client()))


def run_unregister(settings: Diaspora, *, topic: str) -> Result:
    """Unregister ``topic`` (the service deletes it and its events)."""
    return Result(topics.unregister(topic, client=settings.logged_in_client()))


def run_topics(settings: Diaspora, *, store: Callable[[pd.DataFrame], None] | None = None,
               ) -> TopicManager | TopicList | None:
    """The topic manager widget, or (``store``) a DataFrame of the topics for ``store(df)``."""
    client = settings.logged_in_client()
    if store is not None:
        store(topics.table(client=client))
        return None
    if settings.widget:
        from diaspora_notebook.notebook.widgets.topics import TopicManager

        return TopicManager(client)
    return TopicList(i.as_row() for i in topics.describe(client=client))


__all__ = ["run_register", "run_topics", "run_unregister"]
