"""The service's body cap and metrics keys in-process (Kafka faked in memory, no token needed)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from diaspora_notebook.fabric.service.app import create_app
from diaspora_notebook.fabric.service.limits import MAX_BODY_BYTES
from diaspora_notebook.fabric.service.memory import InMemoryKafkaAdmin
from diaspora_notebook.fabric.service.metrics import RequestMetrics
from diaspora_notebook.fabric.service.settings import ServiceSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class NoTokens:
    def introspect(self, token: str) -> dict[str, object]:
        return {"active": False}


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    settings = ServiceSettings(
        bootstrap_servers=["127.0.0.1:9096"], admin_username="admin",
        admin_password_file=tmp_path / "admin.password", auth_url="http://127.0.0.1:1/",
        client_id="svc", client_secret_file=tmp_path / "secret", resource_server="svc",
        required_scope="s")
    with TestClient(create_app(settings, admin=InMemoryKafkaAdmin(),
                               introspector=NoTokens())) as test_client:
        yield test_client


def test_metrics_keys_come_only_from_known_methods_and_templates() -> None:
    metrics = RequestMetrics()
    metrics.record("get", "/v1/list_topics", 200)
    metrics.record("SECRET-TOPIC", None, 405)
    metrics.record("POST", None, 404)
    metrics.record("GET", "/v1/list_topics", 999)
    _, counts = metrics.snapshot()
    assert counts == {"GET /v1/list_topics": {"200": 1, "other": 1},
                      "OTHER <unmatched>": {"405": 1}, "POST <unmatched>": {"404": 1}}


def test_body_cap_is_exact_and_comes_before_auth(client: TestClient) -> None:
    headers = {"Content-Type": "application/json"}
    at_cap = client.post("/v1/register_topic", content=b" " * MAX_BODY_BYTES, headers=headers)
    assert at_cap.status_code in (400, 401)  # judged on its content and token, as usual
    over = client.post("/v1/register_topic", content=b" " * (MAX_BODY_BYTES + 1),
                       headers=headers)
    assert over.status_code == 413  # no token was needed to be refused
    body = over.json()
    assert body["code"] == "request_too_large" and body["message"] and body["hint"]


def test_streamed_body_over_the_cap_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 4096

    response = client.post("/v1/register_topic", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert client.get("/metrics").json()["requests"]["POST <unmatched>"] == {"413": 1}
