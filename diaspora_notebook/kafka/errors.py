"""Kafka's errors, classified by code, and turned into Diaspora errors about one topic.

Both client libraries carry Kafka's protocol error codes: kafka-python's exception classes have
``errno`` (``TopicAuthorizationFailedError.errno == 29``), librdkafka's ``KafkaError.code()``
is the same number for a broker's answer and a negative one for its own (``_UNKNOWN_PARTITION``
is -190). Errors are told apart by these codes (:func:`code_of`, the ``*_CODES`` sets), never
by their text. ``SourceError`` is what a source (:mod:`diaspora_notebook.kafka.source`) raises,
with the code. The hints name the Python call; the notebook layer may rewrite them into magic
syntax (:mod:`diaspora_notebook.notebook.errors`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from diaspora_notebook.errors import (
    DiasporaError,
    DiasporaUsageError,
    KafkaAccessDeniedError,
    TopicExistsError,
    TopicLimitError,
    TopicMissingError,
)

#: Kafka protocol error codes (org.apache.kafka.common.protocol.Errors); librdkafka's own
#: (local) errors are negative
UNKNOWN_TOPIC = 3
TOPIC_AUTHORIZATION_FAILED = 29
CLUSTER_AUTHORIZATION_FAILED = 31
SASL_AUTHENTICATION_FAILED = 58
POLICY_VIOLATION = 44  # the brokers' topic policy (the fabric's limits) refused it
PARTITION_EOF = -191  # librdkafka: the end of a partition was reached (not a problem)
MAX_PARTITIONS = 1000

#: refused by the ACLs: TOPIC_, GROUP_, CLUSTER_, TRANSACTIONAL_ID_, DELEGATION_TOKEN_
#: AUTHORIZATION_FAILED
DENIED_CODES = frozenset({29, 30, 31, 53, 65})
#: the login itself failed: SASL_AUTHENTICATION_FAILED, librdkafka's _AUTHENTICATION
AUTHENTICATION_CODES = frozenset({58, -169})
#: no such topic or partition (what the brokers answer, too, for a topic a key may no longer
#: describe): UNKNOWN_TOPIC_OR_PART, librdkafka's _UNKNOWN_TOPIC and _UNKNOWN_PARTITION
UNKNOWN_TOPIC_CODES = frozenset({3, -188, -190})
#: about a consumer group: librdkafka's _UNKNOWN_GROUP, INCONSISTENT_GROUP_PROTOCOL,
#: INVALID_GROUP_ID, GROUP_AUTHORIZATION_FAILED, NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND,
#: GROUP_MAX_SIZE_REACHED, GROUP_SUBSCRIBED_TO_TOPIC
GROUP_CODES = frozenset({-179, 23, 24, 30, 68, 69, 81, 86})
#: the call itself is wrong (librdkafka's _INVALID_ARG, _NOT_IMPLEMENTED): retrying cannot help
USAGE_CODES = frozenset({-186, -170})


class SourceError(Exception):
    """An error of a source (any engine) in one shape: a short text, Kafka's error ``code``
    (``None`` when there is none) and whether retrying can help."""

    def __init__(self, text: str, *, code: int | None = None, retriable: bool = True,
                 fatal: bool = False) -> None:
        super().__init__(text)
        self.code = code
        self.retriable = retriable
        self.fatal = fatal  # the consumer object is unusable: build a new one


def code_of(exc: object) -> int | None:
    """Kafka's error code of an exception of either library (or of a ``SourceError``), or of a
    librdkafka ``KafkaError``; kafka-python's errors that wrap another (``KafkaError(text,
    cause)``) give the cause's. ``None`` when there is none."""
    if isinstance(exc, SourceError):
        return exc.code
    code = getattr(exc, "code", None)
    if callable(code):  # confluent_kafka.KafkaError
        code = code()
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and not isinstance(errno, bool) and errno != -1:
        return errno  # kafka-python: the protocol code (-1 is its "unknown")
    for arg in getattr(exc, "args", ()):  # KafkaException(KafkaError), KafkaError(text, cause)
        if isinstance(arg, BaseException) or hasattr(arg, "code"):
            inner = code_of(arg)
            if inner is not None:
                return inner
    return None


def is_denied(exc: object) -> bool:
    """The ACLs refused it (any ``*_AUTHORIZATION_FAILED``)."""
    return code_of(exc) in DENIED_CODES


