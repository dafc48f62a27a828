"""Topic registration: ownership written as Kafka ACLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from diaspora_notebook.fabric.service.auth import Caller
from diaspora_notebook.fabric.service.deps import Settings, TopicHeader, Topics, topic_from
from diaspora_notebook.fabric.service.errors import AUTH_RESPONSES, TOPIC_RESPONSES
from diaspora_notebook.fabric.service.schemas import (
    PartitionsIn,
    PartitionsOut,
    TopicIn,
    TopicListOut,
    TopicOut,
)

router = APIRouter(prefix="/v1", tags=["topics"])
OptionalTopicBody = Annotated[TopicIn | None, Body()]


@router.get("/list_topics", response_model=TopicListOut, responses=AUTH_RESPONSES)
def list_topics(caller: Caller, topics: Topics) -> TopicListOut:
    """Topics the caller owns or was granted."""
    return TopicListOut(topics=topics.topics(caller.id))


@router.post("/register_topic", response_model=TopicOut, responses=TOPIC_RESPONSES)
def register_topic(caller: Caller, topics: Topics, topic: TopicHeader = None,
                   body: OptionalTopicBody = None) -> TopicOut:
    """Make the caller the topic's owner (ACLs only; create the topic with Kafka).

    A name that already exists on the brokers without an owner is refused (409): it may hold
    another user's old events until the operator purges it.
    """
    name = topic_from(topic, body.topic if body else None)
    outcome = topics.register(name, caller.id)
    message = ("the topic is registered to you" if outcome == "success"
               else "the topic was already registered to you")
    return TopicOut(status=outcome, message=message, topic=name)


@router.post("/unregister_topic", response_model=TopicOut, responses=TOPIC_RESPONSES)
def unregister_topic(caller: Caller, topics: Topics, topic: TopicHeader = None,
                     body: OptionalTopicBody = None) -> TopicOut:
    """Delete the topic with all its events, then the caller's and every grantee's ACLs.

    Nothing written under this registration is readable by a later owner of the name.
    """
    name = topic_from(topic, body.topic if body else None)
    result = topics.unregister(name, caller.id)
    if result.outcome == "no-op":
        message = "the topic was not registered"
    elif result.deleted_topic:
        message = "the topic and all its events were deleted, and its ACLs removed"
    else:
        message = "the topic's ACLs were removed (it did not exist on the brokers)"
    return TopicOut(status=result.outcome, message=message, topic=name)


@router.post("/add_partitions", response_model=PartitionsOut, responses=TOPIC_RESPONSES)
def add_partitions(caller: Caller, topics: Topics, body: PartitionsIn, settings: Settings,
                   topic: TopicHeader = None) -> PartitionsOut:
    """Grow the caller's topic to ``partitions`` in total (owner only), at most the brokers'
    per-topic cap ``max_partitions_per_topic`` (403 ``partition_limit_reached`` past it).

    Owners hold no ALTER on their topics: Kafka's CreatePartitions reaches no broker policy,
    so the service grows topics, with its own admin identity, within the cap.
    """
    name = topic_from(topic, body.topic)
    outcome, count = topics.add_partitions(name, caller.id, body.partitions)
    message = (f"the topic now has {count} partitions" if outcome == "success"
               else f"the topic already has {count} partitions")
    return PartitionsOut(status=outcome, message=message, topic=name, partitions=count,
                         max_partitions=settings.max_partitions_per_topic)
