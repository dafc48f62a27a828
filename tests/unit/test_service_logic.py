"""Pure logic of the web service: topic names, the ACL encoding, settings, keys, ownership."""

from __future__ import annotations

import json
import string
import threading

import pytest

from diaspora_notebook.fabric.errors import FabricUsageError
from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.errors import ServiceConfigError, ServiceError
from diaspora_notebook.fabric.service.memory import InMemoryKafkaAdmin
from diaspora_notebook.fabric.service.ownership import TopicAccessManager
from diaspora_notebook.fabric.service.provisioning import (
    KafkaKeyProvisioner,
    new_password,
    next_iterations,
)
from diaspora_notebook.fabric.service.settings import load_settings, read_secret_file
from diaspora_notebook.fabric.service.topic_names import validate_identity_id, validate_topic
from diaspora_notebook.naming import topic_name_problem

A = "2b1b3c4d-0000-4000-8000-00000000000a"
B = "2b1b3c4d-0000-4000-8000-00000000000b"


# -- topic names ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["t", "a.b_c-D9", "x" * 249, "...", "._-", "_x", "a__b"])
def test_legal_topic_names(name):
    assert topic_name_problem(name) is None
    assert validate_topic(name) == name


@pytest.mark.parametrize(("name", "rule"), [
    ("", "empty"),
    ("x" * 250, "at most 249"),
    (".", "'.' or '..'"),
    ("..", "'.' or '..'"),
    ("a b", "may only contain"),
    ("a/b", "may only contain"),
    ("é", "may only contain"),
    ("a\x00", "may only contain"),
    ("__consumer_offsets", "reserved"),
    ("__x", "reserved"),
])
def test_illegal_topic_names_name_the_rule(name, rule):
    assert rule in topic_name_problem(name)


def test_validate_topic_errors_are_400_with_codes():
    with pytest.raises(ServiceError) as missing:
        validate_topic(None)
    assert (missing.value.status_code, missing.value.code) == (400, "missing_topic")
    with pytest.raises(ServiceError) as bad:
        validate_topic("bad name")
    assert (bad.value.status_code, bad.value.code) == (400, "invalid_topic_name")
    assert bad.value.hint


def test_identity_ids_are_canonical_uuids():
    assert validate_identity_id(A.upper()) == A
    for value, code in [(None, "missing_user"), ("", "missing_user"), ("alice", "invalid_user"),
                        ("alice@example.org", "invalid_user")]:
        with pytest.raises(ServiceError) as err:
            validate_identity_id(value)
        assert err.value.code == code


# -- ACL encoding ---------------------------------------------------------------------------

def test_owner_entries_cover_every_topic_operation_and_prefixed_groups():
    entries = acls.owner_entries("t1", A)
    topic_ops = {e.operation for e in entries if e.resource_type == "TOPIC"}
    # not ALTER: it allows CreatePartitions, which reaches no broker policy (issue 27 item 1)
    assert topic_ops == {"CREATE", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
                         "READ", "WRITE"}
    assert acls.OWNER_MARK in topic_ops
    assert all(e.principal == f"User:{A}" for e in entries)
    assert all(e.pattern_type == "LITERAL" for e in entries if e.resource_type == "TOPIC")
    groups = [e for e in entries if e.resource_type == "GROUP"]
    assert groups == [acls.AclEntry(f"User:{A}", "GROUP", "t1/", "PREFIXED", "READ")]


def test_group_prefix_matches_the_toolkit_convention_and_no_other_topic():
    from diaspora_notebook import naming

    assert acls.GROUP_SEPARATOR == naming.GROUP_SEPARATOR
    assert acls.group_prefix("X") == naming.group_prefix("X") == "X/"
    # a prefix ending in '/' never matches a longer topic's groups ('/' is illegal in topics)
    for other in ("Xbar/readers", "Xbar", "X.readers", "X-readers", "X_readers"):
        assert not other.startswith(acls.group_prefix("X"))
    assert naming.group_name("X", "readers").startswith(acls.group_prefix("X"))