def is_authentication(exc: object) -> bool:
    """The SASL login failed."""
    return code_of(exc) in AUTHENTICATION_CODES


def is_unknown_topic(exc: object) -> bool:
    """No such topic or partition (or no longer describable with this key)."""
    return code_of(exc) in UNKNOWN_TOPIC_CODES


def denied(topic: str, what: str) -> KafkaAccessDeniedError:
    """The broker refused to ``what`` (e.g. "read") ``topic``."""
    return KafkaAccessDeniedError(
        f"the broker refused to {what} topic {topic!r}: you have no access to it",
        hint=f"register it with topics.register({topic!r}) (or Client().register_topic), or "
        "ask its owner to grant you access", topic=topic)


def missing(topic: str) -> TopicMissingError:
    """``topic`` is not on the brokers."""
    return TopicMissingError(
        f"topic {topic!r} does not exist on the brokers",
        hint=f"create it with topics.create({topic!r}) (after topics.register({topic!r}))",
        topic=topic)


def partitions_error(topic: str, partitions: object = None) -> DiasporaUsageError:
    """A partition count the broker (or :data:`MAX_PARTITIONS`) does not allow."""
    count = "" if partitions is None else f" {partitions!r}"
    return DiasporaUsageError(f"invalid partition count{count} for {topic!r}",
                              hint=f"use a whole number from 1 to {MAX_PARTITIONS}")


def is_policy_violation(exc: object) -> bool:
    """The brokers' create-topic or alter-config policy refused it (a limit of the fabric)."""
    return code_of(exc) == POLICY_VIOLATION


def policy_refused(topic: str, what: str, exc: BaseException) -> TopicLimitError:
    """The brokers' topic policy refused to ``what`` ``topic``: the broker's own text names
    the limit (``max_partitions_per_topic=32``, ``retention.ms ... allowed range``)."""
    text = str(exc).split(":", 1)[-1].strip() if ":" in str(exc) else ""
    reason = text or type(exc).__name__
    return TopicLimitError(
        f"the brokers refused to {what} topic {topic!r}: {reason}",
        hint="stay within the fabric's limits (fewer partitions, allowed config values); to "
        "raise one, ask the fabric operator (partitions per topic and config bounds: "
        "<fabric home>/broker/topic-limits.json; partitions per user: `diaspora-fabric user "
        "limits <username> --max-partitions N`)", topic=topic)


@contextlib.contextmanager
def translated(topic: str, what: str) -> Iterator[None]:
    """Turn kafka-python's exceptions raised inside into Diaspora errors about ``topic``.

    :param topic: the topic (or topics, comma-separated) the calls are about.
    :param what: the verb for messages, e.g. ``"read"``, ``"write to"``.
    """
    from kafka import errors

    try:
        yield
    except errors.TopicAuthorizationFailedError as exc:
        raise denied(topic, what) from exc
    except errors.UnknownTopicOrPartitionError as exc:
        raise missing(topic) from exc
    except errors.TopicAlreadyExistsError as exc:
        raise TopicExistsError(f"topic {topic!r} already exists on the brokers",
                               hint=f"use it as it is, or delete it first with "
                               f"topics.delete({topic!r})", topic=topic) from exc
    except errors.InvalidPartitionsError as exc:
        raise partitions_error(topic) from exc
    except errors.PolicyViolationError as exc:
        raise policy_refused(topic, what, exc) from exc
    except errors.KafkaTimeoutError as exc:
        raise DiasporaError(f"the broker did not answer in time while trying to {what} "
                            f"{topic!r}", hint="retry; check the fabric with "
                            "`diaspora-fabric status`") from exc
    except errors.KafkaError as exc:
        raise DiasporaError(f"could not {what} {topic!r}: {type(exc).__name__}",
                            hint="retry; if it persists, check the broker logs") from exc


def partition_count(described: Mapping[str, Any] | None, topic: str, what: str) -> int:
    """The partition count of a ``describe_topics`` entry, or the error its code means."""
    code = described.get("error_code") if described else UNKNOWN_TOPIC
    if code == TOPIC_AUTHORIZATION_FAILED:
        raise denied(topic, what)
    if code == UNKNOWN_TOPIC or described is None:
        raise missing(topic)
    return len(described.get("partitions") or [])
