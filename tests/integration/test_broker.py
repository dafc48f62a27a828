"""The fabric's Kafka broker: TLS, SCRAM, enforced ACLs, durability. Real JVM on 127.0.0.1."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from diaspora_notebook.diagnose import diagnosed_connection
from diaspora_notebook.errors import BrokerUnavailableError, KafkaAuthenticationError, KafkaTLSError
from diaspora_notebook.fabric.fabric import Fabric

from .kafka_helpers import allow_topic_owner, consume, create_user, produce, user_config


def _admin(config: dict) -> KafkaAdminClient:
    with diagnosed_connection(config):
        return KafkaAdminClient(**config, bootstrap_timeout_ms=5000, request_timeout_ms=10000)


def test_admin_connects_over_sasl_ssl_verifying_the_fabric_ca(fabric: Fabric) -> None:
    admin = _admin(fabric.admin_config())
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert [b["host"] for b in cluster["brokers"]] == ["127.0.0.1"]
    assert "ALTER" in cluster["authorized_operations"]


def test_wrong_password_is_an_authentication_error_not_a_hang(fabric: Fabric) -> None:
    config = {**fabric.admin_config(), "sasl_plain_password": "not-the-password"}
    with pytest.raises(KafkaAuthenticationError, match="rejected the username/password"):
        _admin(config)


def test_plaintext_connection_to_the_client_port_fails(fabric: Fabric) -> None:
    with pytest.raises(KafkaTLSError, match="speaks TLS but the client was configured"):
        _admin({"bootstrap_servers": fabric.bootstrap_servers})


def test_a_stopped_broker_is_reported_as_unavailable(fabric: Fabric) -> None:
    config = {**fabric.admin_config(), "bootstrap_servers": ["127.0.0.1:1"]}
    with pytest.raises(BrokerUnavailableError, match="no Kafka broker answered"):
        _admin(config)


def test_client_that_does_not_trust_the_fabric_ca_fails(fabric: Fabric) -> None:
    # ssl_cafile=None makes kafka-python use the system trust store, which lacks our CA
    config = {**fabric.admin_config(), "ssl_cafile": None}
    with pytest.raises(KafkaTLSError, match="not trusted"):
        _admin(config)


def test_acls_are_enforced_per_user(fabric: Fabric, topic_name: str) -> None:
    admin = fabric.admin_client()
    try:
        create_user(admin, "acl-alice", "alice-password-0123456789")
        create_user(admin, "acl-bob", "bob-password-0123456789")
        admin.create_topics({topic_name: {"num_partitions": 1, "replication_factor": 1}})
        allow_topic_owner(admin, "acl-alice", topic_name)
    finally:
        admin.close()

    sent = produce(fabric, "acl-alice", "alice-password-0123456789", topic_name,
                   [b"m1", b"m2"])
    assert [m.offset for m in sent] == [0, 1]
    got = consume(fabric, "acl-alice", "alice-password-0123456789", topic_name, 2,
                  group=f"{topic_name}/readers")
    assert got == [b"m1", b"m2"]

    with pytest.raises(TopicAuthorizationFailedError):
        produce(fabric, "acl-bob", "bob-password-0123456789", topic_name, [b"intrusion"])
    bob = KafkaConsumer(topic_name, **user_config(fabric, "acl-bob", "bob-password-0123456789"),
                        group_id=f"{topic_name}/bob", auto_offset_reset="earliest")
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            bob.poll(timeout_ms=5000)
    finally:
        bob.close()
    bob_admin = KafkaAdminClient(**user_config(fabric, "acl-bob", "bob-password-0123456789"))
    try:
        described = bob_admin.describe_topics([topic_name])
        assert described[0]["error_code"] == TopicAuthorizationFailedError.errno
        assert topic_name not in bob_admin.list_topics()
    finally:
        bob_admin.close()
    # bob gets nothing even when he reads partitions directly, without a group
    assert consume(fabric, "acl-bob", "bob-password-0123456789", topic_name, 1, timeout=3) == []


CONTROLLER_PROBE = """
import org.apache.kafka.clients.admin.*;
import java.nio.file.*;
import java.util.*;
var props = new Properties();
props.put("bootstrap.controllers", System.getProperty("ctrl"));
props.put("request.timeout.ms", "4000");
props.put("default.api.timeout.ms", "6000");
var pwFile = System.getProperty("pwfile");
if (pwFile != null) {
  props.put("security.protocol", "SASL_PLAINTEXT");
  props.put("sasl.mechanism", "PLAIN");
  props.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule "
      + "required username=\\"controller\\" password=\\""
      + Files.readString(Path.of(pwFile)).strip() + "\\";");
}
try (var admin = Admin.create(props)) {
  System.out.println("RESULT nodes=" + admin.describeCluster().nodes().get().size());
} catch (Exception e) { System.out.println("RESULT refused " + e.getClass().getSimpleName()); }
/exit
"""


def _controller_probe(fabric: Fabric, tmp_path, password_file=None) -> str:
    """Java's own Admin client against the controller listener (kafka-python cannot do that)."""
    import shutil
    import subprocess

    jshell = shutil.which("jshell")
    assert jshell, "jshell (part of a JDK 17) is needed for this test: apt-get install " \
                   "openjdk-17-jdk-headless"
    script = tmp_path / "probe.jsh"
    script.write_text(CONTROLLER_PROBE)
    port = fabric.state().brokers[0].controller_port
    argv = [jshell, "--class-path", ":".join(str(j) for j in fabric.cluster().kafka.jars()),
            f"-R-Dctrl=127.0.0.1:{port}"]
    if password_file is not None:
        argv.append(f"-R-Dpwfile={password_file}")
    out = subprocess.run([*argv, str(script)], capture_output=True, text=True, timeout=120)
    return next((line for line in out.stdout.splitlines() if line.startswith("RESULT")),
                out.stdout + out.stderr)


def test_controller_port_refuses_clients_without_the_quorum_credentials(fabric: Fabric,
                                                                        tmp_path) -> None:
    # an open controller port would make every local account a super user (User:ANONYMOUS)
    assert _controller_probe(fabric, tmp_path).startswith("RESULT refused")
    # the probe itself works: with the quorum's PLAIN credentials the controller answers
    assert _controller_probe(fabric, tmp_path, fabric.home.controller_password_file) == \
        "RESULT nodes=1"