def test_old_convention_group_acls_are_recognized_and_migrated():
    old = acls.AclEntry(f"User:{A}", "GROUP", "t1", "PREFIXED", "READ")
    assert acls.legacy_group_entry(old)
    assert acls.migrated(old) == acls.AclEntry(f"User:{A}", "GROUP", "t1/", "PREFIXED", "READ")
    assert not acls.legacy_group_entry(acls.migrated(old))
    assert not acls.legacy_group_entry(acls.AclEntry(f"User:{A}", "GROUP", "t1", "LITERAL",
                                                     "READ"))
    assert not acls.legacy_group_entry(acls.AclEntry("Group:x", "GROUP", "t1", "PREFIXED",
                                                     "READ"))


def test_grantee_entries_never_include_alter():
    entries = acls.grantee_entries("t1", B)
    assert {e.operation for e in entries if e.resource_type == "TOPIC"} == {
        "READ", "WRITE", "DESCRIBE"}
    assert not any(e.operation.startswith("ALTER") for e in entries)
    assert not any(e.operation == acls.OWNER_MARK for e in entries)


def test_interpret_reads_owner_and_grantees_and_ignores_foreign_acls():
    found = acls.owner_entries("t1", A) + acls.grantee_entries("t1", B) + [
        acls.AclEntry("User:C", "TOPIC", "t1", "PREFIXED", "DELETE"),  # not literal
        acls.AclEntry("User:D", "TOPIC", "t10", "LITERAL", "DELETE"),  # other topic
        acls.AclEntry("Group:x", "TOPIC", "t1", "LITERAL", "DELETE"),  # not a user
    ]
    state = acls.interpret("t1", found)
    assert state.owners == [A] and state.owner == A
    assert state.grantees == [B]
    assert set(state.entries) == set(acls.owner_entries("t1", A) + acls.grantee_entries("t1", B))
    assert acls.interpret("t1", []).registered is False


def test_topics_of_lists_owned_and_granted_literal_topics():
    found = (acls.owner_entries("mine", A) + acls.grantee_entries("shared", A)
             + acls.owner_entries("theirs", B))
    assert acls.topics_of(A, found) == ["mine", "shared"]
    assert acls.topics_of(B, found) == ["theirs"]


# -- settings -------------------------------------------------------------------------------

def _secret(tmp_path, name, text, mode=0o600):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def _config(tmp_path, **extra):
    data = {"bootstrap_servers": ["127.0.0.1:9096"], "admin_username": "admin",
            "admin_password_file": str(_secret(tmp_path, "admin.password", "pw\n")),
            "auth_url": "http://127.0.0.1:8765/", "client_id": "svc",
            "client_secret_file": str(_secret(tmp_path, "client.json",
                                              json.dumps({"client_secret": "cs"}))),
            "resource_server": "svc", "required_scope": "https://x/scopes/svc/all"}
    data.update(extra)
    path = tmp_path / "service.json"
    path.write_text(json.dumps(data))
    return path


def test_settings_load_from_file_with_defaults(tmp_path):
    s = load_settings(_config(tmp_path), environ={})
    assert s.security_protocol == "SASL_SSL" and s.sasl_mechanism == "SCRAM-SHA-512"
    assert s.ca_file is None and s.ca_pem() is None
    assert s.introspect_cache_seconds == 5 and s.key_provisioner == "kafka"
    assert s.admin_password() == "pw" and s.client_secret() == "cs"


def test_settings_env_overrides(tmp_path):
    env = {"DIASPORA_SERVICE_BOOTSTRAP_SERVERS": "h1:1,h2:2",
           "DIASPORA_SERVICE_INTROSPECT_CACHE_SECONDS": "1.5",
           "DIASPORA_SERVICE_CA_FILE": str(_secret(tmp_path, "ca.pem", "PEM", 0o644))}
    s = load_settings(_config(tmp_path), environ=env)
    assert s.bootstrap_servers == ["h1:1", "h2:2"]
    assert s.introspect_cache_seconds == 1.5
    assert s.ca_pem() == "PEM"
    s = load_settings(_config(tmp_path), environ={
        "DIASPORA_SERVICE_BOOTSTRAP_SERVERS": '["h3:3"]'})
    assert s.bootstrap_servers == ["h3:3"]


