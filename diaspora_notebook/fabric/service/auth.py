"""Who is calling: bearer-token introspection at the identity provider, with a short cache.

The caller is the token's ``sub`` and nothing else. Tokens are never logged; the cache is
keyed by the token's SHA-256 and lives at most ``introspect_cache_seconds`` (<= 5 s), so a
revoked token stops working within that time.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import requests
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.topic_names import is_safe_principal

log = logging.getLogger(__name__)
_MAX_TOKEN_LENGTH = 8192
_MAX_CACHE_ENTRIES = 10_000
_bearer = HTTPBearer(auto_error=False, description="A Globus Auth access token for the service")


class Introspector(Protocol):
    def introspect(self, token: str) -> dict[str, Any]:
        """The identity provider's introspection answer for ``token``."""


def _idp_down(message: str) -> ServiceError:
    return ServiceError(503, "identity_provider_unreachable", message,
                        hint="retry in a moment; if it persists, the operator should check "
                             "the service's auth_url and client credentials")


class IntrospectionClient:
    """POST ``<auth_url>v2/oauth2/token/introspect`` with the service's client credentials."""

    def __init__(self, auth_url: str, client_id: str, client_secret: str, *,
                 cache_seconds: float = 5.0, timeout: float = 5.0,
                 session: requests.Session | None = None) -> None:
        self._url = auth_url + "v2/oauth2/token/introspect"
        self._auth = (client_id, client_secret)
        self._ttl = min(cache_seconds, 5.0)
        self._timeout = timeout
        self._session = session or requests.Session()
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def introspect(self, token: str) -> dict[str, Any]:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] > now:
                return hit[1]
        result = self._fetch(token)
        if self._ttl > 0:
            with self._lock:
                if len(self._cache) >= _MAX_CACHE_ENTRIES:
                    self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                    if len(self._cache) >= _MAX_CACHE_ENTRIES:
                        self._cache.clear()
                self._cache[key] = (now + self._ttl, result)
        return result

    def _fetch(self, token: str) -> dict[str, Any]:
        try:
            response = self._session.post(self._url, auth=self._auth, data={"token": token},
                                          timeout=self._timeout)
        except requests.RequestException as exc:
            log.warning("introspection failed: %s", type(exc).__name__)
            raise _idp_down(f"the identity provider is unreachable ({type(exc).__name__})") \
                from None
        if response.status_code in (401, 403):
            raise _idp_down("the identity provider rejected the service's client credentials")
        if response.status_code != 200:
            raise _idp_down(f"the identity provider answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise _idp_down("the identity provider's answer is not JSON") from None
        if not isinstance(data, dict):
            raise _idp_down("the identity provider's answer is not a JSON object")
        return data

    def close(self) -> None:
        self._session.close()


@dataclass(frozen=True)
class CallerIdentity:
    """The authenticated caller: ``id`` is the token's ``sub``."""

    id: str
    username: str | None
    scopes: frozenset[str]


def get_introspector(request: Request) -> Introspector:
    """The app's introspector (tests replace this dependency)."""
    return request.app.state.introspector  # type: ignore[no-any-return]


def _unauthorized(code: str, message: str, hint: str | None = None) -> ServiceError:
    return ServiceError(401, code, message,
                        hint=hint or "send the access token of your login (not its refresh "
                                     "token); if it expired, log in again",
                        headers={"WWW-Authenticate": "Bearer"})


_ACCESS_TOKEN_TYPES = frozenset({"bearer", "access_token"})


def _require_access_token(info: dict[str, Any], scope: str = "") -> None:
    """Only an active ACCESS token authorizes a call: never a refresh token, never forever.

    Our IdP (like Globus Auth) introspects a refresh token as inactive; other IdPs call it
    active with a ``token_type`` such as ``refresh_token``, or leave out ``exp``. All three are
    refused, so a stolen long-lived refresh token is no bearer credential here.

    A token issued for another resource server (e.g. only ``openid email``) is inactive too:
    the IdP, like Globus Auth, answers introspection only for tokens whose audience includes
    the asking client, so the service cannot tell it from a revoked one (and must not be able
    to). The hint names the scope to log in with.
    """
    if info.get("active") is not True:
        raise _unauthorized("invalid_token", "the bearer token is not an active access token "
                            "for this service (it is expired, revoked, unknown, a refresh "
                            "token, or issued for another service)",
                            hint=("send the access token of a login that requested "
                                  f"{scope} (not its refresh token); if it expired, log in "
                                  "again") if scope else None)
    token_type = info.get("token_type")
    if token_type is not None and str(token_type).lower() not in _ACCESS_TOKEN_TYPES:
        raise _unauthorized("not_an_access_token",
                            f"a {str(token_type)[:40]!r} token cannot authorize a call; "
                            "only access tokens can")
    exp = info.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise _unauthorized("token_without_expiry",
                            "the identity provider gave this token no expiry, so it is not "
                            "accepted as an access token")
    if exp <= time.time():
        raise _unauthorized("invalid_token", "the access token has expired")


def require_caller(
    request: Request,
    introspector: Annotated[Introspector, Depends(get_introspector)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    subject: Annotated[str | None, Header(alias="Subject", description=(
        "Optional; must equal the token's identity if sent"))] = None,
) -> CallerIdentity:
    """Authorize the request by introspection; 401 / 403 / 503 on failure."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise _unauthorized("malformed_authorization",
                                "the Authorization header is not 'Bearer <token>'")
        raise _unauthorized("missing_token", "no bearer token in the Authorization header")
    token = credentials.credentials
    if len(token) > _MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise _unauthorized("malformed_authorization", "the bearer token is malformed")
    info = introspector.introspect(token)
    settings = request.app.state.settings
    _require_access_token(info, settings.required_scope)
    sub = info.get("sub")
    if not isinstance(sub, str) or not is_safe_principal(sub):
        raise ServiceError(403, "unsupported_identity",
                           "the token's identity cannot be used as a Kafka user",
                           hint="log in with a Globus identity")
    scopes = frozenset(str(info.get("scope") or "").split())
    if settings.required_scope not in scopes:
        raise ServiceError(403, "missing_scope",
                           f"the token lacks the scope {settings.required_scope}",
                           hint=f"log in again requesting {settings.required_scope}")
    aud = info.get("aud")
    audiences = {aud} if isinstance(aud, str) else set(aud or [])
    if audiences and settings.resource_server not in audiences:
        raise ServiceError(403, "wrong_audience", "the token was not issued for this service",
                           hint="log in again requesting the service's scope")
    if subject is not None and subject.strip().lower() != sub.lower():
        raise ServiceError(403, "subject_mismatch",
                           "the Subject header does not match the token's identity",
                           hint="omit the Subject header; the service uses the token's identity")
    username = info.get("username")
    return CallerIdentity(id=sub, username=username if isinstance(username, str) else None,
                          scopes=scopes)


Caller = Annotated[CallerIdentity, Depends(require_caller)]
