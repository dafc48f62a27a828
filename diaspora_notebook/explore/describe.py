"""A topic in detail: partitions with leader, replicas, in-sync replicas and offsets, the
configs you may read, and the size on disk where the broker tells you."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diaspora_notebook.kafka.connections import admin, client_or_default, consumer
from diaspora_notebook.kafka.errors import TOPIC_AUTHORIZATION_FAILED, denied, translated

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client

#: configs shown first (the rest follow alphabetically)
MAIN_CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy", "max.message.bytes",
                "min.insync.replicas", "segment.bytes", "compression.type")
PARTITION_COLUMNS = ("partition", "leader", "replicas", "isr", "earliest", "latest", "messages")


@dataclass(frozen=True)
class PartitionDetails:
    """One partition: where it lives and which offsets it holds."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    earliest: int
    latest: int

    @property
    def messages(self) -> int:
        """Messages the partition holds now (after retention)."""
        return self.latest - self.earliest


@dataclass(frozen=True)
class TopicDetails:
    """A topic as the brokers show it to you (``topics.details``).

    :ivar configs: the topic's configs (``{}`` when you may not read them: grantees cannot)
    :ivar size_bytes: bytes on disk over all replicas (``None`` when the broker does not say:
        it tells cluster operators only)
    """

    topic: str
    on_broker: bool
    partition_details: tuple[PartitionDetails, ...] = ()
    configs: dict[str, str] = field(default_factory=dict)
    size_bytes: int | None = None

    @property
    def partitions(self) -> int | None:
        return len(self.partition_details) if self.on_broker else None

    @property
    def messages(self) -> int | None:
        """Messages held now, over all partitions."""
        return sum(p.messages for p in self.partition_details) if self.on_broker else None

    @property
    def retention_ms(self) -> int | None:
        value = self.configs.get("retention.ms")
        return int(value) if value not in (None, "") else None

    def table(self) -> pd.DataFrame:
        """One row per partition (columns :data:`PARTITION_COLUMNS`)."""
        import pandas as pd

        rows = [{"partition": p.partition, "leader": p.leader, "replicas": list(p.replicas),
                 "isr": list(p.isr), "earliest": p.earliest, "latest": p.latest,
                 "messages": p.messages} for p in self.partition_details]
        frame: pd.DataFrame = pd.DataFrame(rows, columns=list(PARTITION_COLUMNS))
        return frame


def describe_topic(topic: str, *, client: Client | None = None) -> TopicDetails:
    """``topic`` in detail (``on_broker=False`` when it is not on the brokers).

    :raises KafkaAccessDeniedError: you may not describe it
    """
    from kafka import TopicPartition

    client = client_or_default(client)
    if getattr(client, "api", "v1") == "v3":
        from diaspora_notebook.kafka.source import pick_engine

        if pick_engine("auto", client=client) == "rest":
            return _rest_details(client, topic)
    name = getattr(client, "kafka_topic", str)(topic)  # v3: <namespace>.<topic>
    with admin(client) as adm:
        with translated(topic, "describe"):
            found = {d["name"]: d for d in adm.describe_topics([name])}.get(name)
        code = found.get("error_code") if found else None
        if code == TOPIC_AUTHORIZATION_FAILED:
            raise denied(topic, "describe")
        if not found or code != 0:
            return TopicDetails(topic, False)
        configs = _configs(adm, name)
        size = _size(adm, name)
    parts = sorted(found.get("partitions") or [], key=lambda p: p["partition_index"])
    tps = [TopicPartition(name, p["partition_index"]) for p in parts]
    with consumer(client) as con, translated(topic, "read offsets of"):
        low, high = con.beginning_offsets(tps), con.end_offsets(tps)
    details = tuple(PartitionDetails(
        p["partition_index"], int(p.get("leader_id", -1)), tuple(p.get("replica_nodes") or ()),
        tuple(p.get("isr_nodes") or ()), int(low[tp]), int(high[tp]))
        for p, tp in zip(parts, tps, strict=True))
    return TopicDetails(topic, True, details, configs, size)


def _rest_details(client: Any, topic: str) -> TopicDetails:
    """A v3 topic through the consumer REST API (brokers out of reach): partitions and
    offsets only."""
    from diaspora_notebook.kafka.source import client_config, make_source

    source = make_source("rest", client_config(client, "rest"), topics=[topic])
    try:
        parts = source.partitions(topic)
        if not parts:
            return TopicDetails(topic, False)
        marks = source.watermarks([(topic, p) for p in parts])
    finally:
        source.close(commit=False)
    details = tuple(PartitionDetails(p, -1, (), (), marks[(topic, p)][0], marks[(topic, p)][1])
                    for p in parts)
    return TopicDetails(topic, True, details, {}, None)


def _configs(adm: Any, topic: str) -> dict[str, str]:
    from kafka.admin import ConfigResource, ConfigResourceType

    try:
        got = adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)],
                                   config_filter="all")
    except Exception:  # grantees may not read configs: show none
        return {}
    entries = (got.get("topic") or {}).get(topic) or {}
    values = {k: str(v.get("value")) for k, v in entries.items()
              if not v.get("is_sensitive") and v.get("value") is not None}
    first = {k: values[k] for k in MAIN_CONFIGS if k in values}
    return {**first, **{k: values[k] for k in sorted(values) if k not in first}}


def _size(adm: Any, topic: str) -> int | None:
    try:
        brokers = adm.describe_log_dirs([topic])
    except Exception:  # needs cluster rights most users do not have
        return None
    sizes = [int(p.get("partition_size", 0)) for b in brokers or ()
             for d in b.get("log_dirs", ()) for t in d.get("topics", ()) if t.get("name") == topic
             for p in t.get("partitions", ())]
    return sum(sizes) if sizes else None
