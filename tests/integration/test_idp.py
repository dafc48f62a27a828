"""The local IdP as a real process, driven by the UNMODIFIED globus-sdk 4.x.

The IdP runs alone (no broker, no service) in a home of this module's own, started by the
fabric's launcher through :class:`diaspora_notebook.fabric.testing.idp.IdpServer`, and seeded with
fixed accounts and clients through the admin API.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import globus_sdk
import jwt
import pytest
import requests
from globus_sdk.token_storage import MemoryTokenStorage
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from diaspora_notebook.fabric.idp import admin
from diaspora_notebook.fabric.testing.idp import IdpServer
from diaspora_notebook.login import (
    ConsentDeniedError,
    InvalidCredentialsError,
    LoginFormError,
    ProgrammaticLoginFlowManager,
    complete_login_form,
)
from diaspora_notebook.login.form import parse_page
from diaspora_notebook.testing.tokens import environment_for

PASSWORD = "correct horse battery"
AUTH_RS = "auth.globus.org"


@dataclass
class SeededIdp:
    """A running IdP with two accounts, a native client and two confidential clients."""

    server: IdpServer
    env: str
    native_id: str
    service_id: str
    service_secret: str
    other_confidential_id: str
    other_confidential_secret: str
    scope: str
    alice_id: str
    bob_id: str

    @property
    def url(self) -> str:
        return self.server.base_url


def seed(state_dir: Path) -> dict[str, str]:
    alice = admin.add_user(state_dir, "alice@example.org", PASSWORD, name="Alice <b>A</b>")
    bob = admin.add_user(state_dir, "bob", PASSWORD)
    native, _ = admin.add_client(state_dir, "Notebook", confidential=False,
                                 loopback_redirects=True)
    service, secret = admin.add_client(state_dir, "Diaspora service", confidential=True)
    other, other_secret = admin.add_client(state_dir, "Other confidential", confidential=True,
                                           redirect_uris=["https://app.example.org/cb"])
    assert secret and other_secret
    scope = admin.register_scope(state_dir, service)
    return {"alice_id": alice, "bob_id": bob, "native_id": native, "service_id": service,
            "service_secret": secret, "other_confidential_id": other,
            "other_confidential_secret": other_secret, "scope": scope}


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededIdp]:
    server = IdpServer.at(tmp_path_factory.mktemp("idp-home"))
    seeded = seed(server.state_dir)
    with server:
        yield SeededIdp(server=server, env=environment_for(server.base_url), **seeded)
    assert "Traceback" not in server.log(), server.log()


# --------------------------------------------------------------------------------------------
# SDK helpers
def user_app(fab: SeededIdp, username: str = "alice@example.org", password: str = PASSWORD,
             *, scopes: bool = True) -> globus_sdk.UserApp:
    """A UserApp that logs in through the HTML forms, like a person (the toolkit's manager)."""
    login_client = native_client(fab)
    config = globus_sdk.GlobusAppConfig(
        environment=fab.env, token_storage=MemoryTokenStorage(), request_refresh_tokens=True,
        login_flow_manager=ProgrammaticLoginFlowManager(username, password, login_client),
    )
    requirements = {fab.service_id: [fab.scope]} if scopes else {}
    return globus_sdk.UserApp("diaspora-test", login_client=login_client, config=config,
                              scope_requirements=requirements)


def native_client(fab: SeededIdp) -> globus_sdk.NativeAppAuthClient:
    return globus_sdk.NativeAppAuthClient(fab.native_id, environment=fab.env)


def service_client(fab: SeededIdp) -> globus_sdk.ConfidentialAppAuthClient:
    return globus_sdk.ConfidentialAppAuthClient(fab.service_id, fab.service_secret,
                                                environment=fab.env)


def native_tokens(fab: SeededIdp, *, refresh: bool = True) -> globus_sdk.OAuthTokenResponse:
    client = native_client(fab)
    client.oauth2_start_flow(["openid", "profile", "email", fab.scope], refresh_tokens=refresh)
    code = complete_login_form(client.oauth2_get_authorize_url(), "alice@example.org", PASSWORD)
    return client.oauth2_exchange_code_for_tokens(code)


# --------------------------------------------------------------------------------------------
# tests: SDK flows
def test_user_app_login_refresh_and_userinfo(idp: SeededIdp) -> None:
    app = user_app(idp)
    app.login()
    assert not app.login_required()
    data = app.token_storage.get_token_data(idp.service_id)
    assert data is not None and data.scope == idp.scope and data.refresh_token
    assert app.token_storage.identity_id == idp.alice_id

    auth = globus_sdk.AuthClient(app=app)
    info = auth.userinfo()
    assert info["sub"] == idp.alice_id
    assert info["preferred_username"] == "alice@example.org"
    assert info["name"] == "Alice <b>A</b>"

    # the app refreshes through its RefreshTokenAuthorizer; twice, to prove refresh_token stays
    authorizer = app.get_authorizer(AUTH_RS)
    assert isinstance(authorizer, globus_sdk.RefreshTokenAuthorizer)
    before = authorizer.access_token
    authorizer._get_new_access_token()
    authorizer._get_new_access_token()
    assert authorizer.access_token != before
    assert auth.userinfo()["sub"] == idp.alice_id


def test_get_identities_by_ids_and_usernames(idp: SeededIdp) -> None:
    app = user_app(idp, scopes=False)
    auth = globus_sdk.AuthClient(app=app)
    unknown = idp.native_id[:-1] + ("1" if idp.native_id.endswith("0") else "0")  # no one's
    by_id = auth.get_identities(ids=[idp.alice_id, idp.bob_id, unknown])
    assert {i["id"] for i in by_id} == {idp.alice_id, idp.bob_id}
    by_name = auth.get_identities(usernames=["ALICE@example.org", "nobody@example.org"])
    [alice] = list(by_name)
    assert alice["id"] == idp.alice_id and alice["identity_type"] == "login"
    assert alice["status"] == "used" and alice["email"] == "alice@example.org"
    consents = auth.get_consents(idp.alice_id)
    assert "openid" in {c.scope_name for c in consents.to_forest().nodes}
    raw = auth.get(f"/v2/api/identities/{idp.alice_id}/consents")
    assert any(c["scope_name"] == "openid" for c in raw["consents"])
    with pytest.raises(globus_sdk.AuthAPIError) as err:
        auth.get(f"/v2/api/identities/{idp.bob_id}/consents")
    assert err.value.http_status == 403


def test_client_app_client_credentials(idp: SeededIdp) -> None:
    config = globus_sdk.GlobusAppConfig(environment=idp.env,
                                        token_storage=MemoryTokenStorage())
    capp = globus_sdk.ClientApp("diaspora-svc", client_id=idp.service_id,
                                client_secret=idp.service_secret, config=config,
                                scope_requirements={idp.service_id: [idp.scope]})
    authorizer = capp.get_authorizer(idp.service_id)
    header = authorizer.get_authorization_header()
    assert header and header.startswith("Bearer AT.")
    token = header.split(" ", 1)[1]
    info = service_client(idp).oauth2_token_introspect(token, include="identity_set")
    assert info["active"] is True and info["sub"] == idp.service_id
    assert info["client_id"] == idp.service_id and info["aud"] == [idp.service_id]
    assert info["identity_set"] == [idp.service_id]
    # openid through client credentials: the id_token's sub is the client id
    response = service_client(idp).oauth2_client_credentials_tokens(["openid", idp.scope])
    assert response.decode_id_token()["sub"] == idp.service_id
    assert set(response.by_resource_server) == {AUTH_RS, idp.service_id}


def test_native_flow_shapes_and_introspection(idp: SeededIdp) -> None:
    tokens = native_tokens(idp)
    by_rs = tokens.by_resource_server
    assert set(by_rs) == {AUTH_RS, idp.service_id}
    assert by_rs[AUTH_RS]["scope"] == "openid profile email"
    assert tokens["expires_in"] == 172800 and tokens["other_tokens"][0]["refresh_token"]
    claims = tokens.decode_id_token()
    assert claims["sub"] == idp.alice_id and claims["aud"] == idp.native_id
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "RS512"
    info = service_client(idp).oauth2_token_introspect(
        by_rs[idp.service_id]["access_token"], include="identity_set")
    assert info["active"] is True and info["scope"] == idp.scope
    assert info["sub"] == idp.alice_id and info["username"] == "alice@example.org"
    assert info["client_id"] == idp.native_id and idp.service_id in info["aud"]
    assert info["identity_set"] == [idp.alice_id] and info["exp"] > time.time()
    unknown = service_client(idp).oauth2_token_introspect("AT.nope")
    assert unknown.data == {"active": False}


def test_online_access_gives_no_refresh_token(idp: SeededIdp) -> None:
    tokens = native_tokens(idp, refresh=False)
    assert all(t["refresh_token"] is None for t in tokens.by_resource_server.values())


def test_wrong_pkce_verifier_fails(idp: SeededIdp) -> None:
    client = native_client(idp)
    flow = client.oauth2_start_flow(["openid"])
    code = complete_login_form(client.oauth2_get_authorize_url(), "bob", PASSWORD)
    good_verifier = flow.verifier
    flow.verifier = ("A" if good_verifier[0] != "A" else "B") + good_verifier[1:]
    with pytest.raises(globus_sdk.AuthAPIError) as err:
        client.oauth2_exchange_code_for_tokens(code)
    assert err.value.http_status == 400 and err.value.code == "INVALID_GRANT"
    # no verifier at all is refused too
    response = requests.post(idp.url + "v2/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": idp.native_id,
        "redirect_uri": flow.redirect_uri}, timeout=10)
    assert response.status_code == 400


