"""``%diaspora_key`` and ``%diaspora_connection``: the Kafka key and how to connect with it.

The password is masked unless ``--reveal`` is given (the explicit opt-in to having it saved in
the notebook); ``-o VAR`` puts the real settings in a variable without displaying them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diaspora_notebook.client import LIBRARIES
from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.notebook.html import ConnectionView, KeyView

if TYPE_CHECKING:
    from diaspora_notebook.notebook.configurable import Diaspora
    from diaspora_notebook.notebook.widgets.key import KeyWidget


def run_key(settings: Diaspora, *, rotate: bool = False,
            reveal: bool = False) -> KeyWidget | KeyView:
    client = settings.logged_in_client()
    key = client.rotate_key() if rotate else client.retrieve_key()
    if settings.widget:
        from diaspora_notebook.notebook.widgets.key import KeyWidget

        return KeyWidget(client, key=key, reveal=reveal, rotated=rotate)
    return KeyView(key, reveal=reveal)


def run_connection(settings: Diaspora, *, library: str = "kafka-python", reveal: bool = False,
                   store: Callable[[dict[str, Any]], None] | None = None,
                   ) -> ConnectionView | None:
    if library not in LIBRARIES:
        raise DiasporaUsageError(f"unknown library {library!r}",
                                 hint=f"use one of: {', '.join(LIBRARIES)}")
    client = settings.logged_in_client()
    if store is not None:
        store(client.connection_config(library))
        return None
    return ConnectionView(client.environment, KeyView(client.retrieve_key(), reveal=reveal),
                          library)