@pytest.mark.parametrize(("extra", "needle"), [
    ({"auth_url": "http://127.0.0.1:8765"}, "end with '/'"),
    ({"bootstrap_servers": ["nohost"]}, "host:port"),
    ({"introspect_cache_seconds": 60}, "introspect_cache_seconds"),
    ({"admin_password": "inline"}, "admin_password"),
    ({"security_protocol": "PLAINTEXT"}, "security_protocol"),
])
def test_bad_settings_are_usage_errors_naming_the_field(tmp_path, extra, needle):
    with pytest.raises(ServiceConfigError) as err:
        load_settings(_config(tmp_path, **extra), environ={})
    assert needle in str(err.value)
    assert isinstance(err.value, FabricUsageError)


def test_secret_files_must_be_private(tmp_path):
    with pytest.raises(ServiceConfigError, match="readable by other"):
        read_secret_file(_secret(tmp_path, "s", "x", 0o644), "admin_password_file")
    with pytest.raises(ServiceConfigError, match="cannot read"):
        read_secret_file(tmp_path / "missing", "admin_password_file")
    with pytest.raises(ServiceConfigError, match="empty"):
        read_secret_file(_secret(tmp_path, "e", "\n"), "admin_password_file")


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ServiceConfigError, match="not valid JSON"):
        load_settings(bad, environ={})
    with pytest.raises(ServiceConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.json", environ={})


# -- keys -----------------------------------------------------------------------------------

def test_passwords_are_long_random_alphanumeric():
    pw = new_password()
    assert len(pw) >= 32 and set(pw) <= set(string.ascii_letters + string.digits)
    assert new_password() != pw


def test_iterations_always_change_and_stay_in_kafkas_range():
    for current in (None, 4096, 5000, 8191):
        for _ in range(50):
            value = next_iterations(current)
            assert value != current and 4096 <= value <= 16384


def test_rotate_invalidates_the_previous_key():
    admin = InMemoryKafkaAdmin()
    keys = KafkaKeyProvisioner(admin)
    first = keys.rotate(A)
    assert admin.authenticates(A, first)
    second = keys.rotate(A)
    assert admin.authenticates(A, second) and not admin.authenticates(A, first)
    assert "wait_scram" in admin.calls


# -- ownership ------------------------------------------------------------------------------

def test_register_grant_revoke_unregister_cycle():
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin)
    assert topics.register("t1", A) == "success"
    assert topics.register("t1", A) == "no-op"
    with pytest.raises(ServiceError) as err:
        topics.register("t1", B)
    assert (err.value.status_code, err.value.code) == (403, "topic_owned_by_another")
    with pytest.raises(ServiceError) as err:
        topics.grant("t1", B, B)
    assert err.value.code == "not_topic_owner"
    assert topics.grant("t1", A, B) == "success"
    assert topics.grant("t1", A, B) == "no-op"
    assert topics.grant("t1", A, A) == "no-op"
    assert topics.users("t1", A).users == [B]
    assert topics.topics(B) == ["t1"]
    with pytest.raises(ServiceError) as err:
        topics.unregister("t1", B)
    assert err.value.code == "topic_owned_by_another"
    with pytest.raises(ServiceError) as err:
        topics.revoke("t1", A, A)
    assert err.value.code == "cannot_revoke_owner"
    assert topics.revoke("t1", A, B) == "success"
    assert topics.revoke("t1", A, B) == "no-op"
    assert topics.topics(B) == []
    topics.grant("t1", A, B)
    admin.topics["t1"] = [b"event"]
    result = topics.unregister("t1", A)
    assert (result.outcome, result.deleted_topic) == ("success", True)
    assert admin.acls == set()  # grantees' ACLs go with the owner's
    assert "t1" not in admin.topics  # and the data with the registration
    assert topics.unregister("t1", A).outcome == "no-op"
    with pytest.raises(ServiceError) as err:
        topics.grant("t1", A, B)
    assert (err.value.status_code, err.value.code) == (404, "topic_not_registered")


