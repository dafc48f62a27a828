"""Short-lived connections for the core's one-off calls (``topics``, ``explore``): the default
client, an admin client and a group-less consumer, each closed when the ``with`` ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diaspora_notebook.client import Client
    from diaspora_notebook.kafka.clients import KafkaAdmin, KafkaConsumer


def client_or_default(client: Client | None) -> Client:
    """``client``, or the default client of this process (logging in if needed)."""
    if client is not None:
        return client
    from diaspora_notebook.client import default_client

    return default_client()


@contextlib.contextmanager
def admin(client: Client | None = None) -> Iterator[KafkaAdmin]:
    """A :class:`~diaspora_notebook.kafka.clients.KafkaAdmin` for ``client`` (default: the default
    client), closed afterwards."""
    from diaspora_notebook.kafka.clients import KafkaAdmin

    adm = KafkaAdmin(client=client_or_default(client))
    try:
        yield adm
    finally:
        adm.close()


@contextlib.contextmanager
def consumer(client: Client | None = None, **kwargs: Any) -> Iterator[KafkaConsumer]:
    """A :class:`~diaspora_notebook.kafka.clients.KafkaConsumer` without a group (nothing
    committed), closed afterwards."""
    from diaspora_notebook.kafka.clients import KafkaConsumer

    con = KafkaConsumer(client=client_or_default(client), enable_auto_commit=False,
                        group_id=None, **kwargs)
    try:
        yield con
    finally:
        con.close()
