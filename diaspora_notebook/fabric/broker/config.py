"""Render each broker node's ``server.properties``.

Every node is a combined broker+controller with a static voter list (the same shape for one node
and for three): format needs no quorum flag, and the SCRAM bootstrap records are identical
on every node. Clients speak SASL_SSL + SCRAM-SHA-512 on the CLIENT listener. The CONTROLLER
listener (127.0.0.1 only) uses SASL_PLAINTEXT with a static PLAIN user: raft runs before SCRAM
credentials are loaded, so SCRAM cannot guard it, and leaving it unauthenticated would make
``User:ANONYMOUS`` a super user that any local process (another account on a shared login node)
could become.

Client sessions expire after ``connections.max.reauth.ms`` (KIP-368): a client re-authenticates
on its open connection (kafka-python 3.x and librdkafka >= 2.2 do so by themselves) or the
broker closes the connection at its next request. SCRAM re-authentication checks the password
against the current credential, so a rotated or deleted key stops working on connections opened
before within that interval, not only on new ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from diaspora_notebook.errors import DiasporaUsageError

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
        raise DiasporaUsageError(
            f"{REAUTH_VARIABLE} must be a whole number of milliseconds from {MIN_REAUTH_MS} to "
            f"{MAX_REAUTH_MS}, not {raw!r}",
            hint=f"unset it for the default ({DEFAULT_REAUTH_MS}); a rotated key keeps working "
            "on open connections for up to this long",
        )
    return value


@dataclass(frozen=True)
class NodePorts:
    node_id: int
    client_port: int
    controller_port: int


def _escape(value: str) -> str:
    # java.util.Properties treats backslashes as escapes
    return value.replace("\\", "\\\\")


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
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        "listeners": f"CLIENT://127.0.0.1:{node.client_port},"
        f"CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"CLIENT://127.0.0.1:{node.client_port}",
        "listener.security.protocol.map": "CLIENT:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "CLIENT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.client.scram-sha-512.sasl.jaas.config": jaas,
        # a session lives this long, then the client must prove the key again (see above)
        "listener.name.client.scram-sha-512.connections.max.reauth.ms": str(reauth_ms),
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
