"""kafka-python's exceptions and error codes about one topic, as Diaspora errors.

kafka-python says ``TopicAuthorizationFailedError`` or returns ``error_code`` 29 where a user
needs "you have no access to topic 'x': register it"; this module is the one place that
translates. The hints name the Python call; the notebook layer may rewrite them into magic
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
    TopicMissingError,
)

#: Kafka protocol error codes (org.apache.kafka.common.protocol.Errors)
UNKNOWN_TOPIC = 3
TOPIC_AUTHORIZATION_FAILED = 29
MAX_PARTITIONS = 1000


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
