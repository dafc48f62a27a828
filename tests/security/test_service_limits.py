"""Limits of the web service, against the real service of the session fabric (issue 11, item 10).

* A request body over 64 KiB is refused with 413 and the JSON error ``{code, message, hint}``
  (declared by ``Content-Length`` or streamed chunked), before authentication runs; the
  service keeps answering afterwards.
* ``GET /metrics`` (no token needed) names no identity, no username, no topic and no path a
  caller chose, even after traffic that puts all of them in URLs, bodies and methods.
* No redirect is built from a hostile ``Host`` header.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import requests

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.service.limits import MAX_BODY_BYTES
from diaspora_notebook.fabric.service.metrics import KNOWN_METHODS, UNMATCHED
from diaspora_notebook.testing.tokens import service_headers, service_token, service_url


def _assert_413(response: requests.Response) -> None:
    assert response.status_code == 413, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == "request_too_large"
    assert str(MAX_BODY_BYTES) in body["message"] and body["hint"]


def test_request_bodies_over_64_kib_are_413_json(fabric: Fabric, sdk_identity) -> None:
    base = service_url(fabric)
    person = sdk_identity("big")
    token = service_token(fabric, person.username, person.password)
    big = json.dumps({"topic": "t", "padding": "x" * (MAX_BODY_BYTES + 10)})
    json_type = {"Content-Type": "application/json"}
    for headers in (service_headers(token, **json_type), json_type):  # with and without a token
        _assert_413(requests.post(base + "v1/register_topic", data=big, headers=headers,
                                  timeout=30))

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for _ in range(12):
            yield b" " * 8192

    _assert_413(requests.post(base + "v1/grant_user_access", data=chunks(),
                              headers=service_headers(token, **json_type), timeout=30))
    # just under the cap is an ordinary request, judged on its content
    under = json.dumps({"topic": "t", "padding": "x" * (MAX_BODY_BYTES - 100)})
    normal = requests.post(base + "v1/register_topic", data=under,
                           headers=service_headers(token, **json_type), timeout=30)
    assert normal.status_code != 413 and normal.status_code < 500, normal.text[:300]
    ok = requests.get(base + "v1/list_topics", headers=service_headers(token), timeout=30)
    assert ok.status_code == 200, ok.text


def test_metrics_name_no_identity_topic_or_path(fabric: Fabric, sdk_identity) -> None:
    base = service_url(fabric)
    alice, bob = sdk_identity("metrics-owner"), sdk_identity("metrics-friend")
    owner_name, owner_id, friend_name, friend_id = alice.username, alice.id, bob.username, bob.id
    owner = service_token(fabric, alice.username, alice.password)
    friend = service_token(fabric, bob.username, bob.password)
    topic = f"metrics-secret-{uuid.uuid4().hex[:10]}"
    calls = [
        ("post", "v1/register_topic", owner, {"topic": topic}),
        ("post", "v1/grant_user_access", owner, {"topic": topic, "user": friend_id}),
        ("get", f"v1/list_topic_users?topic={topic}", owner, None),
        ("get", "v1/list_topics", friend, None),
        ("get", f"v1/{topic}/{owner_id}", owner, None),          # no such route
        ("get", f"v1/list_topics/{friend_name}", friend, None),  # nor this
        ("post", "v1/revoke_user_access", owner, {"topic": topic, "user": friend_id}),
        ("post", "v1/unregister_topic", owner, {"topic": topic}),
    ]
    for method, path, token, body in calls:
        response = requests.request(method, base + path, headers=service_headers(token),
                                    json=body, timeout=60)
        assert response.status_code < 500, (path, response.text)
    odd = requests.request(topic.upper(), base + f"v1/{topic}", timeout=30)  # a made-up method
    assert odd.status_code < 500

    metrics = requests.get(base + "metrics", timeout=30)
    assert metrics.status_code == 200
    text = metrics.text
    for chosen in (topic, topic.upper(), owner_id, friend_id, owner_name, friend_name,
                   owner, friend):
        assert chosen not in text, f"/metrics names {chosen[:20]}..."
    templates = {route["path"] if isinstance(route, dict) else route
                 for route in requests.get(base + "openapi.json", timeout=30).json()["paths"]}
    for key in metrics.json()["requests"]:
        method, _, template = key.partition(" ")
        assert method in KNOWN_METHODS | {"OTHER"}, key
        assert template in templates | {UNMATCHED, "/metrics", "/healthz", "/openapi.json"}, key
    assert f"OTHER {UNMATCHED}" in metrics.json()["requests"]


def test_no_redirect_is_built_from_a_hostile_host(fabric: Fabric) -> None:
    response = requests.get(service_url(fabric) + "v1/list_topics/", timeout=30,
                            headers={"Host": "evil.example.org",
                                     "X-Forwarded-Host": "evil.example.org"},
                            allow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
