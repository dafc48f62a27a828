"""``KafkaAdmin``, ``KafkaProducer``, ``KafkaConsumer``, ``NewTopic``: kafka-python, pre-configured.

Each wrapper gets the bootstrap servers, SASL_SSL, SCRAM-SHA-512, the username and password of
:meth:`Client.retrieve_key <diaspora_notebook.client.Client.retrieve_key>` and the environment's
CA from the process-wide :func:`~diaspora_notebook.client.default_client` (pass ``client=`` to
use another). Your keyword arguments win. The producer serializes values as JSON by default,
as the original SDK did. With the key cached, building one makes no web-service call.

Construction runs inside :func:`~diaspora_notebook.diagnose.diagnosed_connection` with
a bounded bootstrap timeout, so a wrong key, an untrusted CA or a stopped broker raise
``KafkaAuthenticationError``, ``KafkaTLSError`` or ``BrokerUnavailableError``.

Without kafka-python, ``import diaspora_notebook`` still works and using a wrapper raises
:class:`~diaspora_notebook.errors.KafkaClientMissingError` naming the extra to install.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from diaspora_notebook.diagnose import diagnosed_connection
from diaspora_notebook.errors import (
    DiasporaUsageError,
    KafkaAccessDeniedError,
    KafkaClientMissingError,
)
from diaspora_notebook.kafka.errors import CLUSTER_AUTHORIZATION_FAILED, code_of, policy_refused
from diaspora_notebook.kafka.metadata_refresh import restart_metadata_refresh

if TYPE_CHECKING:
    from diaspora_notebook.client import Client

KAFKA_EXTRA_HINT = "pip install 'diaspora-notebook[kafka-python]'"
BOOTSTRAP_TIMEOUT_MS = 15000
MAX_BLOCK_MS = 15000


class NewTopic:
    """A topic to create with :meth:`KafkaAdmin.create_topics` (the seed's ``NewTopic``).

    Works with kafka-python 3, which deprecates its own ``NewTopic`` objects: ``KafkaAdmin``
    turns these into kafka-python's dict form.
    """

    def __init__(self, name: str, num_partitions: int = -1, replication_factor: int = -1,
                 replica_assignments: dict[int, list[int]] | None = None,
                 topic_configs: dict[str, str] | None = None) -> None:
        self.name = name
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignments = replica_assignments or {}
        self.topic_configs = topic_configs or {}

    def __repr__(self) -> str:
        return (f"NewTopic(name={self.name!r}, num_partitions={self.num_partitions}, "
                f"replication_factor={self.replication_factor})")

    def as_options(self) -> dict[str, Any]:
        """kafka-python 3's ``{num_partitions, replication_factor, assignments, configs}``."""
        return {"num_partitions": self.num_partitions,
                "replication_factor": self.replication_factor,
                "assignments": dict(self.replica_assignments),
                "configs": dict(self.topic_configs)}


def _json_serializer(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _value_serializer() -> Any:
    """kafka-python 3's ``JsonSerializer`` (no deprecation warning), else a function."""
    try:
        from kafka.serializer import JsonSerializer
    except ImportError:
        return _json_serializer
    return JsonSerializer()


def _client(client: Client | None) -> Client:
    from diaspora_notebook.client import default_client

    return client or default_client()


def _settings(client: Client | None, user: dict[str, Any],
              defaults: dict[str, Any]) -> dict[str, Any]:
    return {**_client(client).kafka_config(), **defaults, **user}


def _total(wanted: Any) -> int:
    """The new total of one ``create_partitions`` entry: an int, a ``NewPartitions`` or
    kafka-python 3's ``{"count": n, ...}``."""
    if isinstance(wanted, dict):
        wanted = wanted.get("count")
    wanted = getattr(wanted, "total_count", wanted)
    if isinstance(wanted, bool) or not isinstance(wanted, int):
        raise DiasporaUsageError(f"create_partitions takes {{topic: new total}}, not {wanted!r}",
                                 hint="e.g. admin.create_partitions({'my-topic': 3})")
    return wanted


try:
    import kafka as _kafka
    from kafka.admin import KafkaAdminClient as _KafkaAdminClient
    from kafka.errors import AuthorizationError as _AuthorizationError
except ImportError:  # the wrappers below explain what to install
    _kafka = None


def _denied(topic: str, exc: BaseException) -> KafkaAccessDeniedError:
    return KafkaAccessDeniedError(
        f"the Kafka broker refused access to topic {topic!r} ({type(exc).__name__})",
        hint="register the topic with Client().register_topic(...), or ask its owner to "
        "grant you access with grant_user_access")


if _kafka is not None:

    class KafkaAdmin(_KafkaAdminClient):  # type: ignore[misc]
        """``kafka.admin.KafkaAdminClient`` logged in with your Diaspora key."""

        def __init__(self, *, client: Client | None = None, **kwargs: Any) -> None:
            conf = _settings(client, kwargs, {"bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS})
            self._diaspora_client = _client(client)
            with diagnosed_connection(conf):
                super().__init__(**conf)

        def create_topics(self, new_topics: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(new_topics, (list, tuple)) and new_topics and all(
                    isinstance(t, NewTopic) for t in new_topics):
                new_topics = {t.name: t.as_options() for t in new_topics}
            try:
                return super().create_topics(new_topics, *args, **kwargs)
            except _kafka.errors.PolicyViolationError as exc:
                # a limit of the fabric (its brokers' topic policy): one error naming it
                names = ", ".join(str(getattr(t, "name", t)) for t in new_topics)
                raise policy_refused(names, "create", exc) from exc

        def create_partitions(self, topic_partitions: Any, timeout_ms: Any = None,
                              validate_only: bool = False, **_ignored: Any) -> dict[str, Any]:
            """Grow your topics to the new **totals** in ``{topic: total}`` (a kafka-python
            ``NewPartitions`` or ``{"count": n}`` works too), through the web service: owners
            hold no ALTER, since Kafka shows CreatePartitions to no broker policy, and the
            service keeps each topic within the fabric's ``max_partitions_per_topic`` (past it:
            an error naming the limit and how to raise it). Returns ``{topic: answer}``."""
            if validate_only:
                raise DiasporaUsageError("create_partitions(validate_only=True) is not "
                                         "supported: the web service adds partitions",
                                         hint="call it without validate_only")
            answers = {}
            for topic, wanted in dict(topic_partitions).items():
                answers[topic] = self._diaspora_client.add_partitions(topic, _total(wanted))
            return answers

    class KafkaProducer(_kafka.KafkaProducer):  # type: ignore[misc]
        """``kafka.KafkaProducer`` logged in with your key; values are JSON by default."""

        def __init__(self, *, client: Client | None = None, **kwargs: Any) -> None:
            conf = _settings(client, kwargs, {"value_serializer": _value_serializer(),
                                              "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
                                              "max_block_ms": MAX_BLOCK_MS})
            with diagnosed_connection(conf):
                super().__init__(**conf)

        def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
            """As kafka-python's; a topic without your ACLs fails with KafkaAccessDeniedError.
            A producer that outlived a broker restart finds the brokers again (see
            ``kafka.metadata_refresh``)."""
            restart_metadata_refresh(self)
            try:
                future = super().send(topic, *args, **kwargs)
            except _AuthorizationError as exc:
                raise _denied(topic, exc) from exc
            except _kafka.errors.KafkaError as exc:
                if code_of(exc) != CLUSTER_AUTHORIZATION_FAILED:  # its cause's code
                    raise
                # the idempotent producer asked for a producer id while the key could write
                # to no topic; kafka-python keeps that failure for the producer's lifetime
                raise KafkaAccessDeniedError(
                    f"this producer was refused a producer id ({type(exc).__name__}): when it "
                    "was built, your key could write to no topic",
                    hint="register a topic (or get access granted), then build a new "
                    "KafkaProducer") from exc
            # kafka-python 3 returns an already failed future when the metadata is refused
            if future.failed() and isinstance(future.exception, _AuthorizationError):
                denied = _denied(topic, future.exception)
                denied.__cause__ = future.exception
                future.exception = denied
            return future

    class KafkaConsumer(_kafka.KafkaConsumer):  # type: ignore[misc]
        """``kafka.KafkaConsumer`` logged in with your key."""

        def __init__(self, *topics: str, client: Client | None = None, **kwargs: Any) -> None:
            conf = _settings(client, kwargs, {"bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS})
            with diagnosed_connection(conf):
                super().__init__(*topics, **conf)

        def poll(self, *args: Any, **kwargs: Any) -> Any:
            """As kafka-python's (iterating calls it too). A consumer that outlived a broker
            restart finds the brokers again (see ``kafka.metadata_refresh``)."""
            restart_metadata_refresh(self)
            return super().poll(*args, **kwargs)

else:

    class _Missing:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise KafkaClientMissingError(
                f"{type(self).__name__} needs kafka-python, which is not installed",
                hint=KAFKA_EXTRA_HINT)

    class KafkaAdmin(_Missing):  # type: ignore[no-redef]
        """Needs kafka-python: ``pip install 'diaspora-notebook[kafka-python]'``."""

    class KafkaProducer(_Missing):  # type: ignore[no-redef]
        """Needs kafka-python: ``pip install 'diaspora-notebook[kafka-python]'``."""

    class KafkaConsumer(_Missing):  # type: ignore[no-redef]
        """Needs kafka-python: ``pip install 'diaspora-notebook[kafka-python]'``."""


__all__ = ["KafkaAdmin", "KafkaConsumer", "KafkaProducer", "NewTopic"]