def test_code_cannot_be_used_twice(idp: SeededIdp) -> None:
    client = native_client(idp)
    client.oauth2_start_flow(["openid", idp.scope], refresh_tokens=True)
    code = complete_login_form(client.oauth2_get_authorize_url(), "bob", PASSWORD)
    first = client.oauth2_exchange_code_for_tokens(code)
    with pytest.raises(globus_sdk.AuthAPIError) as err:
        client.oauth2_exchange_code_for_tokens(code)
    assert err.value.code == "INVALID_GRANT"
    # a replayed code revokes what it produced (it may have been stolen)
    info = service_client(idp).oauth2_token_introspect(
        first.by_resource_server[idp.service_id]["access_token"])
    assert info["active"] is False


def test_revoked_refresh_token_kills_its_access_tokens(idp: SeededIdp) -> None:
    client = native_client(idp)
    tokens = native_tokens(idp).by_resource_server[idp.service_id]
    refreshed = client.oauth2_refresh_token(tokens["refresh_token"])
    assert refreshed["refresh_token"] == tokens["refresh_token"]
    assert refreshed["other_tokens"] == []
    new_access = refreshed["access_token"]
    svc = service_client(idp)
    assert svc.oauth2_token_introspect(new_access)["active"] is True
    client.oauth2_revoke_token(tokens["refresh_token"])
    with pytest.raises(globus_sdk.AuthAPIError) as err:
        client.oauth2_refresh_token(tokens["refresh_token"])
    assert err.value.http_status == 400 and err.value.code == "INVALID_GRANT"
    assert svc.oauth2_token_introspect(new_access)["active"] is False
    assert svc.oauth2_token_introspect(tokens["access_token"])["active"] is False


