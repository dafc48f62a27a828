"""Identity-provider attacks of security round 3 (issue 27, items 4 and 7), on the session fabric.

* Phishing through a loopback redirect: user B listens on a loopback port and sends A a genuine
  login link of the toolkit's client with B's PKCE challenge and ``redirect_uri`` = B's port.
  The toolkit's client has no loopback redirects, so the link is refused with an error page
  and never redirects. A client that opted in to loopback redirects shows the exact
  destination (and a warning) on its consent page; the toolkit's shows its own code page.
* Introspection answers only to clients in the token's audience: an unrelated confidential
  client learns nothing (``active: false``) about a user's service token, which the service
  itself still introspects; a client registered as the owner of a second resource server
  introspects that server's tokens and nobody else's.
"""

from __future__ import annotations

import json
import socket
import uuid
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

import globus_sdk
import requests

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.idp import admin
from diaspora_notebook.fabric.idp.tokens import pkce_challenge
from diaspora_notebook.fabric.testing.secrets import remember_secret
from diaspora_notebook.login.form import parse_page
from diaspora_notebook.testing.identities import create_identity
from diaspora_notebook.testing.tokens import (
    fabric_environment,
    service_scope,
    service_token,
    user_tokens,
)

VERIFIER = "b" * 60  # user B's PKCE verifier: B alone could redeem a code sent to B's port


def _auth_url(fabric: Fabric) -> str:
    return str(fabric.describe()["auth"]["url"])


def _authorize(fabric: Fabric, client_id: str, redirect_uri: str) -> str:
    return _auth_url(fabric) + "v2/oauth2/authorize?" + urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": f"openid {service_scope(fabric)}", "response_type": "code",
        "access_type": "offline", "state": "s", "code_challenge": pkce_challenge(VERIFIER),
        "code_challenge_method": "S256"})


