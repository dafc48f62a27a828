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
    # under the lock kafka-python's own request_update() starts the loop with: two threads
    # sending at once start one loop, not two
    with cluster._lock:
        ended = cluster._refresh_loop_future
        if ended is None or not ended.is_done:
            return stopped  # another thread started it again meanwhile
        cluster._refresh_loop_future = None
        try:
            cluster.start_refresh_loop()  # schedules on kafka-python's IO thread (thread-safe)
        except RuntimeError as exc:  # the client's IO loop is gone: its own call will say so
            cluster._refresh_loop_future = ended
            log.debug("kafka-python's metadata refresh cannot start again: %s", exc)
            return stopped
    # while the brokers are still down the new task may end at once too: say it once per cause
    level = logging.DEBUG if getattr(cluster, "_diaspora_restarted", None) == stopped \
        else logging.INFO
    cluster._diaspora_restarted = stopped
    log.log(level, "kafka-python's metadata refresh had ended (%s); started it again", stopped)
    return stopped