def test_user_app_logout_revokes(idp: SeededIdp) -> None:
    app = user_app(idp, "bob", PASSWORD)
    app.login()
    access = app.token_storage.get_token_data(idp.service_id).access_token
    app.logout()
    assert service_client(idp).oauth2_token_introspect(access)["active"] is False


def test_introspect_refused_for_native_client(idp: SeededIdp) -> None:
    access = native_tokens(idp).by_resource_server[AUTH_RS]["access_token"]
    response = requests.post(idp.url + "v2/oauth2/token/introspect",
                             data={"token": access, "client_id": idp.native_id}, timeout=10)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "INVALID_CLIENT"
    wrong = globus_sdk.ConfidentialAppAuthClient(idp.service_id, "wrong-secret",
                                                 environment=idp.env)
    with pytest.raises(globus_sdk.AuthAPIError) as err:
        wrong.oauth2_token_introspect(access)
    assert err.value.http_status == 401 and err.value.code == "INVALID_CLIENT"


def test_bad_password_shows_an_error(idp: SeededIdp) -> None:
    client = native_client(idp)
    client.oauth2_start_flow(["openid"])
    url = client.oauth2_get_authorize_url()
    with pytest.raises(InvalidCredentialsError, match="Invalid username or password"):
        complete_login_form(url, "alice@example.org", "wrong password!")
    with pytest.raises(InvalidCredentialsError):
        complete_login_form(url, "mallory", PASSWORD)
    page = requests.post(idp.url + "v2/oauth2/authorize", data={
        **dict(parse_qsl(urlsplit(url).query)),
        "username": "<script>x</script>", "password": "nope-nope"}, timeout=10)
    assert page.status_code == 401
    assert "<script>x</script>" not in page.text and "&lt;script&gt;" in page.text


