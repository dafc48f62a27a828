"""Token introspection client: request shape, TTL cache keyed by token hash, IdP failures."""

from __future__ import annotations

import hashlib

import pytest
import requests

from diaspora_notebook.fabric.service import auth
from diaspora_notebook.fabric.service.auth import IntrospectionClient
from diaspora_notebook.fabric.service.errors import ServiceError


class FakeResponse:
    def __init__(self, status, payload):
        self.status_code = status
        self._payload = payload

    def json(self):
        if isinstance(self._payload, Exception):
            raise self._payload
        return self._payload


class FakeSession:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def post(self, url, **kwargs):
        self.calls.append((url, kwargs))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        pass


ACTIVE = {"active": True, "sub": "abc", "scope": "s"}


def _client(session, ttl=5.0):
    return IntrospectionClient("http://idp.test/", "svc", "shh", cache_seconds=ttl,
                               timeout=2.0, session=session)


def test_request_shape():
    session = FakeSession(FakeResponse(200, ACTIVE))
    assert _client(session).introspect("tok") == ACTIVE
    url, kwargs = session.calls[0]
    assert url == "http://idp.test/v2/oauth2/token/introspect"
    assert kwargs["auth"] == ("svc", "shh")
    assert kwargs["data"] == {"token": "tok"}
    assert kwargs["timeout"] == 2.0


def test_cache_is_short_and_keyed_by_hash(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    session = FakeSession(FakeResponse(200, ACTIVE), FakeResponse(200, {"active": False}))
    client = _client(session, ttl=5.0)
    assert client.introspect("tok")["active"] is True
    now[0] += 4.9
    assert client.introspect("tok")["active"] is True
    assert len(session.calls) == 1
    assert list(client._cache) == [hashlib.sha256(b"tok").hexdigest()]
    now[0] += 0.2  # past the TTL: the revocation is seen
    assert client.introspect("tok")["active"] is False
    assert len(session.calls) == 2


def test_ttl_is_capped_at_five_seconds():
    assert _client(FakeSession(FakeResponse(200, ACTIVE)), ttl=60)._ttl == 5.0


@pytest.mark.parametrize("answer", [
    requests.ConnectionError("refused"),
    requests.Timeout("slow"),
    FakeResponse(401, {"error": "invalid_client"}),
    FakeResponse(500, {}),
    FakeResponse(200, ValueError("not json")),
    FakeResponse(200, ["not", "an", "object"]),
])
def test_idp_failures_are_503(answer):
    with pytest.raises(ServiceError) as err:
        _client(FakeSession(answer)).introspect("tok")
    assert (err.value.status_code, err.value.code) == (503, "identity_provider_unreachable")
    assert "tok" not in str(err.value) and "shh" not in str(err.value)


def test_failures_are_not_cached():
    session = FakeSession(requests.ConnectionError("x"), FakeResponse(200, ACTIVE))
    client = _client(session)
    with pytest.raises(ServiceError):
        client.introspect("tok")
    assert client.introspect("tok") == ACTIVE
