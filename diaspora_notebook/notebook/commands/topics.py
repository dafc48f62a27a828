"""``%diaspora_topics``, ``%diaspora_register``, ``%diaspora_unregister``.

Plain functions over ``Client`` and :mod:`.kafka_ops`; the topic manager widget calls the same
ones, so a button and a magic always do the same thing.
"""

from __future__ import annotations

from typing import Any

from diaspora_notebook.notebook.commands import kafka_ops
from diaspora_notebook.notebook.html import Result, TopicList


def topic_names(client: Any) -> list[str]:
    """Your topics (owned or granted), sorted."""
    return sorted(str(t) for t in client.list_topics().get("topics", []))


def details(client: Any) -> list[kafka_ops.TopicInfo]:
    """Each of your topics with its partitions and end offsets."""
    return kafka_ops.topic_details(client, topic_names(client))


def register(client: Any, topic: str, *, create: bool = False,
             partitions: int = 1) -> Result:
    """Register ``topic`` and, with ``create``, create it on the brokers (idempotent)."""
    result = Result(client.register_topic(topic))
    if create:
        try:
            kafka_ops.create_topic(client, topic, partitions)
            extra = f"; created on the brokers with {partitions} partition(s)"
        except kafka_ops.TopicExistsError:
            extra = "; it already exists on the brokers"
        result["message"] = f"{result.get('message', '')}{extra}"
    return result


def unregister(client: Any, topic: str, *, delete: bool = False) -> Result:
    """With ``delete``, delete ``topic`` from the brokers first; then drop its registration."""
    extra = ""
    if delete:
        try:
            kafka_ops.delete_topic(client, topic)
            extra = "; deleted from the brokers"
        except kafka_ops.TopicMissingError:
            extra = "; it was not on the brokers"
    result = Result(client.unregister_topic(topic))
    result["message"] = f"{result.get('message', '')}{extra}"
    return result


def grant(client: Any, topic: str, user: str) -> Result:
    return Result(client.grant_user_access(topic, user))


def revoke(client: Any, topic: str, user: str) -> Result:
    return Result(client.revoke_user_access(topic, user))


def run_topics(settings: Any, *, store: Any = None) -> Any:
    """The topic manager widget, or (``store``) a DataFrame of the topics for ``store(df)``."""
    client = settings.logged_in_client()
    if store is not None:
        frame = kafka_ops.topics_frame(details(client))
        store(frame)
        return None
    if settings.widget:
        from diaspora_notebook.notebook.widgets.topics import TopicManager

        return TopicManager(client)
    return TopicList(i.as_row() for i in details(client))
