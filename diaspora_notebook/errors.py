"""One error tree for the toolkit (the fabric has its own: ``diaspora_notebook.fabric.errors``).

Every error says what went wrong (``str(err)``) and, in ``hint``, what to do about it.
Magics and the CLI print ``Name: message - hint`` without a traceback.
"""

from __future__ import annotations


class DiasporaError(Exception):
    """Root of every error this package raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def one_line(self) -> str:
        """``Name: what happened - what to do``, for magics and the CLI."""
        text = f"{type(self).__name__}: {self.message}"
        return f"{text} - {self.hint}" if self.hint else text


class DiasporaUsageError(DiasporaError, ValueError):
    """The caller passed something invalid; nothing was sent anywhere."""


class KafkaConnectionProblem(DiasporaError):
    """A Kafka client could not get a working connection to the brokers."""


class KafkaAuthenticationError(KafkaConnectionProblem):
    """The broker rejected the SCRAM username or password."""


class KafkaTLSError(KafkaConnectionProblem):
    """The broker's certificate was not trusted (wrong CA, or not a TLS port)."""


class BrokerUnavailableError(KafkaConnectionProblem):
    """No broker answered at the bootstrap addresses."""


# --- toolkit (client side): environments, login, the web service, Kafka clients -------------


class EnvironmentNotFoundError(DiasporaUsageError):
    """No environment was named and none could be found (no running local fabric)."""


class EnvironmentConfigError(DiasporaUsageError):
    """An environment's definition (fabric.json or environments.toml) is unusable."""


class CredentialsConfigError(DiasporaUsageError):
    """Login settings from the environment are contradictory or incomplete."""


class NotLoggedInError(DiasporaError):
    """There are no usable tokens: the user must log in (again)."""


class DiasporaAPIError(DiasporaError):
    """The Diaspora web service answered with an error.

    :ivar http_status: the HTTP status, or None when the service could not be reached.
    :ivar code: the service's stable error code (e.g. ``topic_owned_by_another``).
    :ivar request_id: the request id the service reported, if any.
    """

    def __init__(self, message: str, *, hint: str | None = None, http_status: int | None = None,
                 code: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.http_status = http_status
        self.code = code
        self.request_id = request_id


class AccessDeniedError(DiasporaAPIError):
    """The service refused: the caller may not do this (403)."""


class TopicOwnedByAnotherError(AccessDeniedError):
    """The topic is registered to another identity."""


class NotTopicOwnerError(AccessDeniedError):
    """Only the topic's owner may share it or list its users."""


class LimitReachedError(AccessDeniedError):
    """The service refused because a limit of the fabric was reached (topics per user,
    partitions per topic, partitions per user or in all); the message names the limit and
    the hint how to raise it."""


class InvalidTopicNameError(DiasporaAPIError, ValueError):
    """The topic name breaks Kafka's rules (400)."""


class TopicNotRegisteredError(DiasporaAPIError):
    """The topic is not registered to anyone (404)."""


class ServiceUnavailableError(DiasporaAPIError):
    """The web service (or Kafka / the IdP behind it) is unreachable or failing (503)."""


class UnknownUserError(DiasporaUsageError):
    """A username did not resolve to an identity."""


class KafkaClientMissingError(DiasporaUsageError, ImportError):
    """kafka-python is not installed, so the Kafka wrappers cannot be used."""


class TopicError(DiasporaError):
    """An error about one topic on the brokers.

    :ivar topic: the topic's name (None when the error is about no single topic).
    """

    def __init__(self, message: str, *, hint: str | None = None,
                 topic: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.topic = topic


class KafkaAccessDeniedError(TopicError):
    """The Kafka broker refused this identity access to a topic (no ACL for it)."""


class TopicLimitError(TopicError):
    """The brokers' topic policy refused a topic or a config value (Kafka's POLICY_VIOLATION):
    partitions per topic or per user, replication, retention, segments, cleanup policy. The
    message is the broker's, naming the limit; the hint says how to raise it."""


class TopicMissingError(TopicError):
    """The topic is registered (or named) but does not exist on the brokers."""


class TopicExistsError(TopicError):
    """The topic already exists on the brokers."""


class LiveStreamError(DiasporaError):
    """A live DataFrame's stream stopped or could not deliver what was waited for."""


class LiveStreamTimeoutError(LiveStreamError, TimeoutError):
    """``LiveDataFrame.wait`` ran out of time; the message carries the stream's counters."""
