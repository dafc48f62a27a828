"""The explorer's connections: the default client, an admin and a group-less consumer.

Twins of :mod:`diaspora_notebook.topics`' helpers, kept here because ``topics`` imports the
explorer (the layers point down only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diaspora_notebook.client import Client
    from diaspora_notebook.kafka import KafkaAdmin, KafkaConsumer


def client_or_default(client: Client | None) -> Client:
    """``client``, or the default client of this process (logging in if needed)."""
    if client is not None:
        return client
    from diaspora_notebook.client import default_client

    return default_client()


@contextlib.contextmanager
def admin(client: Client) -> Iterator[KafkaAdmin]:
    """A :class:`~diaspora_notebook.kafka.KafkaAdmin`, closed afterwards."""
    from diaspora_notebook.kafka import KafkaAdmin

    adm = KafkaAdmin(client=client)
    try:
        yield adm
    finally:
        adm.close()


@contextlib.contextmanager
def consumer(client: Client, **kwargs: Any) -> Iterator[KafkaConsumer]:
    """A :class:`~diaspora_notebook.kafka.KafkaConsumer` without a group, closed afterwards."""
    from diaspora_notebook.kafka import KafkaConsumer

    con = KafkaConsumer(client=client, enable_auto_commit=False, group_id=None, **kwargs)
    try:
        yield con
    finally:
        con.close()