def _consent_page(authorize_url: str, username: str, password: str) -> str:
    """Log in like a browser and return the consent page's HTML (nothing is allowed)."""
    page = requests.get(authorize_url, timeout=30, allow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    [form] = parse_page(page.text).forms
    hidden = {name: value for kind, name, value in form.inputs if kind == "hidden"}
    consent = requests.post(_auth_url_of(authorize_url) + "v2/oauth2/authorize",
                            data={**hidden, "username": username, "password": password},
                            timeout=30, allow_redirects=False)
    assert consent.status_code == 200, consent.text[:300]
    return consent.text


def _auth_url_of(authorize_url: str) -> str:
    return authorize_url.split("v2/oauth2/authorize", 1)[0]


def test_loopback_phishing_link_is_refused_for_the_toolkit_client(fabric: Fabric) -> None:
    native_id = fabric.describe()["auth"]["native_client_id"]
    victim = create_identity(fabric, prefix="phished")
    with socket.socket() as listener:  # user B listens on a loopback port
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        for host in ("127.0.0.1", "localhost", "[::1]"):
            link = _authorize(fabric, native_id, f"http://{host}:{port}/callback")
            response = requests.get(link, timeout=30, allow_redirects=False)
            assert response.status_code == 400, (host, response.status_code)
            assert "location" not in response.headers
            assert "Invalid redirect URI" in parse_page(response.text).title
            # even the login form posted by hand (as a victim's browser would) is refused
            posted = requests.post(_auth_url(fabric) + "v2/oauth2/authorize", data={
                **dict(parse_qsl(urlsplit(link).query)),
                "username": victim.username, "password": victim.password},
                timeout=30, allow_redirects=False)
            assert posted.status_code == 400 and "location" not in posted.headers
        try:
            conn, _ = listener.accept()
            conn.close()
            raise AssertionError("the IdP sent a browser to user B's port")
        except TimeoutError:
            pass


def test_consent_page_names_the_client_and_the_exact_destination(fabric: Fabric) -> None:
    me = create_identity(fabric, prefix="consent")
    native_id = fabric.describe()["auth"]["native_client_id"]
    own_page = _auth_url(fabric) + "v2/web/auth-code"
    html = _consent_page(_authorize(fabric, native_id, own_page), me.username, me.password)
    assert 'id="client-name">diaspora-notebook<' in html
    assert f'id="client-id">{native_id}<' in html
    assert "own page, which shows you a code to copy" in unescape(html)
    assert 'id="loopback-warning"' not in html
    # a native client that opted in to loopback redirects: the consent page names the port
    idp = fabric.home.idp_dir
    opted, _ = admin.add_client(idp, f"cli-tool-{uuid.uuid4().hex[:6]}", confidential=False,
                                loopback_redirects=True)
    target = "http://127.0.0.1:49321/callback?x=1"
    html = _consent_page(_authorize(fabric, opted, target), me.username, me.password)
    assert f'id="redirect-destination">{target.replace("&", "&amp;")}<' in html
    assert 'id="loopback-warning"' in html
    # confidential clients can never opt in: they use their registered URIs
    try:
        admin.add_client(idp, "nope", confidential=True, loopback_redirects=True)
        raise AssertionError("a confidential client got loopback redirects")
    except Exception as exc:
        assert "native clients only" in str(exc)


def _confidential(fabric: Fabric, client_id: str,
                  secret: str) -> globus_sdk.ConfidentialAppAuthClient:
    return globus_sdk.ConfidentialAppAuthClient(client_id, secret,
                                                environment=fabric_environment(fabric))


def test_introspection_answers_only_the_tokens_audience(fabric: Fabric) -> None:
    victim = create_identity(fabric, prefix="introspected")
    token = service_token(fabric, victim.username, victim.password)
    service = json.loads(fabric.home.service_client_file.read_text())
    mine = _confidential(fabric, service["client_id"], service["client_secret"])
    info = mine.oauth2_token_introspect(token, include="session_info")
    assert info["active"] is True and info["sub"] == victim.id
    assert service["client_id"] in info["aud"]
    # an unrelated confidential client learns nothing: not the user, not that the token lives
    other_id, other_secret = admin.add_client(fabric.home.idp_dir, "unrelated",
                                              confidential=True)
    assert other_secret is not None
    remember_secret(other_secret)
    other = _confidential(fabric, other_id, other_secret)
    answer = other.oauth2_token_introspect(token, include="identity_set_detail,session_info")
    assert answer.data == {"active": False}
    # nor about the user's auth.globus.org token or its own-audience-less refresh token
    tokens = user_tokens(fabric, victim.username, victim.password, refresh_tokens=True)
    for data in tokens.values():
        for kind in ("access_token", "refresh_token"):
            assert other.oauth2_token_introspect(data[kind]).data == {"active": False}


def test_an_owner_of_a_second_resource_server_introspects_its_tokens(fabric: Fabric) -> None:
    idp = fabric.home.idp_dir
    owner_id, owner_secret = admin.add_client(idp, "two-ids", confidential=True)
    stranger_id, stranger_secret = admin.add_client(idp, "stranger", confidential=True)
    assert owner_secret and stranger_secret
    remember_secret(owner_secret, stranger_secret)
    second_rs = str(uuid.uuid4())
    scope = admin.register_scope(idp, second_rs, "action_all", owner_client_id=owner_id)
    user = create_identity(fabric, prefix="second-rs")
    tokens = user_tokens(fabric, user.username, user.password, [scope])
    access = tokens[second_rs]["access_token"]
    info = _confidential(fabric, owner_id, owner_secret).oauth2_token_introspect(access)
    assert info["active"] is True and info["sub"] == user.id
    assert set(info["aud"]) == {second_rs, owner_id}
    stranger = _confidential(fabric, stranger_id, stranger_secret)
    assert stranger.oauth2_token_introspect(access).data == {"active": False}
    service = json.loads(fabric.home.service_client_file.read_text())
    assert _confidential(fabric, service["client_id"], service["client_secret"]) \
        .oauth2_token_introspect(access).data == {"active": False}
