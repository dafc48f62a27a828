"""Validation of ``/v2/oauth2/authorize`` requests, and where the browser goes afterwards.

An authorize request is checked in an order that keeps redirects safe: first the client, then
the redirect URI (an invalid one gets an error page, never a redirect), then the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from diaspora_notebook.fabric.idp.scopes import GrantedScope, ScopeError, resolve_scopes
from diaspora_notebook.fabric.idp.settings import IdpSettings
from diaspora_notebook.fabric.idp.store import Client, Store

AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "scope", "state", "response_type",
                    "access_type", "code_challenge", "code_challenge_method")
AUTH_CODE_PATH = "/v2/web/auth-code"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_PARAM_LENGTH = 4096


class PageError(Exception):
    """Shown as an HTML error page: the browser stays here and is never redirected."""

    def __init__(self, title: str, message: str, *, hint: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.hint = hint
        self.status = status


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorize request; ``params`` are echoed as hidden fields in the forms."""

    client: Client
    redirect_uri: str
    scopes: list[GrantedScope]
    state: str
    access_type: str
    code_challenge: str | None
    params: dict[str, str]


def validate(params: dict[str, str], store: Store, settings: IdpSettings,
             request_hosts: set[str]) -> AuthorizeRequest:
    """Check an authorize request; raises :class:`PageError` with a user-readable reason."""
    kept = {k: params[k] for k in AUTHORIZE_PARAMS if params.get(k)}
    if any(len(v) > MAX_PARAM_LENGTH for v in kept.values()):
        raise PageError("Invalid request", "a parameter of this login request is too long")
    client = store.client(kept.get("client_id", ""))
    if client is None:
        raise PageError("Unknown application",
                        "this login link names a client that is not registered here",
                        hint="ask the fabric administrator to register the client")
    redirect_uri = kept.get("redirect_uri", "")
    if not redirect_allowed(client, redirect_uri, settings, request_hosts):
        raise PageError("Invalid redirect URI",
                        "the application asked to send you to an address it did not register",
                        hint="register the redirect URI for this client (add_client)")
    if kept.get("response_type") != "code":
        raise PageError("Invalid request", "only response_type=code is supported")
    access_type = kept.get("access_type", "online")
    if access_type not in ("online", "offline"):
        raise PageError("Invalid request", "access_type must be online or offline")
    challenge = kept.get("code_challenge")
    if challenge is not None:
        if kept.get("code_challenge_method") != "S256" or not _CHALLENGE.match(challenge):
            raise PageError("Invalid request",
                            "PKCE needs a code_challenge with code_challenge_method=S256")
    elif not client.confidential:
        raise PageError("Invalid request", "native clients must use PKCE (S256)")
    try:
        scopes = resolve_scopes(kept.get("scope", ""), store.scope_registered)
    except ScopeError as exc:
        raise PageError("Invalid scope", f"invalid_scope: {exc}",
                        hint="the resource server must register its scope first") from exc
    return AuthorizeRequest(client, redirect_uri, scopes, kept.get("state", "_default"),
                            access_type, challenge, kept)


def redirect_allowed(client: Client, uri: str, settings: IdpSettings,
                     request_hosts: set[str]) -> bool:
    """Registered URIs; for native clients also this IdP's auth-code page, and loopback URIs
    (any port) only for a client registered with ``loopback_redirects``: on a shared machine
    any local account can listen on a loopback port and collect a code sent there."""
    if not uri or len(uri) > 2048:
        return False
    if uri in client.redirect_uris:
        return True
    if client.confidential:
        return False
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if parts.fragment or parts.username or parts.password or not host:
        return False
    if is_own_auth_code_page(uri, settings, request_hosts):
        return True
    return parts.scheme == "http" and host in LOOPBACK_HOSTS and client.loopback_redirects


def is_own_auth_code_page(uri: str, settings: IdpSettings, request_hosts: set[str]) -> bool:
    """True for ``<this IdP>/v2/web/auth-code``, reached directly or through a proxy prefix."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    own_hosts = {urlsplit(settings.issuer).netloc.lower(), *request_hosts}
    return (parts.scheme in ("http", "https") and parts.path.endswith(AUTH_CODE_PATH)
            and parts.netloc.lower() in own_hosts and not parts.fragment)


def destination(redirect_uri: str, settings: IdpSettings, request_hosts: set[str]) -> str:
    """Where the browser goes after Allow, in words for the consent page."""
    if is_own_auth_code_page(redirect_uri, settings, request_hosts):
        return "this sign-in service's own page, which shows you a code to copy"
    return redirect_uri


def redirect_location(redirect_uri: str, query: dict[str, str], settings: IdpSettings,
                      request_hosts: set[str]) -> str:
    """Where to send the browser after consent.

    The IdP's own auth-code page is addressed RELATIVELY (from ``/v2/oauth2/consent``), so it
    also works when the browser reaches the IdP through a reverse-proxy path prefix.
    """
    encoded = urlencode(query)
    if is_own_auth_code_page(redirect_uri, settings, request_hosts) and not urlsplit(
            redirect_uri).query:
        return f"../web/auth-code?{encoded}"
    return f"{redirect_uri}{'&' if urlsplit(redirect_uri).query else '?'}{encoded}"
