"""Render each broker node's ``server.properties``.

Every node is a combined broker+controller with a static voter list (the same shape for one node
and for three): format needs no quorum flag, and the SCRAM bootstrap records are identical
on every node. Clients speak SASL_SSL + SCRAM-SHA-512 on the CLIENT listener. The CONTROLLER
listener (127.0.0.1 only) uses SASL_PLAINTEXT with a static PLAIN user: raft runs before SCRAM
credentials are loaded, so SCRAM cannot guard it, and leaving it unauthenticated would make
``User:ANONYMOUS`` a super user that any local process (another account on a shared login node)
could become.

Beside it, the IAM listener speaks SASL_SSL + OAUTHBEARER (the same certificate): a token is an
AWS SigV4 presigned ``kafka-cluster:Connect`` URL signed with a key the web service issued (the
v3 API, diaspora-event-sdk's ``MSKTokenProvider``). The plugin's ``MskIamServerCallbackHandler``
verifies it against the IAM key store file the service writes and maps it to the key owner's
principal, so the same ACLs apply. The broker's own OAUTHBEARER login on that listener is never
used (no connection goes out on it) but must succeed at start: hence the unsecured claim.

Every node also runs the plugin's create-topic and alter-config policies (on the controller, for
every client): :class:`TopicLimits` caps partitions and replicas per topic and bounds
retention, segments and message size; internal ``__`` topics are exempt.

Client sessions expire after ``connections.max.reauth.ms`` (KIP-368): a client re-authenticates
on its open connection (kafka-python 3.x and librdkafka >= 2.2 do so by themselves) or the
broker closes the connection at its next request. SCRAM re-authentication checks the password
against the current credential, so a rotated or deleted key stops working on connections opened
before within that interval, not only on new ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from diaspora_notebook.fabric.errors import FabricUsageError

ADMIN_USER = "admin"
CONTROLLER_USER = "controller"
REAUTH_VARIABLE = "DIASPORA_FABRIC_REAUTH_MS"
DEFAULT_REAUTH_MS = 30_000
# the promise: an old password stops working on an open connection within 60 s
MAX_REAUTH_MS = 60_000
MIN_REAUTH_MS = 1_000


def reauth_ms() -> int:
    """``DIASPORA_FABRIC_REAUTH_MS`` (1000..60000), else 30000: the client session lifetime."""
    raw = os.environ.get(REAUTH_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_REAUTH_MS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not MIN_REAUTH_MS <= value <= MAX_REAUTH_MS:
        raise FabricUsageError(
            f"{REAUTH_VARIABLE} must be a whole number of milliseconds from {MIN_REAUTH_MS} to "
            f"{MAX_REAUTH_MS}, not {raw!r}",
            hint=f"unset it for the default ({DEFAULT_REAUTH_MS}); a rotated key keeps working "
            "on open connections for up to this long",
        )
    return value


# The broker's open-file limit. Each partition holds a few files open (its active segment,
# indexes); the partition caps of the broker's topic policy must fit under this number.
OPEN_FILES_VARIABLE = "DIASPORA_FABRIC_BROKER_OPEN_FILES"
DEFAULT_OPEN_FILES = 16384
FILES_PER_PARTITION = 3
BASE_OPEN_FILES = 1024  # sockets, jars, logs, __cluster_metadata


def partitions_that_fit(open_files: int) -> int:
    """How many partitions (replicas) one broker can hold open under ``open_files``."""
    return max(0, (open_files - BASE_OPEN_FILES) // FILES_PER_PARTITION)


def broker_open_files() -> int:
    """``DIASPORA_FABRIC_BROKER_OPEN_FILES``, else 16384: the soft RLIMIT_NOFILE each broker
    JVM gets."""
    raw = os.environ.get(OPEN_FILES_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_OPEN_FILES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < BASE_OPEN_FILES:
        raise FabricUsageError(
            f"{OPEN_FILES_VARIABLE} must be a whole number of at least {BASE_OPEN_FILES}, "
            f"not {raw!r}",
            hint=f"unset it for the default ({DEFAULT_OPEN_FILES})")
    return value


def check_open_file_limit(required: int) -> int:
    """Return ``required`` if this process may give its children that many open files; else
    raise one error naming both numbers and the fix (the children inherit our hard limit)."""
    import resource

    from diaspora_notebook.fabric.errors import FabricStartError

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= required:
        return required
    raise FabricStartError(
        f"the Kafka broker needs an open-file limit of {required} (about "
        f"{partitions_that_fit(required)} partitions) but this system allows at most {hard} "
        "(`ulimit -Hn`)",
        hint=f"raise the hard limit for your account (e.g. `* hard nofile {required}` in "
        "/etc/security/limits.conf, then log in again), or run with "
        f"{OPEN_FILES_VARIABLE}={hard} (fewer partitions fit: about "
        f"{partitions_that_fit(hard)})")


@dataclass(frozen=True)
class NodePorts:
    node_id: int
    client_port: int
    controller_port: int
    # the OAUTHBEARER (IAM) listener; None in a home made before it existed (``up`` adds one)
    iam_port: int | None = None


PLUGIN_PACKAGE = "org.diaspora.kafka"
IAM_LISTENER = "IAM"
IAM_KEY_STORE = "iam-keys.json"  # in the home's secrets/: written by the service, read here
# diaspora-event-sdk signs its tokens for this region; any region verifies (the host and the
# credential scope must agree), the list only documents what the SDK sends
IAM_REGION = "us-east-1"
TOPIC_LIMITS_FILE = "topic-limits.json"
# in the home's broker/: the web service writes each registration's partition allotment (its
# owner's share of the per-user budget), the create-topic policy reads it
PARTITION_BUDGET_FILE = "partition-budget.json"


@dataclass(frozen=True)
class TopicLimits:
    """What the brokers' topic policies allow every client (internal ``__`` topics exempt).

    Enforced by the plugin on the controller for CreateTopics and (Incremental)AlterConfigs,
    whoever asks; partition growth (CreatePartitions, which Kafka never shows a policy) is the
    web service's ``add_partitions`` route, capped by the same ``max_partitions_per_topic``.
    An operator overrides fields in ``<home>/broker/topic-limits.json`` (read at ``up``).
    """

    max_partitions_per_topic: int = 32
    max_replication_factor: int = 3
    retention_ms_min: int = 60_000                    # 1 minute
    retention_ms_max: int = 30 * 24 * 3600 * 1000     # 30 days; -1 (forever) is refused
    retention_bytes_max: int = 1 << 30                # per partition; -1 (unbounded) refused
    segment_ms_min: int = 10 * 60 * 1000              # 10 minutes
    segment_ms_max: int = 7 * 24 * 3600 * 1000
    segment_bytes_min: int = 16 << 20
    segment_bytes_max: int = 1 << 30
    max_message_bytes_max: int = 8 << 20
    cleanup_policies: tuple[str, ...] = ("delete", "compact")

    @classmethod
    def load(cls, path: Path) -> TopicLimits:
        """Defaults, overridden by the fields of the JSON object in ``path`` if it exists."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise FabricUsageError(f"the topic limits file {path} is not valid JSON ({exc})",
                                   hint="fix or remove it (defaults apply without it)") from exc
        known = {f.name: f for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - set(known):
            raise FabricUsageError(
                f"the topic limits file {path} must be a JSON object with some of the fields "
                f"{sorted(known)}",
                hint="fix or remove it (defaults apply without it)")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "cleanup_policies":
                ok = (isinstance(value, list) and bool(value)
                      and set(value) <= {"delete", "compact"})
                values[key] = tuple(value) if ok else None
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
                values[key] = value
            if not ok:
                raise FabricUsageError(f"{path}: {key}={value!r} is not allowed",
                                       hint="numbers are positive integers; cleanup_policies a "
                                       "non-empty list of 'delete' and 'compact'")
        return cls(**values)

    def properties(self) -> dict[str, str]:
        """The ``diaspora.policy.*`` broker properties the plugin's policies read."""
        out = {f"diaspora.policy.{name.replace('_', '.')}": str(getattr(self, name))
               for name in ("max_partitions_per_topic", "max_replication_factor")}
        for name in ("retention_ms", "segment_ms", "segment_bytes"):
            for end in ("min", "max"):
                out[f"diaspora.policy.{name.replace('_', '.')}.{end}"] = str(
                    getattr(self, f"{name}_{end}"))
        out["diaspora.policy.retention.bytes.max"] = str(self.retention_bytes_max)
        out["diaspora.policy.max.message.bytes.max"] = str(self.max_message_bytes_max)
        out["diaspora.policy.cleanup.policies"] = ",".join(self.cleanup_policies)
        out["diaspora.policy.exempt.prefixes"] = "__"
        return out


def _escape(value: str) -> str:
    # java.util.Properties treats backslashes as escapes
    return value.replace("\\", "\\\\")


def _jaas_quote(value: str) -> str:
    """A JAAS option value inside double quotes (the properties escaping comes on top)."""
    if '"' in value or "\n" in value:
        raise FabricUsageError(f"the path {value!r} cannot be written into a JAAS option",
                               hint="use a fabric home whose path has no double quote")
    return _escape(value)


def render_server_properties(
    node: NodePorts,
    nodes: list[NodePorts],
    *,
    data_dir: Path,
    server_pem: Path,
    ca_pem: Path,
    admin_password: str,
    controller_password: str,
    reauth_ms: int = DEFAULT_REAUTH_MS,
    iam_key_store: Path | None = None,
    limits: TopicLimits | None = None,
    partition_budget: Path | None = None,
) -> str:
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    replicas = min(3, len(nodes))
    min_isr = 2 if replicas >= 3 else 1
    controller_jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{CONTROLLER_USER}" password="{controller_password}" '
        f'user_{CONTROLLER_USER}="{controller_password}";'
    )
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN_USER}" password="{admin_password}";'
    )
    limits = limits or TopicLimits()
    listeners = [f"CLIENT://127.0.0.1:{node.client_port}"]
    protocols = ["CLIENT:SASL_SSL"]
    iam: dict[str, str] = {}
    if node.iam_port is not None and iam_key_store is not None:
        listeners.append(f"{IAM_LISTENER}://127.0.0.1:{node.iam_port}")
        protocols.append(f"{IAM_LISTENER}:SASL_SSL")
        prefix = f"listener.name.{IAM_LISTENER.lower()}"
        iam_jaas = (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            'unsecuredLoginStringClaim_sub="diaspora-broker-unused" '
            f'keyStoreFile="{_jaas_quote(str(iam_key_store))}";'
        )
        iam = {
            f"{prefix}.sasl.enabled.mechanisms": "OAUTHBEARER",
            f"{prefix}.oauthbearer.sasl.jaas.config": iam_jaas,
            f"{prefix}.oauthbearer.sasl.server.callback.handler.class":
                f"{PLUGIN_PACKAGE}.MskIamServerCallbackHandler",
            # the token's own lifetime (<= 900 s) bounds a session too; a deleted key stops
            # working on open connections within this, as a rotated SCRAM password does
            f"{prefix}.oauthbearer.connections.max.reauth.ms": str(reauth_ms),
        }
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{node.controller_port}"]),
        "advertised.listeners": ",".join(listeners),
        "listener.security.protocol.map": ",".join([*protocols, "CONTROLLER:SASL_PLAINTEXT"]),
        "inter.broker.listener.name": "CLIENT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.client.scram-sha-512.sasl.jaas.config": jaas,
        # a session lives this long, then the client must prove the key again (see above)
        "listener.name.client.scram-sha-512.connections.max.reauth.ms": str(reauth_ms),
        **iam,
        # the quorum authenticates with a static PLAIN user: raft runs before any SCRAM
        # credential is loaded, and an unauthenticated controller port would make every local
        # process a super user
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": controller_jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": _escape(str(server_pem)),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": _escape(str(ca_pem)),
        "ssl.client.auth": "none",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_USER};User:{CONTROLLER_USER}",
        "log.dirs": _escape(str(data_dir)),
        "num.partitions": "1",
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(min_isr),
        "auto.create.topics.enable": "false",
        "unclean.leader.election.enable": "false",
        # the plugin's policies (run by the active controller: every node has them)
        "create.topic.policy.class.name": f"{PLUGIN_PACKAGE}.DiasporaCreateTopicPolicy",
        "alter.config.policy.class.name": f"{PLUGIN_PACKAGE}.DiasporaAlterConfigPolicy",
        **limits.properties(),
        **({"diaspora.policy.partition.budget.file": _escape(str(partition_budget))}
           if partition_budget is not None else {}),
        "offsets.topic.replication.factor": str(replicas),
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        # sized for a 2-core machine shared with the IdP, the service and a notebook kernel
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "group.coordinator.threads": "1",
        "num.recovery.threads.per.data.dir": "1",
        "num.replica.fetchers": "1",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": "16777216",
        # fence a dead node in seconds rather than the default 9 s; not so low that a GC
        # pause on a busy 2-core box fences a healthy one
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "6000",
        "replica.lag.time.max.ms": "10000",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def jvm_options(heap_mb: int) -> list[str]:
    """What kafka-server-start.sh / kafka-run-class.sh would add, with a small heap."""
    return [
        f"-Xms{heap_mb // 2}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:MaxInlineLevel=15",
        "-XX:ActiveProcessorCount=2",
        "-Djava.awt.headless=true",
    ]
