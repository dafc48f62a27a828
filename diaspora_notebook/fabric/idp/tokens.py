"""Token issuing and validation: the logic behind ``/v2/oauth2/token`` and its siblings.

Everything here is synchronous and HTTP-free: routes hand in the parsed form and the
``Authorization`` header, and get back a JSON-ready dict or an :class:`OAuthError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
import uuid
from typing import Any

from diaspora_notebook.fabric.errors import FabricError
from diaspora_notebook.fabric.idp.hashing import digest, new_token, secret_matches
from diaspora_notebook.fabric.idp.identities import oidc_claims, subject_identity
from diaspora_notebook.fabric.idp.keys import SigningKey, at_hash
from diaspora_notebook.fabric.idp.scopes import (
    AUTH_RESOURCE_SERVER,
    GrantedScope,
    ScopeError,
    group_by_resource_server,
    resolve_scopes,
)
from diaspora_notebook.fabric.idp.settings import IdpSettings
from diaspora_notebook.fabric.idp.store import Client, Store, TokenRecord

_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


class OAuthError(FabricError):
    """A client mistake, answered with a 4xx JSON body in the Globus shape (reference §2.2)."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.status = status


def invalid_client(description: str = "client authentication failed") -> OAuthError:
    return OAuthError("invalid_client", description, status=401)


