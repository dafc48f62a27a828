"""The service's HTTP layer through TestClient: introspection replaced, Kafka faked in memory."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from diaspora_notebook.fabric.service.app import create_app
from diaspora_notebook.fabric.service.auth import get_introspector
from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.memory import InMemoryKafkaAdmin
from diaspora_notebook.fabric.service.settings import ServiceSettings

SCOPE = "https://auth.example/scopes/svc-client/all"
A = "2b1b3c4d-0000-4000-8000-00000000000a"
B = "2b1b3c4d-0000-4000-8000-00000000000b"


def _claims(sub, scope=SCOPE, aud=("svc-client",)):
    return {"active": True, "sub": sub, "username": f"{sub[-1]}@example.org", "scope": scope,
            "aud": list(aud), "exp": 2_000_000_000, "client_id": "sdk"}


TOKENS = {
    "tok-a": _claims(A),
    "tok-b": _claims(B),
    "tok-noscope": _claims(A, scope="openid profile"),
    "tok-wrongaud": _claims(A, aud=("someone-else",)),
    "tok-badsub": _claims("User:x,y"),
}


class FakeIntrospector:
    def __init__(self):
        self.seen: list[str] = []
        self.down = False

    def introspect(self, token):
        self.seen.append(token)
        if self.down:
            raise ServiceError(503, "identity_provider_unreachable", "the IdP is down (fake)")
        return TOKENS.get(token, {"active": False})


@pytest.fixture
def settings(tmp_path):
    return ServiceSettings(
        bootstrap_servers=["127.0.0.1:9096", "127.0.0.1:9097"], admin_username="admin",
        admin_password_file=tmp_path / "admin.password", auth_url="http://127.0.0.1:1/",
        client_id="svc-client", client_secret_file=tmp_path / "client.secret",
        resource_server="svc-client", required_scope=SCOPE)


@pytest.fixture
def admin():
    return InMemoryKafkaAdmin()


@pytest.fixture
def introspector():
    return FakeIntrospector()


@pytest.fixture
def client(settings, admin, introspector):
    app = create_app(settings, admin=admin, introspector=FakeIntrospector())
    app.dependency_overrides[get_introspector] = lambda: introspector
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client
    assert admin.closed


def H(token="tok-a", **headers):
    return {"Authorization": f"Bearer {token}", **headers}


def _error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["code"] == code, body
    assert body["message"] and isinstance(body["hint"], str)
    return body


# -- auth -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "status", "code"), [
    ({}, 401, "missing_token"),
    ({"Authorization": "Basic abc"}, 401, "malformed_authorization"),
    ({"Authorization": "Bearer"}, 401, "malformed_authorization"),
    ({"Authorization": "Bearer nope"}, 401, "invalid_token"),
    (H("tok-noscope"), 403, "missing_scope"),
    (H("tok-wrongaud"), 403, "wrong_audience"),
    (H("tok-badsub"), 403, "unsupported_identity"),
    (H(Subject=B), 403, "subject_mismatch"),
])
def test_auth_failures(client, headers, status, code):
    body = _error(client.get("/v1/list_topics", headers=headers), status, code)
    if code == "missing_scope":
        assert SCOPE in body["message"]


def test_matching_subject_header_is_accepted(client):
    assert client.get("/v1/list_topics", headers=H(Subject=A.upper())).status_code == 200


def test_identity_provider_down_is_503(client, introspector):
    introspector.down = True
    _error(client.get("/v1/list_topics", headers=H()), 503, "identity_provider_unreachable")


def test_401_carries_www_authenticate(client):
    assert client.get("/v1/list_topics").headers["www-authenticate"] == "Bearer"


# -- topics ---------------------------------------------------------------------------------

def test_register_list_unregister(client, admin):
    r = client.post("/v1/register_topic", headers=H(Topic="t1"))
    assert r.status_code == 200
    assert r.json() == {"status": "success", "message": "the topic is registered to you",
                        "topic": "t1"}
    assert client.post("/v1/register_topic", json={"topic": "t1"},
                       headers=H()).json()["status"] == "no-op"
    assert client.get("/v1/list_topics", headers=H()).json() == {"status": "success",
                                                                 "topics": ["t1"]}
    assert client.get("/v1/list_topics", headers=H("tok-b")).json()["topics"] == []
    body = _error(client.post("/v1/register_topic", headers=H("tok-b", Topic="t1")), 403,
                  "topic_owned_by_another")
    assert "another user" in body["message"]
    _error(client.post("/v1/unregister_topic", headers=H("tok-b", Topic="t1")), 403,
           "topic_owned_by_another")
    admin.topics["t1"] = [b"event"]
    body = client.post("/v1/unregister_topic", headers=H(Topic="t1")).json()
    assert body["status"] == "success" and "events were deleted" in body["message"]
    assert admin.acls == set() and "t1" not in admin.topics
    assert client.post("/v1/unregister_topic", headers=H(Topic="t1")).json()["status"] == "no-op"


def test_add_partitions_grows_the_owners_topic_within_the_cap(client, admin, settings):
    cap = settings.max_partitions_per_topic
    assert client.post("/v1/register_topic", headers=H(Topic="t1")).status_code == 200
    admin.topics["t1"] = []
    r = client.post("/v1/add_partitions", json={"topic": "t1", "partitions": 3}, headers=H())
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success", "message": "the topic now has 3 partitions",
                        "topic": "t1", "partitions": 3, "max_partitions": cap}
    body = _error(client.post("/v1/add_partitions", json={"topic": "t1", "partitions": cap + 1},
                              headers=H()), 403, "partition_limit_reached")
    assert f"max_partitions_per_topic = {cap}" in body["message"] and body["hint"]
    _error(client.post("/v1/add_partitions", json={"topic": "t1", "partitions": 4},
                       headers=H("tok-b")), 403, "not_topic_owner")
    _error(client.post("/v1/add_partitions", json={"topic": "t1", "partitions": "4"},
                       headers=H()), 400, "invalid_request")
    assert admin.partitions["t1"] == 3


def test_registering_a_name_left_on_the_brokers_is_409_naming_the_operator_command(client,
                                                                                    admin):
    admin.topics["left"] = [b"someone's old event"]
    body = _error(client.post("/v1/register_topic", headers=H(Topic="left")), 409,
                  "topic_exists_unowned")
    assert "no owner" in body["message"]
    assert "diaspora-fabric topic purge left" in body["hint"]


@pytest.mark.parametrize(("kwargs", "code"), [
    ({}, "missing_topic"),
    ({"headers": {"Topic": "bad name"}}, "invalid_topic_name"),
    ({"headers": {"Topic": "__internal"}}, "invalid_topic_name"),
    ({"headers": {"Topic": "x" * 250}}, "invalid_topic_name"),
    ({"json": {"topic": ".."}}, "invalid_topic_name"),
    ({"json": {"topic": 5}}, "invalid_request"),
    ({"json": ["t"]}, "invalid_request"),
    ({"content": b"{not json", "headers": {"Content-Type": "application/json"}},
     "invalid_request"),
    ({"headers": {"Topic": "a"}, "json": {"topic": "b"}}, "conflicting_topic"),
])
def test_register_input_errors_are_400(client, admin, kwargs, code):
    headers = {**H(), **kwargs.pop("headers", {})}
    r = client.post("/v1/register_topic", headers=headers, **kwargs)
    _error(r, 400, code)
    assert admin.acls == set()


def test_kafka_down_is_503(client, admin):
    admin.down = True
    _error(client.post("/v1/register_topic", headers=H(Topic="t")), 503, "kafka_unavailable")


def test_unexpected_backend_failure_is_503_not_500(client, admin, caplog):
    def boom(*args, **kwargs):
        raise KeyError("secret-value-that-must-not-be-logged")

    admin.topic_acls = boom
    with caplog.at_level(logging.INFO):
        r = client.post("/v1/register_topic", headers=H(Topic="t"))
    _error(r, 503, "internal_error")
    assert "KeyError" in caplog.text
    assert "secret-value" not in caplog.text and "tok-a" not in caplog.text


# -- access ---------------------------------------------------------------------------------

def test_grant_revoke_and_list_users(client):
    client.post("/v1/register_topic", headers=H(Topic="shared"))
    r = client.post("/v1/grant_user_access", headers=H(Topic="shared", User=B))
    assert r.json() == {"status": "success", "message": "access granted: produce and consume, "
                        f"with consumer groups shared/{B}/<name>", "topic": "shared", "user": B,
                        "access": "read-write", "groups": f"shared/{B}/"}  # says what it gives
    assert client.post("/v1/grant_user_access", headers=H(),
                       json={"topic": "shared", "user": B.upper()}).json()["status"] == "no-op"
    assert client.get("/v1/list_topics", headers=H("tok-b")).json()["topics"] == ["shared"]
    assert client.get("/v1/list_topic_users", params={"topic": "shared"},
                      headers=H()).json() == {"status": "success", "topic": "shared",
                                              "owner": A, "users": [B], "read_only": []}
    _error(client.get("/v1/list_topic_users", headers=H("tok-b", Topic="shared")), 403,
           "not_topic_owner")
    _error(client.post("/v1/grant_user_access", headers=H("tok-b", Topic="shared", User=B)),
           403, "not_topic_owner")
    r = client.post("/v1/revoke_user_access", headers=H(Topic="shared", User=B))
    assert r.json()["status"] == "success"
    assert client.post("/v1/revoke_user_access",
                       headers=H(Topic="shared", User=B)).json()["status"] == "no-op"
    assert client.get("/v1/list_topics", headers=H("tok-b")).json()["topics"] == []


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({"Topic": "shared"}, 400, "missing_user"),
    ({"Topic": "shared", "User": "bob@example.org"}, 400, "invalid_user"),
    ({"User": B}, 400, "missing_topic"),
    ({"Topic": "nobody", "User": B}, 404, "topic_not_registered"),
])
def test_grant_input_errors(client, headers, status, code):
    client.post("/v1/register_topic", headers=H(Topic="shared"))
    _error(client.post("/v1/grant_user_access", headers=H(**headers)), status, code)


# -- keys and cluster -----------------------------------------------------------------------

def test_create_key_rotates(client, admin):
    first = client.post("/v1/create_key", headers=H()).json()
    assert set(first) == {"status", "username", "password", "endpoint"}
    assert first["status"] == "success" and first["username"] == A
    assert first["endpoint"] == "127.0.0.1:9096,127.0.0.1:9097"
    assert len(first["password"]) >= 32 and first["password"].isalnum()
    second = client.post("/v1/create_key", headers=H()).json()
    assert second["password"] != first["password"]
    assert admin.authenticates(A, second["password"])
    assert not admin.authenticates(A, first["password"])


def test_cluster_details(client, settings, tmp_path):
    assert client.get("/v1/cluster", headers=H()).json() == {
        "status": "success", "bootstrap_servers": ["127.0.0.1:9096", "127.0.0.1:9097"],
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "ca_cert_pem": None}
    _error(client.get("/v1/cluster"), 401, "missing_token")


def test_cluster_returns_the_ca_pem(settings, admin, introspector, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n")
    app = create_app(settings.model_copy(update={"ca_file": ca}), admin=admin,
                     introspector=introspector)
    with TestClient(app) as c:
        assert c.get("/v1/cluster", headers=H()).json()["ca_cert_pem"] == ca.read_text()


# -- ops ------------------------------------------------------------------------------------

def test_healthz_and_metrics_need_no_auth_and_count_calls(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    client.post("/v1/register_topic", headers=H(Topic="m1"))
    client.post("/v1/register_topic", headers=H(Topic="m2"))
    client.post("/v1/register_topic", headers=H("tok-b", Topic="m1"))
    client.get("/v1/nowhere")
    metrics = client.get("/metrics").json()
    assert metrics["status"] == "success"
    assert metrics["requests"]["POST /v1/register_topic"] == {"200": 2, "403": 1}
    assert metrics["requests"]["GET /healthz"] == {"200": 1}
    assert "GET <unmatched>" in metrics["requests"]
    text = str(metrics)
    assert A not in text and "m1" not in text and "tok-" not in text


def test_unknown_route_and_method_use_the_error_shape(client):
    _error(client.get("/v1/nowhere"), 404, "not_found")
    _error(client.get("/v1/register_topic", headers=H()), 405, "method_not_allowed")


def test_request_log_has_no_headers_or_secrets(client, caplog):
    with caplog.at_level(logging.DEBUG):
        key = client.post("/v1/create_key", headers=H()).json()["password"]
        client.post("/v1/register_topic", headers=H(Topic="logged"))
    assert "POST /v1/create_key 200" in caplog.text
    for secret in (key, "tok-a", "Bearer", "authorization"):
        assert secret not in caplog.text


def test_openapi_documents_every_route_and_error(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    expected = {("post", "/v1/create_key"), ("get", "/v1/list_topics"),
                ("post", "/v1/register_topic"), ("post", "/v1/unregister_topic"),
                ("post", "/v1/add_partitions"),
                ("get", "/v1/cluster"), ("post", "/v1/grant_user_access"),
                ("post", "/v1/revoke_user_access"), ("get", "/v1/list_topic_users"),
                ("get", "/healthz"), ("get", "/metrics")}
    assert {(m, p) for p, ops in paths.items() for m in ops} == expected
    for method, path in expected:
        responses = paths[path][method]["responses"]
        assert "422" not in responses
        if path.startswith("/v1/"):
            for status in ("400", "401", "403", "503"):
                ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody")
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
