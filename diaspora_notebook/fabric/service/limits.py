"""Limits of the web service: the request body cap, and per-user limits (Kafka quotas and
the topic count).

A cap on request bodies: anything over ``MAX_BODY_BYTES`` is answered 413 before a route runs.

Every route takes at most a topic name and an identity id, so 64 KiB (the identity provider's
cap too) is generous; without a cap a local account could make the service buffer and parse
arbitrarily large JSON. A declared ``Content-Length`` over the cap is refused without reading;
a chunked body is read up to the cap and then refused. A body under the cap is replayed to the
app unchanged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from diaspora_notebook.fabric.service.errors import (
    ServiceConfigError,
    ServiceError,
    error_response,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """Pure ASGI middleware: 413 ``{code, message, hint}`` for a body over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "request_too_large",
            f"the request body is larger than {self.limit} bytes",
            "send only the JSON fields the route documents (see /openapi.json)",
            headers={"Connection": "close"})
        await response(scope, receive, send)


# -- per-user limits (issue 27, item 5) ---------------------------------------------------------
# Kafka enforces these four per user (a user quota on the SCRAM principal's name), set by the
# service when it creates a user's key; the topic count is the service's own rule. Defaults are
# fields of the service config (ServiceSettings); ``diaspora-fabric user limits`` shows and
# changes one user's values.
QUOTA_KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage",
              "controller_mutation_rate")
DEFAULT_PRODUCER_BYTE_RATE = 10 * 1024 * 1024
DEFAULT_CONSUMER_BYTE_RATE = 20 * 1024 * 1024
DEFAULT_REQUEST_PERCENTAGE = 200.0
DEFAULT_CONTROLLER_MUTATION_RATE = 10.0
DEFAULT_MAX_TOPICS_PER_USER = 100
MAX_TOPICS_KEY = "max_topics"
MAX_PARTITIONS_KEY = "max_partitions"  # partitions over all of a user's topics


def default_quotas(settings: Any) -> dict[str, float]:
    """The Kafka user quotas a new account gets, from the service settings."""
    return {key: float(getattr(settings, key)) for key in QUOTA_KEYS}


class UserLimitsFile:
    """Per-user overrides of the topic cap: ``{identity_id: {"max_topics": N}}`` in a 0600
    JSON file of the service's home (written by ``diaspora-fabric user limits``; read at every
    registration, so a change needs no restart). A missing file means no overrides."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def read(self) -> dict[str, dict[str, int]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable user limits file %s (%s)", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def max_topics(self, user: str, default: int) -> int:
        return self.value(user, MAX_TOPICS_KEY, default)

    def max_partitions(self, user: str, default: int) -> int:
        return self.value(user, MAX_PARTITIONS_KEY, default)

    def value(self, user: str, key: str, default: int) -> int:
        value = self.read().get(user, {}).get(key)
        return value if isinstance(value, int) and value >= 0 else default

    def set_max_topics(self, user: str, value: int | None) -> None:
        """Set (or, with None, remove) ``user``'s own topic cap."""
        self.set_value(user, MAX_TOPICS_KEY, value)

    def set_max_partitions(self, user: str, value: int | None) -> None:
        """Set (or, with None, remove) ``user``'s own partition budget."""
        self.set_value(user, MAX_PARTITIONS_KEY, value)

    def set_value(self, user: str, key: str, value: int | None) -> None:
        from diaspora_notebook.fabric.home import write_private

        if self.path is None:
            raise ServiceConfigError("the service config names no user_limits_file",
                                     hint="add user_limits_file to the service config")
        data = self.read()
        entry = dict(data.get(user, {}))
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
        if entry:
            data[user] = entry
        else:
            data.pop(user, None)
        write_private(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def topic_limit_reached(user: str, owned: int, cap: int) -> ServiceError:
    """The one error of a registration over the per-user topic cap."""
    return ServiceError(
        403, "topic_limit_reached",
        f"you own {owned} topics, the most one user may register here (max_topics_per_user "
        f"= {cap})",
        hint="unregister a topic you no longer need, or ask the fabric operator to raise your "
             f"limit: `diaspora-fabric user limits <username> --max-topics {max(cap * 2, 1)}` "
             "(or max_topics_per_user in the service config for everyone)")


class TopicCap:
    """How many topics a user may own: the user's own limit, else the service default."""

    def __init__(self, default: int, overrides: UserLimitsFile) -> None:
        self.default = default
        self.overrides = overrides

    def __call__(self, user: str) -> int:
        return self.overrides.max_topics(user, self.default)


class PartitionCap(TopicCap):
    """How many partitions a user's topics may hold together: its own limit, else the
    service default."""

    def __call__(self, user: str) -> int:
        return self.overrides.max_partitions(user, self.default)


def partition_limit_reached(topic: str, wanted: int, cap: int) -> ServiceError:
    """The one error of growing a topic past the brokers' per-topic partition cap (the same
    ``max_partitions_per_topic`` their create-topic policy enforces)."""
    return ServiceError(
        403, "partition_limit_reached",
        f"topic {topic!r} may have at most {cap} partitions here (max_partitions_per_topic = "
        f"{cap}), not {wanted}",
        hint="ask for fewer partitions, or ask the fabric operator to raise the limit: "
             "max_partitions_per_topic in <fabric home>/broker/topic-limits.json, then "
             "`diaspora-fabric down` and `diaspora-fabric up`")