def pkce_challenge(verifier: str) -> str:
    """S256: base64url(sha256(verifier)) without padding."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


class TokenService:
    """Issues, refreshes, revokes and introspects tokens for one IdP instance."""

    def __init__(self, settings: IdpSettings, store: Store, key: SigningKey) -> None:
        self.settings = settings
        self.store = store
        self.key = key

    # client authentication --------------------------------------------------------------
    def authenticate_client(self, form: dict[str, str], authorization: str | None) -> Client:
        """Basic auth for confidential clients, ``client_id`` in the form for native ones."""
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() != "basic":
                raise invalid_client("use HTTP Basic authentication for confidential clients")
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
                raise invalid_client("malformed Basic credentials") from exc
            client_id, sep, secret = decoded.partition(":")
            client = self.store.client(client_id) if sep else None
            if (client is None or not client.confidential
                    or not secret_matches(secret, client.secret_digest)):
                raise invalid_client()
            if form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_request", "client_id does not match the credentials")
            return client
        native_id = form.get("client_id")
        if not native_id:
            raise invalid_client("client authentication is required")
        client = self.store.client(native_id)
        if client is None:
            raise invalid_client()
        if client.confidential:
            raise invalid_client("confidential clients must authenticate with HTTP Basic")
        return client

    # /v2/oauth2/token ------------------------------------------------------------------
    def grant(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        """Dispatch on ``grant_type``; the client is authenticated before anything else."""
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        client = self.authenticate_client(form, authorization)
        if grant_type == "authorization_code":
            return self._authorization_code(client, form)
        if grant_type == "refresh_token":
            return self._refresh(client, form)
        if grant_type == "client_credentials":
            return self._client_credentials(client, form)
        raise OAuthError("unsupported_grant_type", "this grant type is not supported")

    def _authorization_code(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        code = form.get("code", "")
        if not code:
            raise OAuthError("invalid_request", "code is required")
        code_digest = digest(code)
        record = self.store.code(code_digest)
        bad = OAuthError("invalid_grant", "the authorization code is invalid, expired or used")
        if record is None or record["client_id"] != client.client_id:
            raise bad
        if record["used"]:
            self.store.revoke_by_code(code_digest)
            raise bad
        if record["expires_at"] < time.time():
            raise bad
        if form.get("redirect_uri", "") != record["redirect_uri"]:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorize request")
        challenge = record["code_challenge"]
        if challenge is not None:
            verifier = form.get("code_verifier", "")
            if not _VERIFIER.match(verifier) or pkce_challenge(verifier) != challenge:
                raise OAuthError("invalid_grant", "the PKCE code_verifier does not match")
        elif not client.confidential:
            raise bad  # cannot happen: authorize requires PKCE from native clients
        if not self.store.mark_code_used(code_digest):
            self.store.revoke_by_code(code_digest)
            raise bad
        grouped: dict[str, list[str]] = {}
        for scope, rs in record["scopes"]:
            grouped.setdefault(rs, []).append(scope)
        if self.store.user_by_id(record["identity_id"]) is None:
            raise bad
        return self._issue(
            client, record["identity_id"], subject_is_client=False, grouped=grouped,
            refresh=record["access_type"] == "offline", auth_time=record["auth_time"],
            origin_code=code_digest,
        )

    def _refresh(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        refresh_token = form.get("refresh_token", "")
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        record = self.store.token(digest(refresh_token))
        now = time.time()
        if (record is None or record.kind != "refresh" or record.client_id != client.client_id
                or not record.active(now)
                or subject_identity(self.store, record.subject,
                                    is_client=record.subject_is_client) is None):
            raise OAuthError("invalid_grant", "the refresh token is invalid or revoked")
        access_token = new_token("AT")
        self.store.insert_token(TokenRecord(
            digest(access_token), "access", record.grant_id, client.client_id, record.subject,
            record.subject_is_client, record.resource_server, record.scope, now,
            now + self.settings.access_token_lifetime, record.auth_time, record.origin_code,
            revoked=False,
        ))
        return {
            "access_token": access_token, "scope": record.scope,
            "resource_server": record.resource_server,
            "expires_in": self.settings.access_token_lifetime, "token_type": "Bearer",
            "state": "_default", "refresh_token": refresh_token, "other_tokens": [],
        }

    def _client_credentials(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        if not client.confidential:
            raise OAuthError("unauthorized_client",
                             "only confidential clients may use client_credentials")
        scope = form.get("scope", "")
        if not scope:
            raise OAuthError("invalid_scope", "scope is required")
        grouped = group_by_resource_server(self.resolve(scope))
        return self._issue(client, client.client_id, subject_is_client=True, grouped=grouped,
                           refresh=False, auth_time=time.time(), origin_code=None)

    def resolve(self, scope: str) -> list[GrantedScope]:
        """Scopes of a request, or ``invalid_scope``."""
        try:
            return resolve_scopes(scope, self.store.scope_registered)
        except ScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from exc

    def _issue(self, client: Client, subject: str, *, subject_is_client: bool,
               grouped: dict[str, list[str]], refresh: bool, auth_time: float,
               origin_code: str | None) -> dict[str, Any]:
        """One access token (and refresh token) per resource server; auth.globus.org on top."""
        now = time.time()
        lifetime = self.settings.access_token_lifetime
        entries: list[dict[str, Any]] = []
        for rs, scopes in grouped.items():
            grant_id = str(uuid.uuid4())
            scope_text = " ".join(scopes)
            entry: dict[str, Any] = {"access_token": new_token("AT"), "scope": scope_text,
                                     "resource_server": rs, "expires_in": lifetime,
                                     "token_type": "Bearer", "state": "_default"}
            kinds: list[tuple[str, str, float | None]] = [
                ("access", entry["access_token"], now + lifetime)]
            if refresh:
                entry["refresh_token"] = new_token("RT")
                kinds.append(("refresh", entry["refresh_token"], None))
            for kind, value, expires_at in kinds:
                self.store.insert_token(TokenRecord(
                    digest(value), kind, grant_id, client.client_id, subject, subject_is_client,
                    rs, scope_text, now, expires_at, auth_time, origin_code, revoked=False,
                ))
            entries.append(entry)
        response: dict[str, Any] = {**entries[0], "other_tokens": entries[1:]}
        if "openid" in grouped.get(AUTH_RESOURCE_SERVER, []):
            response["id_token"] = self._id_token(client, subject, subject_is_client,
                                                  auth_time, entries[0]["access_token"])
        return response

    def _id_token(self, client: Client, subject: str, subject_is_client: bool,
                  auth_time: float, access_token: str) -> str:
        identity = subject_identity(self.store, subject, is_client=subject_is_client)
        if identity is None:
            raise OAuthError("invalid_grant", "the account no longer exists")
        now = int(time.time())
        claims = oidc_claims(identity, auth_time)
        claims.update({
            "iss": self.settings.issuer, "aud": client.client_id, "iat": now, "nbf": now,
            "exp": now + self.settings.access_token_lifetime, "at_hash": at_hash(access_token),
            "identity_set": [{**oidc_claims(identity, auth_time),
                              "username": identity["username"]}],
        })
        return self.key.sign(claims)

    # revoke / introspect / bearer ------------------------------------------------------
    def revoke(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        """Revoke a token the client owns; a refresh token takes its access tokens with it."""
        client = self.authenticate_client(form, authorization)
        token = form.get("token", "")
        if not token:
            raise OAuthError("invalid_request", "token is required")
        record = self.store.token(digest(token))
        if record is not None and record.client_id == client.client_id:
            if record.kind == "refresh":
                self.store.revoke_grant(record.grant_id)
            else:
                self.store.revoke_token(record.token_digest)
        return {"active": False}

    def introspect(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        """RFC 7662 in the Globus shape; confidential clients only (they are resource servers).

        Only ACCESS tokens can be active here. A resource server introspects what a caller sent
        as a bearer token, and a refresh token (which never expires) must not pass for one: it
        answers ``{"active": false}``, like an unknown token. The SDK never introspects refresh
        tokens; it only sends them to the token endpoint, which is unaffected.

        A client learns about a token only if it is in the token's audience: the resource
        server the token was issued for, or a client registered as that resource server's
        owner (:meth:`Store.resource_server_owners`). To any other client every token is
        ``{"active": false}``, as if unknown: it learns neither whose it is nor that it exists.
        """
        if not authorization:
            raise invalid_client("introspection requires a confidential client (HTTP Basic)")
        client = self.authenticate_client(form, authorization)
        token = form.get("token", "")
        if not token:
            raise OAuthError("invalid_request", "token is required")
        record = self.store.token(digest(token))
        if (record is None or record.kind != "access" or record.expires_at is None
                or not record.active(time.time())):
            return {"active": False}
        aud = self.store.resource_server_owners(record.resource_server)
        if client.client_id not in aud:
            return {"active": False}
        identity = subject_identity(self.store, record.subject,
                                    is_client=record.subject_is_client)
        if identity is None:
            return {"active": False}
        result: dict[str, Any] = {
            "active": True, "token_type": "Bearer", "scope": record.scope,
            "client_id": record.client_id, "sub": record.subject,
            "username": identity["username"], "name": identity["name"],
            "email": identity["email"], "iat": int(record.issued_at), "nbf": int(record.issued_at),
            "aud": aud, "iss": self.settings.issuer.rstrip("/"), "exp": int(record.expires_at),
        }
        include = {part.strip() for part in form.get("include", "").split(",")}
        if "identity_set" in include:
            result["identity_set"] = [record.subject]
        if "identity_set_detail" in include:
            result["identity_set_detail"] = [identity]
        if "session_info" in include:
            result["session_info"] = {
                "session_id": record.grant_id,
                "authentications": {record.subject: {"auth_time": int(record.auth_time),
                                                     "idp": identity["identity_provider"]}},
            }
        return result

    def bearer(self, authorization: str | None, *, resource_server: str) -> TokenRecord:
        """The active access token of a ``Bearer`` header for ``resource_server``, else 401."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise OAuthError("invalid_token", "a Bearer access token is required", status=401)
        record = self.store.token(digest(value.strip()))
        if (record is None or record.kind != "access" or not record.active(time.time())
                or record.resource_server != resource_server):
            raise OAuthError("invalid_token", "the access token is invalid or expired",
                             status=401)
        return record

    # authorization codes ---------------------------------------------------------------
    def issue_code(self, *, client_id: str, identity_id: str, redirect_uri: str,
                   scopes: list[list[str]], code_challenge: str | None, access_type: str,
                   auth_time: float) -> str:
        """A single-use code valid for ``code_lifetime`` seconds; only its digest is stored."""
        code = secrets.token_urlsafe(32)
        self.store.insert_code(
            digest(code), client_id=client_id, identity_id=identity_id,
            redirect_uri=redirect_uri, scopes=scopes, code_challenge=code_challenge,
            access_type=access_type, auth_time=auth_time,
            expires_at=time.time() + self.settings.code_lifetime,
        )
        return code
