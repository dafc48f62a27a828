"""``Client`` against the real local fabric: login, logout, stale tokens, errors, sharing."""

from __future__ import annotations

import subprocess
import sys
import time

import globus_sdk
import pytest

from diaspora_notebook.client import Client
from diaspora_notebook.environments import load_local
from diaspora_notebook.errors import (
    InvalidTopicNameError,
    NotLoggedInError,
    NotTopicOwnerError,
    TopicOwnedByAnotherError,
    UnknownUserError,
)
from diaspora_notebook.kafka.clients import KafkaAdmin, NewTopic
from diaspora_notebook.login import TOKEN_FILE, NotebookLoginFlowManager, complete_login_form
from diaspora_notebook.testing.identities import login

INTROSPECTION_CACHE_SECONDS = 5.5


def _token_rows(client: Client) -> dict:
    storage = client._session.app.token_storage.token_storage
    return storage.get_token_data_by_resource_server()


def test_login_shows_identity_in_repr(sdk_identity):
    alice = sdk_identity("alice")
    client = alice.client()
    assert "not logged in" in repr(client)
    assert client.subject_openid == alice.id
    text = repr(client)
    assert alice.id in text and "environment='local'" in text
    assert client.environment.service_url in text and client.environment.auth_url in text


def test_logout_clears_tokens_and_key_then_calls_need_a_login(sdk_identity):
    alice = sdk_identity("alice")
    client = login(alice)
    key = client.retrieve_key()
    refresh = _token_rows(client)[client.environment.resource_server].refresh_token
    cache = client._key_cache(alice.id)
    assert cache.get() is not None

    result = client.logout()
    assert result["status"] == "success"
    assert cache.get() is None and not cache.path.exists()
    assert (alice.user_dir / TOKEN_FILE).exists()
    fresh = alice.client()
    assert _token_rows(fresh) == {}
    with pytest.raises(NotLoggedInError) as info:
        client.list_topics()
    assert "log" in info.value.hint.lower()
    with pytest.raises(NotLoggedInError):
        client.retrieve_key()
    # the IdP revoked the refresh token too
    native = globus_sdk.NativeAppAuthClient(client.environment.native_client_id,
                                            environment=client.environment.register())
    with pytest.raises(globus_sdk.AuthAPIError):
        native.oauth2_refresh_token(refresh)
    # logging in again works and makes a new key
    assert client.login() == alice.id
    assert client.retrieve_key()["password"] != key["password"]


def test_switching_users_after_logout(sdk_identity):
    alice, bob = sdk_identity("alice"), sdk_identity("bob")
    bob.user_dir = alice.user_dir  # same storage, two people one after the other
    client = login(alice)
    client.logout()
    assert login(bob).subject_openid == bob.id


def test_stale_tokens_trigger_a_fresh_login_not_a_traceback(sdk_identity, capsys):
    alice = sdk_identity("alice")
    client = login(alice)
    assert client.list_topics()["status"] == "success"
    native = globus_sdk.NativeAppAuthClient(client.environment.native_client_id,
                                            environment=client.environment.register())
    for data in _token_rows(client).values():  # the IdP forgets them; the toolkit does not know
        native.oauth2_revoke_token(data.access_token)
        if data.refresh_token:
            native.oauth2_revoke_token(data.refresh_token)
    time.sleep(INTROSPECTION_CACHE_SECONDS)
    capsys.readouterr()
    assert client.list_topics()["status"] == "success"
    assert "please log in again" in capsys.readouterr().out
    assert client.subject_openid == alice.id