def test_unregister_deletes_the_topics_groups_only_and_registering_sweeps_them_again():
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin)
    topics.register("t", A)
    admin.groups.update({"t/a": 0, "t/busy": 1, "tX/b": 0, "t-legacy": 0, "t.x/c": 0})
    assert topics.unregister("t", A).outcome == "success"
    # only "t/..." (a topic name cannot hold "/"): other topics' groups stay
    assert admin.groups == {"t/busy": 1, "tX/b": 0, "t-legacy": 0, "t.x/c": 0}
    with pytest.raises(ServiceError) as err:  # its members still there: not the next owner's
        topics.register("t", B)
    assert (err.value.status_code, err.value.code) == (409, "previous_groups_active")
    assert "busy" not in err.value.message and topics.access("t").owners == []
    admin.groups["t/busy"] = 0  # the members timed out
    assert topics.register("t", B) == "success" and "t/busy" not in admin.groups


def test_unregister_succeeds_when_the_groups_cannot_be_deleted(monkeypatch):
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin)
    topics.register("t", A)

    def down(prefix):
        raise ServiceError(503, "kafka_unavailable", "no group coordinator")

    monkeypatch.setattr(admin, "delete_groups", down)
    assert topics.unregister("t", A).outcome == "success"  # the topic is gone either way
    assert topics.access("t").owners == []


def test_concurrent_registrations_have_one_winner():
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin)
    users = [f"2b1b3c4d-0000-4000-8000-0000000000{i:02d}" for i in range(16)]
    results: dict[str, str] = {}
    barrier = threading.Barrier(len(users))

    def attempt(user):
        barrier.wait()
        try:
            results[user] = topics.register("race", user)
        except ServiceError as exc:
            results[user] = exc.code

    threads = [threading.Thread(target=attempt, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()).count("success") == 1
    assert len(topics.access("race").owners) == 1


def test_a_second_owner_appearing_meanwhile_is_a_conflict():
    """Another service replica registering at the same moment: ours is rolled back."""
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin)
    real_create = admin.create_acls

    def racing_create(entries):
        real_create(acls.owner_entries("t", B))
        real_create(entries)

    admin.create_acls = racing_create
    with pytest.raises(ServiceError) as err:
        topics.register("t", A)
    assert (err.value.status_code, err.value.code) == (409, "registration_conflict")
    assert acls.interpret("t", admin.acls).owners == [B]


