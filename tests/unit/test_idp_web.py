"""Browser half of the IdP in-process: authorize validation, proxy-safe pages, escaping."""

from __future__ import annotations

import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from diaspora_notebook.fabric.idp import IdpSettings, admin, create_app
from diaspora_notebook.fabric.idp.keys import SigningKey
from diaspora_notebook.fabric.idp.tokens import pkce_challenge
from diaspora_notebook.login.form import parse_page

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ISSUER = "http://127.0.0.1:8765/"
VERIFIER = "v" * 50
PASSWORD = "pass-word-1"


@dataclass
class Env:
    client: TestClient
    native: str
    confidential: str
    secret: str
    state_dir: Path


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    admin.add_user(tmp_path, "alice", PASSWORD, name="<i>Alice</i>")
    native, _ = admin.add_client(tmp_path, "Note<book>", confidential=False,
                                 loopback_redirects=True)
    conf, secret = admin.add_client(tmp_path, "Svc", confidential=True,
                                    redirect_uris=["https://svc.example.org/cb"])
    assert secret
    app = create_app(IdpSettings(tmp_path, ISSUER))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        yield Env(client, native, conf, secret, tmp_path)


def authorize_params(client_id: str, redirect_uri: str = ISSUER + "v2/web/auth-code",
                     **extra: str) -> dict[str, str]:
    return {"client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid email",
            "response_type": "code", "access_type": "offline", "state": "st<>",
            "code_challenge": pkce_challenge(VERIFIER), "code_challenge_method": "S256",
            **extra}


def login(env: Env, params: dict[str, str], headers: dict[str, str] | None = None) -> str:
    """Drive login + consent by hand; return the Location of the final redirect."""
    page = env.client.get("/v2/oauth2/authorize", params=params, headers=headers)
    assert page.status_code == 200, page.text
    [form] = parse_page(page.text).forms
    assert form.action == "authorize" and form.method == "post"
    data = {n: v for k, n, v in form.inputs if k == "hidden"}
    consent = env.client.post("/v2/oauth2/authorize", headers=headers,
                              data={**data, "username": "alice", "password": PASSWORD})
    assert consent.status_code == 200
    assert "&lt;i&gt;" not in consent.text  # the consent page shows the username, not the name
    [cform] = parse_page(consent.text).forms
    assert cform.action == "consent"
    tx = {n: v for k, n, v in cform.inputs if k == "hidden"}
    done = env.client.post("/v2/oauth2/consent", data={**tx, "decision": "allow"},
                           headers=headers, follow_redirects=False)
    assert done.status_code == 303
    return done.headers["location"]


def test_own_auth_code_page_is_reached_relatively(env: Env) -> None:
    location = login(env, authorize_params(env.native))
    assert location.startswith("../web/auth-code?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st<>"]
    page = env.client.get("/v2/web/auth-code", params={"code": query["code"][0]})
    assert parse_page(page.text).auth_code == query["code"][0]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


def test_behind_a_proxy_prefix(env: Env) -> None:
    proxied = "https://hub.example.org/user/x/proxy/8765/v2/web/auth-code"
    headers = {"X-Forwarded-Host": "hub.example.org"}
    # X-Forwarded-Host counts only from a configured trusted proxy (here 10.9.8.7)
    app = create_app(IdpSettings(env.state_dir, ISSUER, trusted_proxies=("10.9.8.0/24",)))
    with TestClient(app, base_url="http://127.0.0.1:8765", client=("10.9.8.7", 5000)) as proxy:
        location = login(replace(env, client=proxy), authorize_params(env.native, proxied),
                         headers)
    assert location.startswith("../web/auth-code?")  # relative: stays under the prefix
    page = env.client.get("/v2/oauth2/authorize", params=authorize_params(env.native, proxied),
                          headers=headers)
    assert page.status_code == 400  # the same header from an untrusted peer counts for nothing
    assert "http" not in "".join(f.action for f in parse_page(
        env.client.get("/v2/oauth2/authorize", params=authorize_params(env.native),
                       headers={"Host": "evil.example.org"}).text).forms)


