"""The v3 parts of one service process, built from its settings and Kafka gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request

from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.limits import TopicCap, UserLimitsFile
from diaspora_notebook.fabric.service.settings import ServiceSettings
from diaspora_notebook.fabric.service.v3.consumers import ConsumerRegistry
from diaspora_notebook.fabric.service.v3.keystore import KeyStore
from diaspora_notebook.fabric.service.v3.namespaces import NamespaceAdmin, NamespaceManager
from diaspora_notebook.fabric.service.v3.records import RecordWriter, kafka_client_config


@dataclass
class V3Services:
    settings: ServiceSettings
    admin: NamespaceAdmin
    namespaces: NamespaceManager
    writer: RecordWriter
    consumers: ConsumerRegistry

    @classmethod
    def build(cls, settings: ServiceSettings, admin: Any, *,
              idle_seconds: float = 300.0) -> V3Services:
        gateway = cast(NamespaceAdmin, admin)
        keys = KeyStore(settings.iam_key_store) if settings.iam_key_store else None

        def config() -> dict[str, Any]:
            return kafka_client_config(settings)

        def endpoint() -> str:
            return ",".join(settings.iam_bootstrap_servers or settings.bootstrap_servers)

        consumers = ConsumerRegistry(config, topic_exists=gateway.topic_exists,
                                     idle_seconds=idle_seconds)
        namespaces = NamespaceManager(gateway, keys, endpoint=endpoint,
                                      on_user_deleted=consumers.drop_user,
                                      max_topics=TopicCap(settings.max_topics_per_user,
                                                          UserLimitsFile(
                                                              settings.user_limits_file)))
        return cls(settings, gateway, namespaces, RecordWriter(config), consumers)

    def close(self) -> None:
        self.consumers.close()
        self.writer.close()


def supports_v3(admin: Any) -> bool:
    """Whether ``admin`` has the Kafka calls v3 needs (the in-memory test backend has not)."""
    return all(hasattr(admin, name) for name in ("resource_acls", "create_topic",
                                                  "broker_count"))


def get_v3(request: Request) -> V3Services:
    v3 = getattr(request.app.state, "v3", None)
    if v3 is None:
        raise ServiceError(503, "v3_unavailable", "this service does not serve the v3 API",
                           hint="the operator runs it on a Kafka cluster")
    return cast(V3Services, v3)


V3 = Annotated[V3Services, Depends(get_v3)]
