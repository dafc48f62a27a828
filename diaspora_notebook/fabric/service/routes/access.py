"""Sharing: a topic's owner grants or revokes another identity's access."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from diaspora_notebook.fabric.service.auth import Caller
from diaspora_notebook.fabric.service.deps import (
    TopicHeader,
    Topics,
    UserHeader,
    topic_from,
    user_from,
)
from diaspora_notebook.fabric.service.errors import TOPIC_RESPONSES
from diaspora_notebook.fabric.service.schemas import AccessOut, TopicUsersOut, UserAccessIn
from diaspora_notebook.naming import member_group_prefix

router = APIRouter(prefix="/v1", tags=["access"])
OptionalAccessBody = Annotated[UserAccessIn | None, Body()]


@router.post("/grant_user_access", response_model=AccessOut, responses=TOPIC_RESPONSES)
def grant_user_access(caller: Caller, topics: Topics, topic: TopicHeader = None,
                      user: UserHeader = None, body: OptionalAccessBody = None) -> AccessOut:
    """Let another identity produce to and consume from the caller's topic (``read_only``:
    consume only). Either way its consumer groups are ``<topic>/<user>/<name>``: a grantee
    never reaches the owner's groups (``<topic>/<name>``) or another grantee's. Granting again
    with the other ``read_only`` changes the grant."""
    name = topic_from(topic, body.topic if body else None)
    other = user_from(user, body.user if body else None)
    read_only = bool(body.read_only) if body else False
    outcome = topics.grant(name, caller.id, other, read_only=read_only)
    groups = member_group_prefix(name, other)
    gives = ("consume (read-only)" if read_only else "produce and consume") + \
        f", with consumer groups {groups}<name>"
    message = (f"access granted: {gives}" if outcome == "success"
               else f"the user already has this access: {gives}")
    return AccessOut(status=outcome, message=message, topic=name, user=other,
                     access="read-only" if read_only else "read-write", groups=groups)


@router.post("/revoke_user_access", response_model=AccessOut, responses=TOPIC_RESPONSES)
def revoke_user_access(caller: Caller, topics: Topics, topic: TopicHeader = None,
                       user: UserHeader = None, body: OptionalAccessBody = None) -> AccessOut:
    """Take a grant back."""
    name = topic_from(topic, body.topic if body else None)
    other = user_from(user, body.user if body else None)
    outcome = topics.revoke(name, caller.id, other)
    message = "access revoked" if outcome == "success" else "the user had no access"
    return AccessOut(status=outcome, message=message, topic=name, user=other, access="none",
                     groups=None)


@router.get("/list_topic_users", response_model=TopicUsersOut, responses=TOPIC_RESPONSES)
def list_topic_users(caller: Caller, topics: Topics, topic: TopicHeader = None,
                     topic_query: Annotated[str | None, Query(alias="topic")] = None,
                     ) -> TopicUsersOut:
    """The owner and grantees of the caller's topic."""
    name = topic_from(topic, topic_query)
    found = topics.users(name, caller.id)
    return TopicUsersOut(topic=found.topic, owner=found.owner, users=found.users,
                         read_only=found.read_only)
