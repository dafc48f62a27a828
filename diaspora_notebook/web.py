"""``WebClient`` (v1) and ``V3WebClient`` (v3): the Diaspora web service's HTTP API, one short
method per route.

A ``globus_sdk.BaseClient``: the base URL comes from the environment registered with
globus-sdk (``diaspora_url``), tokens from the ``GlobusApp`` it is attached to, and TLS is
verified for https URLs (globus-sdk's default). :func:`to_diaspora_error` turns the service's
error bodies (``{"status": "error", "code", "message", "hint"}``) into typed errors.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import globus_sdk
from globus_sdk.scopes import Scope, ScopeCollection
from globus_sdk.transport import RequestsTransport, RetryCheckResult, RetryConfig, RetryContext
from globus_sdk.transport.default_retry_checks import check_retry_after_header

from diaspora_notebook.errors import (
    AccessDeniedError,
    DiasporaAPIError,
    DiasporaError,
    DiasporaUsageError,
    InvalidTopicNameError,
    LimitReachedError,
    NotLoggedInError,
    NotTopicOwnerError,
    ServiceUnavailableError,
    TopicNotRegisteredError,
    TopicOwnedByAnotherError,
)

log = logging.getLogger(__name__)
HTTP_TIMEOUT = 30.0
MAX_RETRIES = 2
#: what the produce routes answer before any record is sent, so a retry cannot write a record
#: twice: 429 (42901, not admitted) and 503 (50302, the cluster cannot be reached). A 500, 502
#: or 504 may come after the records were written (diaspora-event-sdk 0.5.1, web_client.py)
PRODUCE_RETRY_STATUSES = (429, 503)

# set while a produce request is in flight in this thread (or task)
_producing: contextvars.ContextVar[bool] = contextvars.ContextVar("diaspora_producing",
                                                                  default=False)


def _never_connected(error: BaseException | None) -> bool:
    """Whether a network error came before any connection was made (nothing was sent)."""
    import requests
    import urllib3

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError) and error.args:
        reason = getattr(error.args[0], "reason", None)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def check_produce_retry(ctx: RetryContext) -> RetryCheckResult:
    """A produce request is retried only where it cannot write a record twice: on 429 and 503
    (after ``Retry-After``), on 401 (globus-sdk refreshes the token) and on a network error
    raised before any connection was made. Other requests are left to globus-sdk's checks."""
    if not _producing.get():
        return RetryCheckResult.no_decision
    if ctx.response is None:
        return (RetryCheckResult.do_retry if _never_connected(ctx.exception)
                else RetryCheckResult.do_not_retry)
    status = ctx.response.status_code
    if status in PRODUCE_RETRY_STATUSES:
        return check_retry_after_header(ctx)  # waits as Retry-After says, when it says
    if status == 401:
        return RetryCheckResult.no_decision  # globus-sdk's expired-token check
    return RetryCheckResult.do_not_retry


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

    def add_partitions(self, topic: str, partitions: int) -> globus_sdk.GlobusHTTPResponse:
        return self.post("/v1/add_partitions", data={"topic": topic, "partitions": partitions})

    def cluster(self) -> globus_sdk.GlobusHTTPResponse:
        return self.get("/v1/cluster")

    def grant_user_access(self, topic: str, user: str, *, read_only: bool = False
                          ) -> globus_sdk.GlobusHTTPResponse:
        data: dict[str, Any] = {"topic": topic, "user": user}
        if read_only:
            data["read_only"] = True
        return self.post("/v1/grant_user_access", data=data)

    def revoke_user_access(self, topic: str, user: str) -> globus_sdk.GlobusHTTPResponse:
        return self.post("/v1/revoke_user_access", data={"topic": topic, "user": user})

    def list_topic_users(self, topic: str) -> globus_sdk.GlobusHTTPResponse:
        return self.get("/v1/list_topic_users", query_params={"topic": topic})


