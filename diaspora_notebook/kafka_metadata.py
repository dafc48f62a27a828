"""kafka-python 3.0's metadata refresh, noticed when it has ended and started again.

kafka-python 3.0 refreshes cluster metadata (who leads which partition) in one background task
that catches only ``KafkaError``. A connection attempt that fails with a plain ``OSError`` ends
that task for good: a broker that shuts down resets the connections still queued on its
listening socket, and ``ssl.SSLSocket()`` raises that ``ConnectionResetError`` before
kafka-python's handshake code could wrap it. ``start_refresh_loop()`` then sees a finished task
and never starts another, so once the broker is back the client never learns the partition
leaders again: a producer's ``send`` times out waiting for metadata, a consumer fetches nothing.

These functions read kafka-python's private attributes defensively: a release without them (or
one that fixed this) simply reports nothing, and nothing is restarted.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def _cluster(client: Any) -> Any:
    """The ``ClusterMetadata`` of a kafka-python consumer, producer or admin client."""
    for name in ("_cluster", "_metadata"):  # consumer, producer
        found = getattr(client, name, None)
        if found is not None:
            return found
    return getattr(getattr(client, "_manager", None), "cluster", None)


def metadata_refresh_stopped(client: Any) -> str | None:
    """Why kafka-python's metadata refresh task ended while ``client`` is open, else ``None``.

    :param client: a ``kafka.KafkaConsumer``, ``KafkaProducer`` or ``KafkaAdminClient``
    """
    cluster = _cluster(client)
    task = getattr(cluster, "_refresh_loop_future", None)
    if task is None or not getattr(task, "is_done", False) or getattr(cluster, "closed", True):
        return None
    exc = getattr(task, "exception", None)
    return f"{type(exc).__name__}: {exc}" if exc is not None else "its task ended"


def restart_metadata_refresh(client: Any) -> str | None:
    """Start kafka-python's metadata refresh again if it has ended; returns why it had ended
    (``None``: it was running, nothing done). Cheap enough to call before every send or poll.

    :param client: a ``kafka.KafkaConsumer``, ``KafkaProducer`` or ``KafkaAdminClient``
    """
    stopped = metadata_refresh_stopped(client)
    if stopped is None:
        return None
    cluster = _cluster(client)
    if cluster._refresh_loop_future is not None and cluster._refresh_loop_future.is_done:
        cluster._refresh_loop_future = None
        cluster.start_refresh_loop()  # thread-safe: it schedules on kafka-python's IO thread
        log.info("kafka-python's metadata refresh had ended (%s); started it again", stopped)
    return stopped