def test_unknown_redirect_uri_is_refused_without_redirect(idp: SeededIdp) -> None:
    for client_id, uri in [(idp.native_id, "https://evil.example.com/v2/web/auth-code"),
                           (idp.native_id, "https://evil.example.com/cb"),
                           (idp.other_confidential_id, "http://127.0.0.1:9999/cb")]:
        response = requests.get(idp.url + "v2/oauth2/authorize", params={
            "client_id": client_id, "redirect_uri": uri, "scope": "openid",
            "response_type": "code", "code_challenge": "x" * 43,
            "code_challenge_method": "S256"}, allow_redirects=False, timeout=10)
        assert response.status_code == 400, uri
        assert "location" not in response.headers
        assert "Invalid redirect URI" in parse_page(response.text).title
    with pytest.raises(LoginFormError, match="redirect"):
        complete_login_form(idp.url + "v2/oauth2/authorize?client_id=" + idp.native_id
                            + "&redirect_uri=https://evil.example.com/&scope=openid"
                            "&response_type=code", "bob", PASSWORD)


def test_loopback_and_registered_redirects(idp: SeededIdp) -> None:
    client = native_client(idp)
    flow = client.oauth2_start_flow(["openid"], redirect_uri="http://localhost:1/callback")
    code = complete_login_form(client.oauth2_get_authorize_url(), "bob", PASSWORD)
    assert client.oauth2_exchange_code_for_tokens(code).decode_id_token()["sub"] == idp.bob_id
    assert flow.redirect_uri == "http://localhost:1/callback"
    conf = globus_sdk.ConfidentialAppAuthClient(
        idp.other_confidential_id, idp.other_confidential_secret, environment=idp.env)
    conf.oauth2_start_flow("https://app.example.org/cb", ["openid", "email"])
    code = complete_login_form(conf.oauth2_get_authorize_url(), "bob", PASSWORD)
    tokens = conf.oauth2_exchange_code_for_tokens(code)
    assert tokens.decode_id_token()["aud"] == idp.other_confidential_id


def test_unknown_scope_is_invalid_scope(idp: SeededIdp) -> None:
    client = native_client(idp)
    client.oauth2_start_flow(["openid", "https://auth.globus.org/scopes/nobody/action_all"])
    with pytest.raises(LoginFormError, match="invalid_scope"):
        complete_login_form(client.oauth2_get_authorize_url(), "bob", PASSWORD)
    with pytest.raises(globus_sdk.AuthAPIError) as err:
        service_client(idp).oauth2_client_credentials_tokens(["urn:globus:auth:scope:x:y"])
    assert err.value.http_status == 400 and err.value.code == "INVALID_SCOPE"