def test_main_reports_a_bad_config_in_one_line(capsys, tmp_path):
    from diaspora_notebook.fabric.service.__main__ import main

    assert main(["--config", str(tmp_path / "absent.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ServiceConfigError: cannot read config") and "Traceback" not in err


# -- the Kafka gateway's failure handling (fake admin client, no network) -------------------

class _SlowClient:
    closed = 0

    def __init__(self, **config):
        self.config = config

    def describe_acls(self, acl_filter):
        import time

        time.sleep(2)
        return [], None

    def close(self):
        _SlowClient.closed += 1


def test_gateway_bounds_waits_and_recreates_the_client(tmp_path):
    import time

    from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminGateway
    from diaspora_notebook.fabric.service.settings import ServiceSettings

    pw = tmp_path / "admin.password"
    pw.write_text("pw")
    pw.chmod(0o600)
    s = ServiceSettings(bootstrap_servers=["127.0.0.1:1"], admin_username="admin",
                        admin_password_file=pw, auth_url="http://127.0.0.1:1/",
                        client_id="c", client_secret_file=pw, resource_server="c",
                        required_scope="s", kafka_timeout_seconds=0.2)
    made = []

    def factory(**config):
        made.append(config)
        return _SlowClient(**config)

    gw = KafkaAdminGateway(s, client_factory=factory)
    start = time.monotonic()
    with pytest.raises(ServiceError) as err:
        gw.topic_acls("t")
    assert time.monotonic() - start < 1.5
    assert (err.value.status_code, err.value.code) == (503, "kafka_unavailable")
    with pytest.raises(ServiceError):
        gw.topic_acls("t")
    assert len(made) == 2  # a fresh client after the failure
    cfg = made[0]
    assert cfg["security_protocol"] == "SASL_SSL" and cfg["ssl_check_hostname"] is True
    assert cfg["sasl_plain_password"] == "pw" and cfg["request_timeout_ms"] == 200
    gw.close()


def test_gateway_maps_an_unreadable_admin_secret_to_a_config_error(tmp_path):
    from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminGateway
    from diaspora_notebook.fabric.service.settings import ServiceSettings

    s = ServiceSettings(bootstrap_servers=["127.0.0.1:1"], admin_username="admin",
                        admin_password_file=tmp_path / "missing", auth_url="http://x/",
                        client_id="c", client_secret_file=tmp_path / "missing",
                        resource_server="c", required_scope="s")
    gw = KafkaAdminGateway(s, client_factory=_SlowClient)
    with pytest.raises(ServiceConfigError, match="admin_password_file"):
        gw.principal_acls("User:x")
    gw.close()


# -- data remanence, deprovisioning, migration (in-memory Kafka) -----------------------------

def test_a_topic_on_the_brokers_without_owner_cannot_be_registered_until_purged():
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin)
    admin.topics["orphan"] = [b"old event"]
    with pytest.raises(ServiceError) as err:
        topics.register("orphan", A)
    assert (err.value.status_code, err.value.code) == (409, "topic_exists_unowned")
    assert "diaspora-fabric topic purge orphan" in err.value.hint
    assert topics.orphans() == ["orphan"]
    assert topics.purge("orphan") == (True, [])
    assert topics.register("orphan", A) == "success"
    with pytest.raises(ServiceError) as err:
        topics.purge("orphan")
    assert err.value.code == "topic_has_owner"


def test_grants_left_without_owner_do_not_carry_over_to_a_new_owner():
    admin = InMemoryKafkaAdmin()
    admin.acls |= set(acls.grantee_entries("t", B))
    topics = TopicAccessManager(admin)
    assert topics.register("t", A) == "success"
    assert topics.access("t").grantees == []


def test_deprovision_removes_key_topics_grants_and_stray_acls():
    from diaspora_notebook.fabric.service.deprovision import deprovision

    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin)
    KafkaKeyProvisioner(admin).rotate(A)
    topics.register("mine", A)
    topics.register("empty", A)
    admin.topics["mine"] = [b"x"]
    topics.grant("mine", A, B)
    topics.register("theirs", B)
    topics.grant("theirs", B, A)
    stray = acls.AclEntry(f"User:{A}", "GROUP", "legacy", "PREFIXED", "READ")
    admin.acls.add(stray)
    report = deprovision(admin, A)
    assert report.key_deleted and A not in admin.scram
    assert (report.topics_deleted, report.topics_unregistered) == (["mine"], ["empty"])
    assert report.grants_removed == ["theirs"] and report.other_acls_removed == 1
    assert not any(e.principal == f"User:{A}" for e in admin.acls)
    assert "mine" not in admin.topics and topics.access("mine").entries == []  # B's grant too
    assert topics.users("theirs", B).users == []
    again = deprovision(admin, A)
    assert not again.key_deleted and again.lines()[1].endswith("none")