def test_non_interactive_without_login_says_how(fabric, tmp_path):
    env = {"DIASPORA_FABRIC_HOME": str(fabric.home.root), "DIASPORA_USER_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    code = ("from diaspora_notebook import Client, DiasporaError\n"
            "try:\n    Client().list_topics()\n"
            "except DiasporaError as exc:\n    print(exc.one_line())\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "NotLoggedInError" in proc.stdout
    assert "DIASPORA_LOGIN_USERNAME" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_two_phase_notebook_login(sdk_identity):
    alice = sdk_identity("alice")
    client = Client(load_local(alice.fabric_home), user_dir=alice.user_dir,
                    login_flow_manager=NotebookLoginFlowManager())
    url = client.begin_login()
    assert "code_challenge=" in url
    code = complete_login_form(url, alice.username, alice.password)
    assert client.finish_login(code) == alice.id
    assert client.list_topics() == {"status": "success", "topics": []}


def test_typed_errors_from_the_service(sdk_identity, topic_name):
    alice, bob = login(sdk_identity("alice")), login(sdk_identity("bob"))
    assert alice.register_topic(topic_name)["status"] == "success"
    assert alice.register_topic(topic_name)["status"] == "no-op"
    with pytest.raises(TopicOwnedByAnotherError) as info:
        bob.register_topic(topic_name)
    assert info.value.http_status == 403 and info.value.code == "topic_owned_by_another"
    assert info.value.hint
    with pytest.raises(InvalidTopicNameError) as bad:
        alice.register_topic("no spaces allowed")
    assert bad.value.http_status == 400
    with pytest.raises(NotTopicOwnerError):
        bob.list_topic_users(topic_name)
    assert alice.unregister_topic(topic_name)["status"] == "success"
    assert alice.unregister_topic(topic_name)["status"] == "no-op"


def test_sharing_by_username_and_by_id(sdk_identity, topic_name):
    alice_id, bob_id = sdk_identity("alice"), sdk_identity("bob")
    alice, bob = login(alice_id), login(bob_id)
    alice.register_topic(topic_name)
    granted = alice.grant_user_access(topic_name, bob_id.username)
    assert granted["status"] == "success" and granted["user"] == bob_id.id
    assert alice.list_topic_users(topic_name)["users"] == [bob_id.id]
    assert topic_name in bob.list_topics()["topics"]
    assert alice.revoke_user_access(topic_name, bob_id.id)["status"] == "success"
    assert alice.list_topic_users(topic_name)["users"] == []
    with pytest.raises(UnknownUserError):
        alice.grant_user_access(topic_name, "nobody-by-this-name")
    alice.unregister_topic(topic_name)


def test_cluster_info_and_connection_configs(sdk_client, fabric):
    info = sdk_client.cluster_info()
    assert info["status"] == "success"
    assert info["bootstrap_servers"] == fabric.describe()["kafka"]["bootstrap_servers"]
    assert "BEGIN CERTIFICATE" in info["ca_cert_pem"]
    key = sdk_client.retrieve_key()
    kp = sdk_client.connection_config("kafka-python")
    assert kp["security_protocol"] == "SASL_SSL" and kp["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kp["sasl_plain_username"], kp["sasl_plain_password"]) == (key["username"],
                                                                       key["password"])
    assert kp["ssl_cafile"] == str(fabric.home.ca_cert)
    ck = sdk_client.connection_config("confluent-kafka")
    assert ck["bootstrap.servers"] == ",".join(info["bootstrap_servers"])
    assert ck["sasl.mechanisms"] == "SCRAM-SHA-512" and ck["sasl.password"] == key["password"]
    ak = sdk_client.connection_config("aiokafka")
    assert ak["ssl_context"] is not None and ak["sasl_plain_password"] == key["password"]


def test_connection_config_works_with_confluent_kafka(sdk_client, topic_name):
    confluent = pytest.importorskip("confluent_kafka")  # an optional third-party client
    sdk_client.register_topic(topic_name)
    sdk_client.block_until_ready(timeout=30)
    admin = KafkaAdmin(client=sdk_client)
    admin.create_topics(new_topics=[NewTopic(name=topic_name, num_partitions=1,
                                             replication_factor=1)])
    producer = confluent.Producer(sdk_client.connection_config("confluent-kafka"))
    delivered = []
    producer.produce(topic_name, b"hello", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(30)
    assert [str(e) for e in delivered] == ["None"]
    admin.delete_topics(topics=[topic_name])
    admin.close()
    sdk_client.unregister_topic(topic_name)