class V3WebClient(WebClient):
    """The v3 API (today's hosted service, diaspora-event-sdk 0.5.1's routes), one short method
    per route. Every request carries ``Subject: <identity id>`` as the SDK sends it.

    Management routes answer HTTP 200 with ``{"status": "success"|"failure"|"error", ...}``
    (returned as they are, as the SDK does); records and consumer routes answer Confluent REST
    bodies and ``{"error_code", "message"}`` errors.

    :param subject: the logged-in identity's id.
    """

    USER = "/api/v3/user"
    KEY = "/api/v3/key"
    NAMESPACES = "/api/v3/namespace"
    CONSUMERS = "/api/v2/consumers"
    KAFKA_V2 = "application/vnd.kafka.v2+json"

    def __init__(self, *, subject: str, **kwargs: Any) -> None:
        self.subject = subject
        super().__init__(**kwargs)

    def _register_standard_retry_checks(self, retry_config: RetryConfig) -> None:
        retry_config.checks.register_check(check_produce_retry)  # before globus-sdk's own
        super()._register_standard_retry_checks(retry_config)

    def _records_url(self, namespace: str, topic: str, route: str) -> str:
        """An absolute URL: globus-sdk percent-encodes a relative path, colons included
        (``records%3Abatch``), and sends an absolute one as given (as the SDK does)."""
        return (f"{self.base_url.rstrip('/')}/api/v3/{quote(namespace, safe='')}/topics/"
                f"{quote(topic, safe='')}/{route}")

    def _post_records(self, path: str, body: dict[str, Any]) -> globus_sdk.GlobusHTTPResponse:
        """POST records: retried only on what cannot write them twice
        (:func:`check_produce_retry`)."""
        token = _producing.set(True)
        try:
            return self.post(path, data=body, headers=self._h())
        finally:
            _producing.reset(token)

    def _h(self, **extra: str) -> dict[str, str]:
        return {"Subject": self.subject, **extra}

    @staticmethod
    def _topic_path(namespace: str, topic: str) -> str:
        return f"/api/v3/{quote(namespace, safe='')}/{quote(topic, safe='')}"

    # users, keys, namespaces, topics
    def create_user(self) -> globus_sdk.GlobusHTTPResponse:
        return self.post(self.USER, headers=self._h())

    def delete_user(self) -> globus_sdk.GlobusHTTPResponse:
        return self.delete(self.USER, headers=self._h())

    def create_key(self) -> globus_sdk.GlobusHTTPResponse:
        return self.post(self.KEY, headers=self._h())

    def delete_key(self) -> globus_sdk.GlobusHTTPResponse:
        return self.delete(self.KEY, headers=self._h())

    def list_namespaces(self) -> globus_sdk.GlobusHTTPResponse:
        return self.get(self.NAMESPACES, headers=self._h())

    def create_topic(self, namespace: str, topic: str) -> globus_sdk.GlobusHTTPResponse:
        return self.post(self._topic_path(namespace, topic), headers=self._h())

    def delete_topic(self, namespace: str, topic: str) -> globus_sdk.GlobusHTTPResponse:
        return self.delete(self._topic_path(namespace, topic), headers=self._h())

    def recreate_topic(self, namespace: str, topic: str) -> globus_sdk.GlobusHTTPResponse:
        return self.put(self._topic_path(namespace, topic) + "/recreate", headers=self._h())

    # records over HTTPS (Confluent REST v3 bodies)
    def produce(self, namespace: str, topic: str, record: dict[str, Any]
                ) -> globus_sdk.GlobusHTTPResponse:
        return self._post_records(self._records_url(namespace, topic, "records"), record)

    def produce_batch(self, namespace: str, topic: str, entries: list[dict[str, Any]]
                      ) -> globus_sdk.GlobusHTTPResponse:
        return self._post_records(self._records_url(namespace, topic, "records:batch"),
                                  {"entries": entries})

    # the consumer REST API (Confluent REST Proxy v2; the service adds the namespace)
    def instance_path(self, group: str, instance_id: str) -> str:
        return f"{self.CONSUMERS}/{quote(group, safe='')}/instances/{quote(instance_id, safe='')}"

    def create_consumer(self, group: str, settings: dict[str, Any]
                        ) -> globus_sdk.GlobusHTTPResponse:
        return self.post(f"{self.CONSUMERS}/{quote(group, safe='')}", data=settings,
                         headers=self._h())

    def delete_consumer(self, instance: str) -> globus_sdk.GlobusHTTPResponse:
        return self.delete(instance, headers=self._h())

    def subscribe(self, instance: str, topics: list[str]) -> globus_sdk.GlobusHTTPResponse:
        return self.post(instance + "/subscription", data={"topics": topics}, headers=self._h())

    def assign(self, instance: str, partitions: list[dict[str, Any]]
               ) -> globus_sdk.GlobusHTTPResponse:
        return self.post(instance + "/assignments", data={"partitions": partitions},
                         headers=self._h())

    def assignments(self, instance: str) -> globus_sdk.GlobusHTTPResponse:
        return self.get(instance + "/assignments", headers=self._h())

    def records(self, instance: str, *, timeout_ms: int, max_bytes: int | None,
                fmt: str = "binary") -> globus_sdk.GlobusHTTPResponse:
        params: dict[str, Any] = {"timeout": timeout_ms}
        if max_bytes is not None:
            params["max_bytes"] = max_bytes
        return self.get(instance + "/records", query_params=params,
                        headers=self._h(Accept=f"application/vnd.kafka.{fmt}.v2+json"))

    def commit(self, instance: str, offsets: list[dict[str, Any]] | None = None
               ) -> globus_sdk.GlobusHTTPResponse:
        data = {"offsets": offsets} if offsets else None
        return self.post(instance + "/offsets", data=data, headers=self._h())

    def committed(self, instance: str, partitions: list[dict[str, Any]]
                  ) -> globus_sdk.GlobusHTTPResponse:
        return self.request("GET", instance + "/offsets", data={"partitions": partitions},
                            headers=self._h())

    def seek(self, instance: str, offsets: list[dict[str, Any]]) -> globus_sdk.GlobusHTTPResponse:
        return self.post(instance + "/positions", data={"offsets": offsets}, headers=self._h())

    def seek_edge(self, instance: str, partitions: list[dict[str, Any]], *, end: bool
                  ) -> globus_sdk.GlobusHTTPResponse:
        route = "/positions/end" if end else "/positions/beginning"
        return self.post(instance + route, data={"partitions": partitions}, headers=self._h())