def test_deny_consent(idp: SeededIdp) -> None:
    client = native_client(idp)
    client.oauth2_start_flow(["openid"])
    session = requests.Session()
    page = session.get(client.oauth2_get_authorize_url(), timeout=10)
    [form] = parse_page(page.text).forms
    data = {n: v for k, n, v in form.inputs if k == "hidden"}
    consent = session.post(page.url, data={**data, "username": "bob", "password": PASSWORD},
                           timeout=10)
    [cform] = parse_page(consent.text).forms
    assert cform.action == "consent" and form.action == "authorize"  # relative: proxy-safe
    tx = {n: v for k, n, v in cform.inputs if k == "hidden"}
    denied = session.post(idp.url + "v2/oauth2/consent", data={**tx, "decision": "deny"},
                          allow_redirects=False, timeout=10)
    assert denied.status_code == 303 and "error=access_denied" in denied.headers["location"]
    again = session.post(idp.url + "v2/oauth2/consent", data={**tx, "decision": "allow"},
                         allow_redirects=False, timeout=10)
    assert again.status_code == 400  # the login transaction is single-use
    with pytest.raises(ConsentDeniedError):
        from diaspora_notebook.login.form import _code_from_url

        _code_from_url("http://x/?error=access_denied")


def test_discovery_and_error_shapes(idp: SeededIdp) -> None:
    oidc = requests.get(idp.url + ".well-known/openid-configuration", timeout=10).json()
    assert oidc["id_token_signing_alg_values_supported"] == ["RS512"]
    assert oidc["jwks_uri"] == idp.url + "jwk.json"
    jwks = requests.get(oidc["jwks_uri"], timeout=10).json()
    assert jwks["keys"][0]["alg"] == "RS512" and jwks["keys"][0]["kty"] == "RSA"
    for method, path in [("get", "v2/oauth2/userinfo"), ("get", "v2/api/identities"),
                         ("get", "nope"), ("put", "v2/oauth2/token")]:
        response = requests.request(method, idp.url + path, timeout=10)
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"] == "application/json"
        assert response.json()["errors"][0]["code"]
    assert requests.get(idp.url + "healthz", timeout=10).json() == {"status": "ok"}


def test_admin_works_while_running(idp: SeededIdp) -> None:
    state_dir = idp.server.state_dir
    admin.add_user(state_dir, "carol", PASSWORD)
    client = native_client(idp)
    client.oauth2_start_flow(["openid"], refresh_tokens=True)
    code = complete_login_form(client.oauth2_get_authorize_url(), "carol", PASSWORD)
    tokens = client.oauth2_exchange_code_for_tokens(code)
    admin.remove_user(state_dir, "carol")
    with pytest.raises(globus_sdk.AuthAPIError):
        client.oauth2_refresh_token(tokens["refresh_token"])
    with pytest.raises(InvalidCredentialsError):
        client.oauth2_start_flow(["openid"])
        complete_login_form(client.oauth2_get_authorize_url(), "carol", PASSWORD)


def test_no_secrets_in_log_or_db(idp: SeededIdp) -> None:
    tokens = native_tokens(idp)
    log = idp.server.log()
    db = (idp.server.state_dir / "idp.sqlite3").read_bytes()
    wal = idp.server.state_dir / "idp.sqlite3-wal"
    db += wal.read_bytes() if wal.exists() else b""
    for value in (tokens["access_token"], tokens["refresh_token"], PASSWORD,
                  idp.service_secret):
        assert value not in log
        assert value.encode() not in db
    key = idp.server.state_dir / "signing-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600


# --------------------------------------------------------------------------------------------
# restart and expiry (their own IdP processes)
def test_key_and_tokens_survive_restart_and_tokens_expire(tmp_path: Path) -> None:
    server = IdpServer.at(tmp_path / "home", access_token_lifetime=2)
    seeded = seed(server.state_dir)
    with server:
        fab = SeededIdp(server=server, env=environment_for(server.base_url), **seeded)
        tokens = native_tokens(fab)
        jwks_before = requests.get(fab.url + "jwk.json", timeout=10).json()
        access = tokens.by_resource_server[fab.service_id]["access_token"]
        assert service_client(fab).oauth2_token_introspect(access)["active"] is True
        time.sleep(2.5)
        assert service_client(fab).oauth2_token_introspect(access).data == {"active": False}
    with IdpServer.at(tmp_path / "home", port=server.port):
        assert requests.get(fab.url + "jwk.json", timeout=10).json() == jwks_before
        # a fresh decoder fetches the (same) key from the restarted IdP
        assert tokens.decode_id_token()["sub"] == fab.alice_id
        refreshed = native_client(fab).oauth2_refresh_token(
            tokens.by_resource_server[fab.service_id]["refresh_token"])
        assert service_client(fab).oauth2_token_introspect(
            refreshed["access_token"])["active"] is True