def test_loopback_redirect_and_code_exchange(env: Env) -> None:
    uri = "http://localhost:51234/cb"
    location = login(env, authorize_params(env.native, uri))
    assert location.startswith(uri + "?")
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = env.client.post("/v2/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": env.native,
        "redirect_uri": uri, "code_verifier": VERIFIER})
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["resource_server"] == "auth.globus.org" and body["scope"] == "openid email"
    assert body["refresh_token"].startswith("RT.") and body["other_tokens"] == []
    key = SigningKey.load_or_create(env.state_dir / "signing-key.pem")
    claims = jwt.decode(body["id_token"], key.public_key(), algorithms=["RS512"],
                        audience=env.native)
    assert claims["name"] == "<i>Alice</i>" and claims["iss"] == ISSUER
    assert stat.S_IMODE((env.state_dir / "signing-key.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize("change", [
    {"redirect_uri": "https://evil.example.org/v2/web/auth-code"},
    {"redirect_uri": "http://127.0.0.1:80/cb#frag"},
    {"redirect_uri": "http://user@localhost:1/cb"},
    {"redirect_uri": "http://localhost:99999/cb"},
    {"redirect_uri": ""},
    {"client_id": "not-a-client"},
    {"code_challenge": ""},
    {"code_challenge_method": "plain"},
    {"response_type": "token"},
    {"access_type": "forever"},
    {"scope": "openid https://auth.globus.org/scopes/x/y"},
    {"scope": "openid[["},
    {"state": "x" * 5000},
])
def test_bad_authorize_requests_get_an_error_page(env: Env, change: dict[str, str]) -> None:
    params = {k: v for k, v in {**authorize_params(env.native), **change}.items() if v}
    response = env.client.get("/v2/oauth2/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert parse_page(response.text).alerts


def test_confidential_clients_only_use_registered_redirects(env: Env) -> None:
    params = authorize_params(env.confidential, "http://localhost:1/cb")
    assert env.client.get("/v2/oauth2/authorize", params=params).status_code == 400
    params = authorize_params(env.confidential, "https://svc.example.org/cb",
                              code_challenge="", code_challenge_method="")
    page = env.client.get("/v2/oauth2/authorize", params={k: v for k, v in params.items() if v})
    assert page.status_code == 200


def test_user_text_is_escaped(env: Env) -> None:
    page = env.client.get("/v2/oauth2/authorize", params=authorize_params(env.native))
    assert "Note&lt;book&gt;" in page.text and "Note<book>" not in page.text
    assert 'value="st&lt;&gt;"' in page.text
    bad = env.client.post("/v2/oauth2/authorize", data={
        **authorize_params(env.native), "username": '"><script>', "password": "x"})
    assert bad.status_code == 401 and "<script>" not in bad.text
    assert parse_page(bad.text).alerts == ["Invalid username or password."]
    code_page = env.client.get("/v2/web/auth-code", params={"error": "<b>bad</b>"})
    assert "<b>bad</b>" not in code_page.text


def test_expired_or_reused_transaction(env: Env) -> None:
    response = env.client.post("/v2/oauth2/consent", data={"transaction": "nope",
                                                           "decision": "allow"})
    assert response.status_code == 400 and "expired" in response.text


def test_garbage_form_bodies_on_pages(env: Env) -> None:
    form = "application/x-www-form-urlencoded"
    for body, ctype in [(b"\xff\xfe", form), (b"{}", "application/json"), (b"a=1&a=2", form)]:
        response = env.client.post("/v2/oauth2/authorize", content=body,
                                   headers={"content-type": ctype})
        assert 400 <= response.status_code < 500


def test_a_bug_is_a_json_500_without_its_message_in_the_log(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    secret = "hunter2" * 2

    def boom() -> None:
        raise RuntimeError(f"password={secret}")

    env.client.app.add_api_route("/boom", boom)
    with TestClient(env.client.app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500 and response.json()["error"] == "server_error"
    assert "RuntimeError" in caplog.text and "hunter2" not in caplog.text