def test_group_migration_moves_only_the_services_old_acls():
    from diaspora_notebook.fabric.service.migrations import migrate_group_acls

    admin = InMemoryKafkaAdmin()
    old = acls.AclEntry(f"User:{A}", "GROUP", "t", "PREFIXED", "READ")
    foreign = acls.AclEntry(f"User:{B}", "GROUP", "analytics", "PREFIXED", "READ")
    admin.acls |= {e for e in acls.owner_entries("t", A) if e.resource_type == "TOPIC"}
    admin.acls |= {old, foreign}
    report = migrate_group_acls(admin)
    assert report.topics == ["t"] and report.left_alone == [foreign]
    assert old not in admin.acls and acls.migrated(old) in admin.acls and foreign in admin.acls
    assert topics_state_is_owner(admin, "t", A)
    assert migrate_group_acls(admin).migrated == []


def topics_state_is_owner(admin: InMemoryKafkaAdmin, topic: str, user: str) -> bool:
    state = TopicAccessManager(admin).access(topic)
    return state.owners == [user] and set(state.entries) == set(acls.owner_entries(topic, user))


def old_owner_entries(topic: str, user: str) -> set[acls.AclEntry]:
    """What an owner held before partition growth moved to the service: ALTER too."""
    return set(acls.owner_entries(topic, user)) | {
        acls.AclEntry(f"User:{user}", "TOPIC", topic, "LITERAL", "ALTER")}


def test_owners_of_old_still_own_and_unregister_cleans_their_alter_up():
    admin = InMemoryKafkaAdmin()
    admin.acls |= old_owner_entries("t", A) | set(acls.grantee_entries("t", B))
    topics = TopicAccessManager(admin, propagation_seconds=0)
    state = topics.access("t")
    assert state.owners == [A] and state.grantees == [B]
    assert acls.legacy_owner_entries(state) == [
        acls.AclEntry(f"User:{A}", "TOPIC", "t", "LITERAL", "ALTER")]
    assert topics.unregister("t", A).outcome == "success"
    assert admin.acls == set()


def test_migration_takes_alter_from_owners_only_and_is_idempotent():
    from diaspora_notebook.fabric.service.migrations import migrate_group_acls

    admin = InMemoryKafkaAdmin()
    foreign = acls.AclEntry(f"User:{B}", "TOPIC", "other", "LITERAL", "ALTER")
    admin.acls |= (old_owner_entries("t", A) | old_owner_entries("u", B)
                   | set(acls.grantee_entries("t", B)) | {foreign})
    report = migrate_group_acls(admin)
    assert report.owner_alter_topics == ["t", "u"]
    assert all(e.operation == "ALTER" for e in report.owner_alter)
    assert topics_state_is_owner(admin, "u", B)
    assert admin.acls == (set(acls.owner_entries("t", A)) | set(acls.owner_entries("u", B))
                          | set(acls.grantee_entries("t", B)) | {foreign})
    assert migrate_group_acls(admin).owner_alter == []


def test_add_partitions_is_the_owners_within_the_cap():
    admin = InMemoryKafkaAdmin()
    topics = TopicAccessManager(admin, propagation_seconds=0, max_partitions=8)
    topics.register("t", A)
    topics.grant("t", A, B)
    with pytest.raises(ServiceError) as err:
        topics.add_partitions("t", A, 2)
    assert (err.value.status_code, err.value.code) == (404, "topic_not_found")
    admin.topics["t"] = []
    assert topics.add_partitions("t", A, 3) == ("success", 3)
    assert admin.partitions["t"] == 3
    assert topics.add_partitions("t", A, 3) == ("no-op", 3)
    with pytest.raises(ServiceError) as err:
        topics.add_partitions("t", A, 9)
    assert (err.value.status_code, err.value.code) == (403, "partition_limit_reached")
    assert "max_partitions_per_topic = 8" in err.value.message
    assert "topic-limits.json" in (err.value.hint or "")
    for who, total, code in [(B, 4, "not_topic_owner"), (A, 2, "invalid_partitions"),
                             (A, 0, "invalid_partitions")]:
        with pytest.raises(ServiceError) as err:
            topics.add_partitions("t", who, total)
        assert err.value.code == code
    assert admin.partitions["t"] == 3
