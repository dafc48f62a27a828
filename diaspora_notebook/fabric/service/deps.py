"""Dependencies shared by the routers: the backends and the topic / user inputs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.ownership import TopicAccessManager
from diaspora_notebook.fabric.service.provisioning import KeyProvisioner
from diaspora_notebook.fabric.service.settings import ServiceSettings
from diaspora_notebook.fabric.service.topic_names import validate_identity_id, validate_topic


def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_topics(request: Request) -> TopicAccessManager:
    return request.app.state.topics  # type: ignore[no-any-return]


def get_keys(request: Request) -> KeyProvisioner:
    return request.app.state.keys  # type: ignore[no-any-return]


Settings = Annotated[ServiceSettings, Depends(get_settings)]
Topics = Annotated[TopicAccessManager, Depends(get_topics)]
Keys = Annotated[KeyProvisioner, Depends(get_keys)]
TopicHeader = Annotated[str | None, Header(alias="Topic", description="the topic name")]
UserHeader = Annotated[str | None, Header(alias="User",
                                          description="the other identity's id (UUID)")]


def pick(name: str, header: str | None, body: str | None) -> str | None:
    """One value from a header or a body field; both given and different is an error."""
    # no stripping: " t " is not the topic "t" (HTTP already trims header whitespace)
    if header is not None and body is not None and header != body:
        raise ServiceError(400, f"conflicting_{name}",
                           f"the {name} in the header and in the body differ",
                           hint=f"send the {name} once")
    return header if header is not None else body


def topic_from(header: str | None, body: str | None) -> str:
    return validate_topic(pick("topic", header, body))


def user_from(header: str | None, body: str | None) -> str:
    return validate_identity_id(pick("user", header, body))