# --------------------------------------------------------------------------------------------
# property-based: the token endpoint never 5xx-es and never issues a token wrongly
_text = st.text(st.characters(codec="utf-8"), max_size=60)
_field_names = st.sampled_from(["grant_type", "code", "code_verifier", "redirect_uri",
                                "refresh_token", "client_id", "scope", "client_secret",
                                "token", "include", "access_type"])


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    grant=st.one_of(st.sampled_from(["client_credentials"] * 4 + [
        "authorization_code", "refresh_token", "password", "implicit", ""]), _text),
    fields=st.dictionaries(_field_names, _text, max_size=4),
    auth=st.sampled_from(["right"] * 4 + ["none", "wrong", "native", "garbage", "bearer"]),
    scope=st.sampled_from(["valid", "valid", "openid", "bogus", "brackets", "none"]),
    pad=st.sampled_from([0] * 5 + [70_000]),
    endpoint=st.sampled_from(["v2/oauth2/token"] * 4 + ["v2/oauth2/token/introspect",
                                                       "v2/oauth2/token/revoke"]),
    raw=st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=300)),
)
def test_token_endpoint_fuzz(idp: SeededIdp, grant: str, fields: dict[str, str], auth: str,
                             scope: str, pad: int, endpoint: str, raw: bytes | None) -> None:
    form = {**fields, "grant_type": grant}
    scopes = {"valid": idp.scope, "openid": "openid", "bogus": "https://auth.globus.org/"
              "scopes/x/y", "brackets": f"{idp.scope}[[", "none": None}
    if scopes[scope] is not None:
        form["scope"] = scopes[scope]
    if pad:
        form["padding"] = "x" * pad
    headers = {}
    if auth == "right":
        headers["Authorization"] = _basic(idp.service_id, idp.service_secret)
    elif auth == "wrong":
        headers["Authorization"] = _basic(idp.service_id, idp.service_secret[:-1] + "!")
    elif auth == "native":
        form["client_id"] = idp.native_id
    elif auth == "garbage":
        headers["Authorization"] = "Basic " + "%%%notbase64"
    elif auth == "bearer":
        headers["Authorization"] = "Bearer AT.whatever"
    if raw is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = requests.post(idp.url + endpoint, data=raw, headers=headers, timeout=30)
    else:
        response = requests.post(idp.url + endpoint, data=form, headers=headers, timeout=30)
    assert response.status_code < 500, response.text
    event(f"{endpoint} -> {response.status_code} {response.json().get('error', 'ok')}")
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if response.status_code >= 400:
        assert body["error"] and body["errors"][0]["code"] == body["error"].upper()
        return
    if endpoint.endswith("introspect"):
        assert auth == "right" and body == {"active": False}
        return
    if endpoint.endswith("revoke"):
        assert body == {"active": False}
        return
    # a token was issued: only client_credentials with the right secret and a known scope
    assert raw is None and grant == "client_credentials" and auth == "right" and not pad
    assert scope in ("valid", "openid") and "access_token" in body
    assert "refresh_token" not in body


def test_oversized_and_odd_requests(idp: SeededIdp) -> None:
    url = idp.url + "v2/oauth2/token"
    cases = [
        {"data": b"a=" + b"x" * 200_000, "headers": {"Content-Type":
                                                   "application/x-www-form-urlencoded"}},
        {"data": b"--x\r\ngarbage", "headers": {"Content-Type": "multipart/form-data; b=x"}},
        {"json": {"grant_type": "client_credentials"}},
        {"data": "&".join(f"f{i}=1" for i in range(500)), "headers": {
            "Content-Type": "application/x-www-form-urlencoded"}},
        {"data": {"grant_type": "authorization_code", "code": "\x00" * 10,
                  "client_id": "\ud7ff" * 3}},
        {"data": "grant_type=refresh_token&grant_type=client_credentials",
         "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ]
    for case in cases:
        response = requests.post(url, timeout=30, **case)
        assert 400 <= response.status_code < 500, (case, response.status_code)
        assert response.headers["content-type"] == "application/json"
