"""``WebClient``: the Diaspora web service's HTTP API, one short method per route.

A ``globus_sdk.BaseClient``: the base URL comes from the environment registered with
globus-sdk (``diaspora_url``), tokens from the ``GlobusApp`` it is attached to, and TLS is
verified for https URLs (globus-sdk's default). :func:`to_diaspora_error` turns the service's
error bodies (``{"status": "error", "code", "message", "hint"}``) into typed errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import globus_sdk
from globus_sdk.scopes import Scope, ScopeCollection
from globus_sdk.transport import RequestsTransport, RetryConfig

from diaspora_notebook.errors import (
    AccessDeniedError,
    DiasporaAPIError,
    DiasporaError,
    InvalidTopicNameError,
    NotLoggedInError,
    NotTopicOwnerError,
    ServiceUnavailableError,
    TopicNotRegisteredError,
    TopicOwnedByAnotherError,
)

log = logging.getLogger(__name__)
HTTP_TIMEOUT = 30.0
MAX_RETRIES = 2


class DiasporaScopes(ScopeCollection):
    """The service's one scope, known only at run time (from the environment)."""

    def __init__(self, resource_server: str, scope: str) -> None:
        self._resource_server = resource_server
        self.action_all = Scope.parse(scope)

    @property
    def resource_server(self) -> str:
        return self._resource_server

    def __iter__(self) -> Iterator[Scope]:
        yield self.action_all


class WebAPIError(globus_sdk.GlobusAPIError):
    """globus-sdk's view of a service error; converted by :func:`to_diaspora_error`."""


class WebClient(globus_sdk.BaseClient):
    """The Diaspora web service API.

    :param resource_server: the service's resource server (``Environment.resource_server``).
    :param scope: the scope string its tokens need (``Environment.scope``).
    :param kwargs: passed to ``globus_sdk.BaseClient`` (``app=``, ``environment=`` ...).
    """

    service_name = "diaspora"
    error_class = WebAPIError

    def __init__(self, *, resource_server: str, scope: str, **kwargs: Any) -> None:
        self.scopes = DiasporaScopes(resource_server, scope)  # before super(): reference §4
        kwargs.setdefault("transport", RequestsTransport(http_timeout=HTTP_TIMEOUT))
        kwargs.setdefault("retry_config", RetryConfig(max_retries=MAX_RETRIES))
        super().__init__(**kwargs)

    @property
    def default_scope_requirements(self) -> list[Scope]:
        return [self.scopes.action_all]  # type: ignore[union-attr]

    def create_key(self) -> globus_sdk.GlobusHTTPResponse:
        return self.post("/v1/create_key")

    def list_topics(self) -> globus_sdk.GlobusHTTPResponse:
        return self.get("/v1/list_topics")

    def register_topic(self, topic: str) -> globus_sdk.GlobusHTTPResponse:
        return self.post("/v1/register_topic", data={"topic": topic}, headers={"Topic": topic})

    def unregister_topic(self, topic: str) -> globus_sdk.GlobusHTTPResponse:
        return self.post("/v1/unregister_topic", data={"topic": topic}, headers={"Topic": topic})

    def cluster(self) -> globus_sdk.GlobusHTTPResponse:
        return self.get("/v1/cluster")

    def grant_user_access(self, topic: str, user: str) -> globus_sdk.GlobusHTTPResponse:
        return self.post("/v1/grant_user_access", data={"topic": topic, "user": user})

    def revoke_user_access(self, topic: str, user: str) -> globus_sdk.GlobusHTTPResponse:
        return self.post("/v1/revoke_user_access", data={"topic": topic, "user": user})

    def list_topic_users(self, topic: str) -> globus_sdk.GlobusHTTPResponse:
        return self.get("/v1/list_topic_users", query_params={"topic": topic})


_BY_CODE: dict[str, type[DiasporaAPIError]] = {
    "topic_owned_by_another": TopicOwnedByAnotherError,
    "not_topic_owner": NotTopicOwnerError,
    "invalid_topic_name": InvalidTopicNameError,
    "missing_topic": InvalidTopicNameError,
    "topic_not_registered": TopicNotRegisteredError,
}


def to_diaspora_error(exc: Exception, what: str) -> DiasporaError:
    """The typed error for a failed call; ``what`` names the action for the message."""
    if isinstance(exc, globus_sdk.NetworkError):
        return ServiceUnavailableError(
            f"could not reach the Diaspora web service while trying to {what} "
            f"({type(exc).__name__})",
            hint="check the environment's service_url and your network; for the local "
            "fabric run `diaspora-fabric status`")
    if not isinstance(exc, globus_sdk.GlobusAPIError):
        return DiasporaError(f"{what} failed: {exc}")
    body = exc.raw_json if isinstance(exc.raw_json, dict) else {}
    message = str(body.get("message") or exc.message or f"HTTP {exc.http_status}")
    hint = str(body.get("hint") or "")
    code = exc.code if exc.code and exc.code != "Error" else body.get("code")
    common: dict[str, Any] = {"http_status": exc.http_status, "code": code,
                              "request_id": exc.request_id}
    if exc.http_status == 401:
        return NotLoggedInError(
            f"the Diaspora service did not accept your login ({message}); please log in again",
            hint="run Client().login() (or %diaspora_login in a notebook)")
    cls = _BY_CODE.get(str(code))
    if cls is None:
        if exc.http_status == 403:
            cls = AccessDeniedError
        elif exc.http_status in (502, 503, 504):
            cls = ServiceUnavailableError
        else:
            cls = DiasporaAPIError
    return cls(f"could not {what}: {message}", hint=hint or None, **common)
