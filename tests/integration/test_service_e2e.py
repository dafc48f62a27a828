"""The Diaspora web service end to end, against the REAL processes of a local fabric.

Users log in at the fabric's identity provider through the unmodified globus-sdk (PKCE plus
the HTML login form), call the service over HTTP on 127.0.0.1 with the tokens they got, and
prove every effect with kafka-python clients talking SASL_SSL / SCRAM-SHA-512 to the broker.
No fakes, no dependency overrides.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import globus_sdk
import pytest
import requests
from kafka import KafkaAdminClient
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from diaspora_notebook.diagnose import diagnosed_connection
from diaspora_notebook.errors import KafkaAuthenticationError
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.idp import admin
from diaspora_notebook.fabric.idp.hashing import digest
from diaspora_notebook.fabric.testing.accounts import new_confidential_client
from diaspora_notebook.fabric.testing.secrets import (
    ISSUED_SECRETS,
    log_files,
    remember_secret,
    secrets_in_logs,
)
from diaspora_notebook.testing.identities import create_identity
from diaspora_notebook.testing.tokens import (
    client_credentials_token,
    native_client,
    service_headers,
    service_token,
    service_url,
    user_tokens,
)
from tests.integration.kafka_helpers import consume, produce, user_config

DENIED = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)
SEEN_STATUSES: list[tuple[str, str, int]] = []


# --------------------------------------------------------------------------------------------
# helpers
class Service:
    """A tiny HTTP client for the live service that records every status it sees."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def call(self, method: str, path: str, token: str | None = None, *,
             headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        sent = dict(headers or {})
        if token is not None:
            sent.update(service_headers(token))
        response = self.session.request(method, self.base_url + path.lstrip("/"),
                                        headers=sent, timeout=60, **kwargs)
        SEEN_STATUSES.append((method, path, response.status_code))
        assert response.status_code < 500, (method, path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        return response

    def ok(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        response = self.call(method, path, token, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    def error(self, status: int, code: str, method: str, path: str, token: str | None,
              **kwargs: Any) -> dict[str, Any]:
        response = self.call(method, path, token, **kwargs)
        body: dict[str, Any] = response.json()
        assert (response.status_code, body.get("code")) == (status, code), (path, body)
        assert body["status"] == "error" and body["message"] and body["hint"], body
        return body

    def register(self, token: str, topic: str) -> dict[str, Any]:
        return self.ok("post", "v1/register_topic", token, json={"topic": topic})

    def topics(self, token: str) -> list[str]:
        return list(self.ok("get", "v1/list_topics", token)["topics"])

    def create_key(self, token: str) -> dict[str, Any]:
        body = self.ok("post", "v1/create_key", token)
        remember_secret(body["password"])
        return body


class User:
    def __init__(self, fabric: Fabric) -> None:
        person = create_identity(fabric)
        self.username, self.password, self.id = person.username, person.password, person.id
        self.token = service_token(fabric, self.username, self.password)


@pytest.fixture(scope="module")
def svc(fabric: Fabric) -> Iterator[Service]:
    service = Service(service_url(fabric))
    yield service
    service.session.close()


@pytest.fixture(scope="module")
def alice(fabric: Fabric) -> User:
    return User(fabric)


@pytest.fixture(scope="module")
def bob(fabric: Fabric) -> User:
    return User(fabric)


def authenticates(fabric: Fabric, user: str, password: str) -> bool:
    """Whether Kafka accepts ``user``/``password`` (a refused password is diagnosed as such)."""
    config = user_config(fabric, user, password)
    try:
        with diagnosed_connection(config):
            client = KafkaAdminClient(**config, bootstrap_timeout_ms=8000)
    except KafkaAuthenticationError:
        return False
    client.close()
    return True


def expire_at_idp(fabric: Fabric, token: str) -> None:
    """Make the IdP see ``token`` as expired: its expiry moves into the past in the IdP's DB."""
    store = admin.open_store(fabric.home.idp_dir)
    with store.connect() as conn:
        changed = conn.execute("UPDATE tokens SET expires_at = ? WHERE token_digest = ?",
                               (time.time() - 1, digest(token))).rowcount
    assert changed == 1


def wait_status(svc: Service, token: str, status: int, within: float) -> float:
    """Poll list_topics until it answers ``status``; return how long that took."""
    start = time.monotonic()
    while True:
        response = svc.call("get", "v1/list_topics", token)
        elapsed = time.monotonic() - start
        if response.status_code == status:
            return elapsed
        assert elapsed < within, f"still {response.status_code} after {elapsed:.1f}s"
        time.sleep(0.25)


# --------------------------------------------------------------------------------------------
# ownership and sharing between two real users
def test_two_users_register_share_and_revoke(fabric: Fabric, svc: Service, alice: User,
                                             bob: User, topic_name: str) -> None:
    t = topic_name
    first = svc.register(alice.token, t)
    assert (first["status"], first["topic"]) == ("success", t)
    assert svc.register(alice.token, t)["status"] == "no-op"
    body = svc.error(403, "topic_owned_by_another", "post", "v1/register_topic", bob.token,
                     json={"topic": t})
    assert t in body["message"]
    svc.error(403, "topic_owned_by_another", "post", "v1/unregister_topic", bob.token,
              headers={"Topic": t})
    svc.error(403, "not_topic_owner", "post", "v1/grant_user_access", bob.token,
              json={"topic": t, "user": bob.id})
    assert t in svc.topics(alice.token)
    assert t not in svc.topics(bob.token)

    # A creates the topic with A's own key, through Kafka, and produces
    a_key = svc.create_key(alice.token)
    assert a_key["username"] == alice.id
    b_key = svc.create_key(bob.token)
    assert b_key["username"] == bob.id
    owner = KafkaAdminClient(**user_config(fabric, alice.id, a_key["password"]),
                             bootstrap_timeout_ms=15000)
    try:
        owner.create_topics([_new_topic(t)])
    finally:
        owner.close()
    produce(fabric, alice.id, a_key["password"], t, [b"one", b"two"])

    # B is denied before the grant
    with pytest.raises(DENIED):
        consume(fabric, bob.id, b_key["password"], t, 1, group=f"{t}/b0", timeout=5)

    granted = svc.ok("post", "v1/grant_user_access", alice.token,
                     headers={"Topic": t, "User": bob.id.upper()})
    assert (granted["status"], granted["user"]) == ("success", bob.id)
    assert svc.ok("post", "v1/grant_user_access", alice.token,
                  json={"topic": t, "user": bob.id})["status"] == "no-op"
    users = svc.ok("get", "v1/list_topic_users", alice.token, params={"topic": t})
    assert (users["owner"], users["users"]) == (alice.id, [bob.id])
    assert t in svc.topics(bob.token)
    assert consume(fabric, bob.id, b_key["password"], t, 2,
                   group=f"{t}/{bob.id}/b1") == [b"one", b"two"]  # a grantee's own groups

    # revoke: B is denied again and no longer sees the topic
    revoked = svc.ok("post", "v1/revoke_user_access", alice.token,
                     json={"topic": t, "user": bob.id})
    assert revoked["status"] == "success"
    assert svc.ok("post", "v1/revoke_user_access", alice.token,
                  json={"topic": t, "user": bob.id})["status"] == "no-op"
    assert t not in svc.topics(bob.token)
    with pytest.raises(DENIED):
        consume(fabric, bob.id, b_key["password"], t, 1, group=f"{t}/b2", timeout=5)
    with pytest.raises(TopicAuthorizationFailedError):
        produce(fabric, bob.id, b_key["password"], t, [b"intrusion"])

    # the owner's access is untouched; the owner cannot be revoked
    svc.error(400, "cannot_revoke_owner", "post", "v1/revoke_user_access", alice.token,
              json={"topic": t, "user": alice.id})
    produce(fabric, alice.id, a_key["password"], t, [b"three"])

    # unregister by the owner deletes the topic with its events and the ACLs; twice is a no-op
    gone = svc.ok("post", "v1/unregister_topic", alice.token, json={"topic": t})
    assert gone["status"] == "success" and "events were deleted" in gone["message"]
    assert svc.ok("post", "v1/unregister_topic", alice.token,
                  json={"topic": t})["status"] == "no-op"
    assert t not in svc.topics(alice.token)
    svc.error(404, "topic_not_registered", "get", "v1/list_topic_users", alice.token,
              headers={"Topic": t})


def _new_topic(name: str) -> Any:
    from kafka.admin import NewTopic

    return NewTopic(name, num_partitions=1, replication_factor=1)


def test_create_key_twice_invalidates_the_first(fabric: Fabric, svc: Service,
                                                alice: User) -> None:
    first = svc.create_key(alice.token)
    assert authenticates(fabric, alice.id, first["password"])
    second = svc.create_key(alice.token)
    assert second["password"] != first["password"] and second["username"] == alice.id
    assert second["endpoint"] == ",".join(fabric.bootstrap_servers)
    assert not authenticates(fabric, alice.id, first["password"])
    assert authenticates(fabric, alice.id, second["password"])


def test_cluster_describes_the_real_broker(fabric: Fabric, svc: Service, alice: User) -> None:
    body = svc.ok("get", "v1/cluster", alice.token)
    assert body["bootstrap_servers"] == fabric.bootstrap_servers
    assert (body["security_protocol"], body["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert body["ca_cert_pem"] == fabric.home.ca_cert.read_text()


# --------------------------------------------------------------------------------------------
# bad tokens and headers
@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "malformed_authorization"),
    ({"Authorization": "Bearer"}, "malformed_authorization"),
    ({"Authorization": "Bearer AT.garbage-that-the-idp-never-issued"}, "invalid_token"),
    ({"Authorization": "Bearer " + "x" * 9000}, "malformed_authorization"),
    ({"Authorization": "Bearer \x7f\x01"}, "malformed_authorization"),
])
def test_missing_malformed_and_unknown_tokens_are_401(svc: Service, headers: dict[str, str],
                                                      code: str) -> None:
    for method, path in (("get", "v1/list_topics"), ("post", "v1/create_key"),
                         ("post", "v1/register_topic")):
        body = svc.error(401, code, method, path, None, headers=headers, json={"topic": "t"})
        assert "token" in body["message"] or "Authorization" in body["message"]
    response = svc.call("get", "v1/list_topics", None, headers=headers)
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_token_is_refused_within_six_seconds(fabric: Fabric, svc: Service) -> None:
    person = create_identity(fabric)
    username, password = person.username, person.password
    token = service_token(fabric, username, password)
    assert svc.ok("get", "v1/list_topics", token)["status"] == "success"  # now cached
    native_client(fabric).oauth2_revoke_token(token)
    elapsed = wait_status(svc, token, 401, within=6.0)
    body = svc.error(401, "invalid_token", "get", "v1/list_topics", token)
    assert "revoked" in body["message"]
    print(f"\nrevoked token refused after {elapsed:.2f}s")


def test_revoking_the_refresh_token_kills_its_access_token(fabric: Fabric,
                                                           svc: Service) -> None:
    person = create_identity(fabric)
    username, password = person.username, person.password
    tokens = user_tokens(fabric, username, password, refresh_tokens=True)
    rs = fabric.describe()["service"]["resource_server"]
    access, refresh = tokens[rs]["access_token"], tokens[rs]["refresh_token"]
    assert svc.ok("get", "v1/list_topics", access)["status"] == "success"
    native_client(fabric).oauth2_revoke_token(refresh)
    wait_status(svc, access, 401, within=6.0)


def test_expired_token_is_refused(fabric: Fabric, svc: Service) -> None:
    person = create_identity(fabric)
    username, password = person.username, person.password
    token = service_token(fabric, username, password)
    assert svc.ok("get", "v1/list_topics", token)["status"] == "success"
    expire_at_idp(fabric, token)
    wait_status(svc, token, 401, within=6.0)
    body = svc.error(401, "invalid_token", "post", "v1/create_key", token)
    assert "expired" in body["message"]


def test_token_without_the_service_scope_is_401_naming_the_scope(fabric: Fabric,
                                                                   svc: Service) -> None:
    """A token for another resource server only (``openid email``): the IdP, like Globus
    Auth, introspects it as inactive for the service, which is not in its audience (issue 27
    item 7), so the service cannot tell it from a revoked token: 401, and the hint names the
    scope to log in with. (A token of the service's audience without the scope is still 403
    ``missing_scope``: tests/unit/test_service_http.py.)"""
    person = create_identity(fabric)
    username, password = person.username, person.password
    tokens = user_tokens(fabric, username, password, ["openid", "email"])
    assert set(tokens) == {"auth.globus.org"}
    token = tokens["auth.globus.org"]["access_token"]
    for method, path in (("get", "v1/list_topics"), ("post", "v1/create_key")):
        body = svc.error(401, "invalid_token", method, path, token)
        assert fabric.describe()["service"]["scope"] in body["hint"]


def test_subject_header_must_match_the_token(svc: Service, alice: User) -> None:
    body = svc.error(403, "subject_mismatch", "get", "v1/list_topics", alice.token,
                     headers={"Subject": str(uuid.uuid4())})
    assert "Subject" in body["message"]
    svc.error(403, "subject_mismatch", "post", "v1/create_key", alice.token,
              headers={"Subject": "not-an-id"})
    # the caller's own id (in any case) is accepted
    assert svc.ok("get", "v1/list_topics", alice.token,
                  headers={"Subject": alice.id.upper()})["status"] == "success"


BAD_NAMES = [
    ("", "missing_topic", "no topic"),
    (".", "invalid_topic_name", "'.' or '..'"),
    ("..", "invalid_topic_name", "'.' or '..'"),
    ("__x", "invalid_topic_name", "reserved"),
    ("a b", "invalid_topic_name", "may only contain"),
    ("a" * 250, "invalid_topic_name", "at most 249"),
    ("ü", "invalid_topic_name", "may only contain"),
    ("a/b", "invalid_topic_name", "may only contain"),
]


@pytest.mark.parametrize(("name", "code", "rule"), BAD_NAMES,
                         ids=["empty", "dot", "dotdot", "underscores", "space", "250chars",
                              "umlaut", "slash"])
def test_bad_topic_names_are_400_naming_the_rule(svc: Service, alice: User, name: str,
                                                 code: str, rule: str) -> None:
    for path in ("v1/register_topic", "v1/unregister_topic", "v1/grant_user_access"):
        body = svc.error(400, code, "post", path, alice.token,
                         json={"topic": name, "user": str(uuid.uuid4())})
        assert rule in body["message"], body
    if name.isascii() and name.strip() == name and name:
        body = svc.error(400, code, "post", "v1/register_topic", alice.token,
                         headers={"Topic": name})
        assert rule in body["message"], body


def test_bad_user_ids_are_400(svc: Service, alice: User, topic_name: str) -> None:
    svc.register(alice.token, topic_name)
    svc.error(400, "invalid_user", "post", "v1/grant_user_access", alice.token,
              json={"topic": topic_name, "user": "bob@example.org"})
    svc.error(400, "missing_user", "post", "v1/grant_user_access", alice.token,
              json={"topic": topic_name})
    svc.error(400, "conflicting_topic", "post", "v1/register_topic", alice.token,
              headers={"Topic": topic_name}, json={"topic": topic_name + "x"})
    svc.error(400, "invalid_request", "post", "v1/register_topic", alice.token,
              data=b"{not json", headers={"Content-Type": "application/json"})


# --------------------------------------------------------------------------------------------
# a service identity (confidential client, client_credentials)
def test_service_identity_registers_and_creates_a_key(fabric: Fabric, svc: Service,
                                                      topic_name: str) -> None:
    client_id, secret = new_confidential_client(fabric)
    token = client_credentials_token(fabric, client_id, secret)
    assert svc.register(token, topic_name)["status"] == "success"
    assert svc.topics(token) == [topic_name]
    key = svc.create_key(token)
    assert key["username"] == client_id
    assert authenticates(fabric, client_id, key["password"])
    owner = KafkaAdminClient(**user_config(fabric, client_id, key["password"]),
                             bootstrap_timeout_ms=15000)
    try:
        owner.create_topics([_new_topic(topic_name)])
    finally:
        owner.close()
    produce(fabric, client_id, key["password"], topic_name, [b"from-a-service"])
    assert consume(fabric, client_id, key["password"], topic_name, 1,
                   group=f"{topic_name}/svc") == [b"from-a-service"]

    # the client's secret is the only thing that gets it tokens
    # one character changed (a secret may end in "0" already: then "0" would be no change)
    wrong_secret = secret[:-1] + ("1" if secret.endswith("0") else "0")
    wrong = globus_sdk.ConfidentialAppAuthClient(client_id, wrong_secret,
                                                 environment=native_client(fabric).environment)
    with pytest.raises(globus_sdk.AuthAPIError) as err:
        wrong.oauth2_client_credentials_tokens([fabric.describe()["service"]["scope"]])
    assert err.value.http_status == 401


# --------------------------------------------------------------------------------------------
# last: nothing secret in any log, and no 5xx anywhere
def test_zz_no_issued_secret_in_any_log_and_no_5xx(fabric: Fabric, svc: Service) -> None:
    assert len(ISSUED_SECRETS) > 10  # the tests above really issued tokens, passwords, keys
    secret_file = fabric.home.admin_password_file.read_text().strip()
    logs = {p.name for p in log_files(fabric)}
    assert {"idp.log", "service.log"} <= logs, logs
    leaks = secrets_in_logs(fabric, [*ISSUED_SECRETS, secret_file])
    assert leaks == {}, leaks
    assert [s for s in SEEN_STATUSES if s[2] >= 500] == []
    metrics = requests.get(service_url(fabric) + "metrics", timeout=10).json()["requests"]
    server_errors = {route: codes for route, codes in metrics.items()
                     if any(int(code) >= 500 for code in codes)}
    assert server_errors == {}, server_errors