_BY_CODE: dict[str, type[DiasporaAPIError]] = {
    "topic_owned_by_another": TopicOwnedByAnotherError,
    "not_topic_owner": NotTopicOwnerError,
    "invalid_topic_name": InvalidTopicNameError,
    "missing_topic": InvalidTopicNameError,
    "topic_not_registered": TopicNotRegisteredError,
    # the fabric's limits (issue 27): each names the limit and how to raise it
    "topic_limit_reached": LimitReachedError,
    "partition_limit_reached": LimitReachedError,
    "partition_budget_reached": LimitReachedError,
    "fabric_partitions_full": LimitReachedError,
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


# --- records over HTTPS (the v3 produce routes: Confluent REST v3 bodies) ---------------------

_BYTES = (bytes, bytearray, memoryview)
REST_TYPES = ("BINARY", "JSON", "STRING")


def _rest_data(data: Any, data_type: str | None, *, str_type: str) -> dict[str, Any]:
    """A key or value as ``{"type", "data"}``, chosen as diaspora-event-sdk 0.5.1 does."""
    import base64

    if data_type is None:
        data_type = ("BINARY" if isinstance(data, _BYTES) else
                     str_type if isinstance(data, str) else "JSON")
    if data_type == "BINARY":
        if not isinstance(data, _BYTES):
            raise DiasporaUsageError(f"BINARY data must be bytes, not {type(data).__name__}",
                                     hint="pass bytes, or value_type='JSON'")
        return {"type": "BINARY", "data": base64.b64encode(bytes(data)).decode("ascii")}
    if data_type == "STRING":
        if not isinstance(data, str):
            raise DiasporaUsageError(f"STRING data must be a str, not {type(data).__name__}",
                                     hint="pass text, or value_type='JSON'")
        return {"type": "STRING", "data": data}
    if data_type == "JSON":
        if isinstance(data, _BYTES):
            raise DiasporaUsageError("JSON data cannot be bytes", hint="send bytes as BINARY")
        return {"type": "JSON", "data": data}
    raise DiasporaUsageError(f"type must be BINARY, JSON or STRING, not {data_type!r}",
                             hint="e.g. value_type='STRING'")


def rest_record(value: Any = None, *, key: Any = None, headers: Any = None,
                timestamp: Any = None, value_type: str | None = None,
                key_type: str | None = None) -> dict[str, Any]:
    """One record in the body form of the v3 produce routes (the SDK's ``encode_record``): a
    str value is JSON, a str key STRING, bytes BINARY; headers ``{name: bytes|str|None}`` or
    pairs; a datetime timestamp must carry a UTC offset."""
    import base64
    import datetime as dt

    record: dict[str, Any] = {}
    if key is not None:
        record["key"] = _rest_data(key, key_type, str_type="STRING")
    if value is not None:
        record["value"] = _rest_data(value, value_type, str_type="JSON")
    if headers is not None:
        items = headers.items() if isinstance(headers, Mapping) else headers
        encoded = []
        for name, raw in items:
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
            if data is not None and not isinstance(data, _BYTES):
                raise DiasporaUsageError(f"header {name!r} must be bytes, str or None",
                                         hint="e.g. headers={'trace': b'\\x00\\x01'}")
            encoded.append({"name": str(name), "value": None if data is None
                            else base64.b64encode(bytes(data)).decode("ascii")})
        record["headers"] = encoded
    if isinstance(timestamp, dt.datetime):
        if timestamp.utcoffset() is None:
            raise DiasporaUsageError("timestamp must carry a UTC offset (tzinfo)",
                                     hint="e.g. datetime.now(timezone.utc)")
        record["timestamp"] = timestamp.isoformat()
    elif timestamp is not None:
        record["timestamp"] = str(timestamp)
    return record
