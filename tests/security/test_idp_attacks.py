"""Attacks on the identity provider, against real processes on 127.0.0.1 (issue 11, items 7-9).

* A refresh token sent as a bearer token is refused by the web service (401, a clear error),
  while its access token works and the unmodified globus-sdk still refreshes with it.
* Password guessing: 30 wrong passwords lock the account (429, ``Retry-After``, a message on the
  login page); the right password is refused during the lock and works after it; the IdP log
  names the username and source address and never a password. Spraying one password over many
  accounts locks the source address. The session fabric runs with the default schedule (5 free
  failures, then 1 s doubling to 5 min); a standalone IdP with a short schedule, started with
  the fabric's own launcher, takes the per-address attack so the session's loopback address is
  never locked.
* A hostile ``Host`` / ``X-Forwarded-Host`` changes no redirect and no link; a forwarded host
  counts only from a configured trusted proxy.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import globus_sdk
import pytest
import requests

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.idp import admin
from diaspora_notebook.fabric.service.settings import load_settings
from diaspora_notebook.fabric.testing.idp import IdpServer
from diaspora_notebook.fabric.testing.secrets import remember_secret
from diaspora_notebook.login.form import (
    InvalidCredentialsError,
    complete_login_form,
    parse_page,
)
from diaspora_notebook.testing.tokens import (
    environment_for,
    native_client,
    service_headers,
    service_scope,
    service_url,
    user_tokens,
)

EVIL = "evil.example.org"
HOSTILE = {"Host": EVIL, "X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"}
THROTTLED = "Too many failed login attempts for"


# -- helpers ---------------------------------------------------------------------------------
@dataclass
class LoginPage:
    """The IdP's login form for one authorize request, posted by hand (like a browser)."""

    url: str
    hidden: dict[str, str]

    @classmethod
    def open(cls, authorize_url: str, headers: dict[str, str] | None = None) -> LoginPage:
        page = requests.get(authorize_url, headers=headers, timeout=30, allow_redirects=False)
        assert page.status_code == 200, page.text
        [form] = parse_page(page.text).forms
        assert form.has_password() and not urlsplit(form.action).netloc
        return cls(urljoin(authorize_url, form.action),
                   {name: value for kind, name, value in form.inputs if kind == "hidden"})

    def post(self, username: str, password: str,
             headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(self.url, data={**self.hidden, "username": username,
                                             "password": password},
                             headers=headers, timeout=30, allow_redirects=False)


def authorize_url(client: globus_sdk.NativeAppAuthClient, scopes: list[str]) -> str:
    client.oauth2_start_flow(scopes, refresh_tokens=True)
    return str(client.oauth2_get_authorize_url())


def alert(response: requests.Response) -> str:
    return " ".join(parse_page(response.text).alerts)


def wrong_password() -> str:
    value = f"wrong-{uuid.uuid4().hex}"
    remember_secret(value)  # the session's log audit must not find it either
    return value


def new_account(state_dir: Path, prefix: str) -> tuple[str, str]:
    username = f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"
    password = f"pw-{uuid.uuid4().hex}"
    remember_secret(password)
    admin.add_user(state_dir, username, password)
    return username, password


def auth_url(fabric: Fabric) -> str:
    url = str(fabric.describe()["auth"]["url"])
    return url if url.endswith("/") else url + "/"


def idp_log(fabric: Fabric) -> str:
    return (fabric.home.run_dir / "idp.log").read_text(errors="replace")


# -- item 7: refresh tokens are not bearer tokens --------------------------------------------
def test_refresh_token_is_refused_as_a_bearer_token(fabric: Fabric) -> None:
    username, password = new_account(fabric.home.idp_dir, "refresh")
    rs = fabric.describe()["service"]["resource_server"]
    tokens = user_tokens(fabric, username, password, [service_scope(fabric)],
                         refresh_tokens=True)[rs]
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    assert refresh and refresh != access
    url = service_url(fabric) + "v1/list_topics"

    refused = requests.get(url, headers=service_headers(refresh), timeout=30)
    assert refused.status_code == 401, refused.text
    body = refused.json()
    assert body["code"] == "invalid_token" and "refresh token" in body["message"]
    assert "access token" in body["hint"] and refresh not in refused.text
    assert requests.get(url, headers=service_headers(access), timeout=30).status_code == 200

    # at the root: introspection (what every resource server asks) calls it inactive
    settings = load_settings(str(fabric.home.service_dir / "config.json"))
    service = globus_sdk.ConfidentialAppAuthClient(settings.client_id, settings.client_secret(),
                                                   environment=environment_for(auth_url(fabric)))
    assert service.oauth2_token_introspect(refresh).data == {"active": False}
    info = service.oauth2_token_introspect(access)
    assert info["active"] is True and info["exp"] > time.time()

    # the unmodified globus-sdk still refreshes with it, and the new access token works
    authorizer = globus_sdk.RefreshTokenAuthorizer(refresh, native_client(fabric))
    header = authorizer.get_authorization_header()
    assert header and header != f"Bearer {access}"
    remember_secret(header.split(" ", 1)[1])
    fresh = requests.get(url, headers={"Authorization": header}, timeout=30)
    assert fresh.status_code == 200, fresh.text
    again = requests.get(url, headers=service_headers(refresh), timeout=30)
    assert again.status_code == 401  # still refused after it was used to refresh


# -- item 8: login throttling ----------------------------------------------------------------
def test_thirty_wrong_passwords_lock_the_account_until_the_penalty_expires(
        fabric: Fabric) -> None:
    username, password = new_account(fabric.home.idp_dir, "guess")
    url = authorize_url(native_client(fabric), [service_scope(fabric)])
    page = LoginPage.open(url)
    wrong = [wrong_password() for _ in range(30)]
    started = time.monotonic()
    responses = [page.post(username, guess) for guess in wrong]
    statuses = [r.status_code for r in responses]
    # the default schedule: 4 plain refusals, then the 5th failure starts a lock
    assert statuses[:4] == [401] * 4 and set(statuses[4:]) == {429}, statuses
    for response in responses[4:]:
        assert THROTTLED + " this account" in alert(response)
        assert int(response.headers["retry-after"]) >= 1
        assert parse_page(response.text).forms[0].has_password()  # can try again later

    # escalate deterministically: each failure after a lock doubles it (1, 2, 4 s)
    lock = int(responses[-1].headers["retry-after"])
    while lock < 4:
        time.sleep(lock + 0.2)
        failed = page.post(username, wrong_password())
        assert failed.status_code == 429
        lock = int(failed.headers["retry-after"])
    locked_at = time.monotonic()

    # the right password during the lock: refused, with the message (also via the toolkit)
    during = page.post(username, password)
    assert during.status_code == 429 and THROTTLED + " this account" in alert(during)
    with pytest.raises(InvalidCredentialsError, match="Too many failed login attempts") as lock_:
        complete_login_form(authorize_url(native_client(fabric), [service_scope(fabric)]),
                            username, password)
    assert re.search(r"try again in \d+ s", lock_.value.hint), lock_.value.hint
    assert time.monotonic() - locked_at < lock, "the checks outlived the lock; retry"

    # after the penalty a legitimate login goes through, with the same form
    time.sleep(max(0.0, locked_at + lock + 0.3 - time.monotonic()))
    code = complete_login_form(authorize_url(native_client(fabric), [service_scope(fabric)]),
                               username, password)
    assert code
    print(f"30 wrong passwords + escalation to a {lock} s lock: "
          f"{time.monotonic() - started:.1f} s")

    # the log names the account and the address, never a password
    log = idp_log(fabric)
    assert re.search(rf"failed login for username '{re.escape(username)}' from 127\.0\.0\.1",
                     log)
    assert re.search(rf"login refused for username '{re.escape(username)}' from 127\.0\.0\.1",
                     log)
    leaked = [w for w in [*wrong, password] if w in log]
    assert not leaked


def test_a_locked_account_does_not_lock_other_accounts(fabric: Fabric, sdk_identity) -> None:
    victim, _ = new_account(fabric.home.idp_dir, "locked")
    page = LoginPage.open(authorize_url(native_client(fabric), [service_scope(fabric)]))
    for _ in range(5):
        last = page.post(victim, wrong_password())
    assert last.status_code == 429
    bystander = sdk_identity("bystander")  # same address, other account: not throttled
    assert complete_login_form(authorize_url(native_client(fabric), [service_scope(fabric)]),
                               bystander.username, bystander.password)


@pytest.fixture(scope="module")
def short_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """A standalone IdP (the fabric's own launcher) with a short schedule; trusts 127.0.0.1 as a
    proxy through ``DIASPORA_IDP_TRUSTED_PROXIES``. Yields ``(base_url, state_dir, native_id)``.
    """
    server = IdpServer.at(
        tmp_path_factory.mktemp("short-idp"),
        args=["--login-max-failures-per-user", "3", "--login-max-failures-per-source", "6",
              "--login-lock-seconds", "2", "--login-lock-max-seconds", "4",
              "--login-failure-window", "60"],
        env={"DIASPORA_IDP_TRUSTED_PROXIES": "127.0.0.1"})
    native_id, _ = admin.add_client(server.state_dir, "notebook", confidential=False)
    with server:
        yield server.base_url, server.state_dir, native_id


def _short_client(short_idp: tuple[str, Path, str]) -> globus_sdk.NativeAppAuthClient:
    base_url, _, native_id = short_idp
    return globus_sdk.NativeAppAuthClient(native_id, environment=environment_for(base_url))


def test_password_spraying_locks_the_source_address(short_idp) -> None:
    _, state_dir, _ = short_idp
    accounts = [new_account(state_dir, "spray") for _ in range(7)]
    page = LoginPage.open(authorize_url(_short_client(short_idp), ["openid"]))
    # one guess per account: no account reaches its limit of 3, the address reaches its 6
    statuses = [page.post(name, wrong_password()).status_code for name, _ in accounts[:6]]
    assert statuses == [401] * 5 + [429], statuses
    name, password = accounts[6]
    during = page.post(name, password)
    assert during.status_code == 429 and THROTTLED + " your address" in alert(during)
    time.sleep(int(during.headers["retry-after"]) + 0.3)
    assert complete_login_form(authorize_url(_short_client(short_idp), ["openid"]),
                               name, password)


def test_forwarded_for_from_a_trusted_proxy_decides_the_source(short_idp) -> None:
    _, state_dir, _ = short_idp
    page = LoginPage.open(authorize_url(_short_client(short_idp), ["openid"]))
    sprayer = {"X-Forwarded-For": "198.51.100.7"}
    statuses = [page.post(new_account(state_dir, "xff")[0], wrong_password(), sprayer)
                .status_code for _ in range(6)]
    assert statuses[-1] == 429, statuses
    assert page.post(*new_account(state_dir, "xff"), sprayer).status_code == 429
    # another client behind the same proxy is not locked out
    name, password = new_account(state_dir, "xff")
    other = page.post(name, password, {"X-Forwarded-For": "198.51.100.8"})
    assert other.status_code == 200 and "Allow access" in other.text


# -- item 9: hostile Host / X-Forwarded-Host -------------------------------------------------
def test_hostile_host_headers_change_no_redirect_and_no_link(fabric: Fabric) -> None:
    client = native_client(fabric)
    client.oauth2_start_flow([service_scope(fabric)])
    url = str(client.oauth2_get_authorize_url())
    # a foreign "auth-code page" on the attacker's host is not ours, whatever the headers say
    evil_redirect = re.sub(r"redirect_uri=[^&]+",
                           f"redirect_uri=https%3A%2F%2F{EVIL}%2Fv2%2Fweb%2Fauth-code", url)
    refused = requests.get(evil_redirect, headers=HOSTILE, timeout=30, allow_redirects=False)
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "Invalid redirect URI" in refused.text

    # a whole login with hostile headers on every request: nothing points at the hostile host
    username, password = new_account(fabric.home.idp_dir, "host")
    page = LoginPage.open(url, HOSTILE)
    consent = page.post(username, password, HOSTILE)
    assert consent.status_code == 200 and EVIL not in consent.text
    [form] = parse_page(consent.text).forms
    assert not urlsplit(form.action).netloc
    done = requests.post(urljoin(page.url, form.action),
                         data={**{n: v for k, n, v in form.inputs if k == "hidden"},
                               "decision": "allow"},
                         headers=HOSTILE, timeout=30, allow_redirects=False)
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith("../web/auth-code?") and EVIL not in location
    code = parse_qs(urlsplit(location).query)["code"][0]
    tokens = client.oauth2_exchange_code_for_tokens(code)  # the code still works for its owner
    remember_secret(*(t["access_token"] for t in tokens.by_resource_server.values()))

    # discovery and the trailing-slash redirect Starlette would build from Host
    discovery = requests.get(auth_url(fabric) + ".well-known/openid-configuration", headers=HOSTILE,
                             timeout=30).json()
    assert all(value.startswith(auth_url(fabric)) for key, value in discovery.items()
               if key.endswith(("_endpoint", "_uri")))
    assert EVIL not in str(discovery)
    slash = requests.get(auth_url(fabric) + "v2/oauth2/authorize/", headers=HOSTILE, timeout=30,
                         allow_redirects=False)
    assert slash.status_code == 404 and "location" not in slash.headers


def test_forwarded_host_counts_only_from_a_trusted_proxy(fabric: Fabric, short_idp) -> None:
    """Behind a configured proxy (127.0.0.1 here) its public host is ours; elsewhere never."""
    base_url, state_dir, _ = short_idp
    client = _short_client(short_idp)
    port = urlsplit(base_url).port
    proxied = f"https://hub.example.org/user/x/proxy/{port}/v2/web/auth-code"
    client.oauth2_start_flow(["openid"], redirect_uri=proxied)
    url = str(client.oauth2_get_authorize_url())
    forwarded = {"X-Forwarded-Host": "hub.example.org"}
    username, password = new_account(state_dir, "proxy")
    page = LoginPage.open(url, forwarded)
    consent = page.post(username, password, forwarded)
    assert consent.status_code == 200, consent.text
    # the session fabric trusts no proxy (the default): the same request is refused there
    session_client = native_client(fabric)
    session_client.oauth2_start_flow(["openid"], redirect_uri=proxied.replace(
        str(port), str(urlsplit(auth_url(fabric)).port)))
    refused = requests.get(str(session_client.oauth2_get_authorize_url()), headers=forwarded,
                           timeout=30, allow_redirects=False)
    assert refused.status_code == 400 and "location" not in refused.headers
