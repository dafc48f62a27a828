"""JSON endpoints used by globus-sdk: token, revoke, introspect, userinfo, identities, consents.

Every client mistake becomes an :class:`OAuthError`, which the app turns into a 4xx Globus
error body; a 5xx here would make the SDK retry for ~15 s (reference §2.2).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from diaspora_notebook.fabric.idp.context import IdpContext, context
from diaspora_notebook.fabric.idp.identities import find_identities, oidc_claims, subject_identity
from diaspora_notebook.fabric.idp.responses import NO_STORE, read_form
from diaspora_notebook.fabric.idp.scopes import AUTH_RESOURCE_SERVER
from diaspora_notebook.fabric.idp.tokens import OAuthError

router = APIRouter(tags=["oauth2"])
MAX_LOOKUPS = 100


@router.post("/v2/oauth2/token")
async def token(request: Request) -> JSONResponse:
    """authorization_code (PKCE), refresh_token and client_credentials grants."""
    form = await read_form(request)
    result = await run_in_threadpool(context(request).tokens.grant, form,
                                     request.headers.get("authorization"))
    return JSONResponse(result, headers=NO_STORE)


@router.post("/v2/oauth2/token/revoke")
async def revoke(request: Request) -> JSONResponse:
    form = await read_form(request)
    result = await run_in_threadpool(context(request).tokens.revoke, form,
                                     request.headers.get("authorization"))
    return JSONResponse(result, headers=NO_STORE)


@router.post("/v2/oauth2/token/introspect")
async def introspect(request: Request) -> JSONResponse:
    form = await read_form(request)
    result = await run_in_threadpool(context(request).tokens.introspect, form,
                                     request.headers.get("authorization"))
    return JSONResponse(result, headers=NO_STORE)


@router.api_route("/v2/oauth2/userinfo", methods=["GET", "POST"])
def userinfo(request: Request) -> JSONResponse:
    """OIDC claims of the token's identity; needs an auth.globus.org token carrying openid."""
    ctx = context(request)
    record = ctx.tokens.bearer(request.headers.get("authorization"),
                               resource_server=AUTH_RESOURCE_SERVER)
    if "openid" not in record.scope.split():
        raise OAuthError("insufficient_scope", "the token does not carry the openid scope",
                         status=403)
    identity = _identity_or_401(ctx, record.subject, record.subject_is_client)
    return JSONResponse(oidc_claims(identity, record.auth_time), headers=NO_STORE)


@router.get("/v2/api/identities")
def identities(request: Request) -> JSONResponse:
    """``?ids=a,b`` or ``?usernames=x,y``; unknown ones are omitted, as Globus does."""
    ctx = context(request)
    ctx.tokens.bearer(request.headers.get("authorization"), resource_server=AUTH_RESOURCE_SERVER)
    ids = _split(request.query_params.get("ids"))
    usernames = _split(request.query_params.get("usernames"))
    if ids and usernames:
        raise OAuthError("invalid_request", "give ids or usernames, not both")
    if len(ids) + len(usernames) > MAX_LOOKUPS:
        raise OAuthError("invalid_request", f"look up at most {MAX_LOOKUPS} identities at once")
    found = find_identities(ctx.store, ids=ids, usernames=usernames)
    return JSONResponse({"identities": found})


@router.get("/v2/api/identities/{identity_id}/consents")
def consents(identity_id: str, request: Request) -> JSONResponse:
    """The consents this identity granted (only readable with that identity's own token)."""
    ctx = context(request)
    record = ctx.tokens.bearer(request.headers.get("authorization"),
                               resource_server=AUTH_RESOURCE_SERVER)
    if record.subject != identity_id:
        raise OAuthError("forbidden", "a token may only read its own identity's consents",
                         status=403)
    return JSONResponse({"consents": [_consent(row) for row in ctx.store.consents(identity_id)]})


def _consent(row: dict[str, Any]) -> dict[str, Any]:
    """Every key ``globus_sdk`` ``Consent.load`` requires (reference §2, row 11)."""
    return {
        "id": row["id"], "client": row["client_id"],
        "scope": str(uuid.uuid5(uuid.NAMESPACE_URL, row["scope"])), "scope_name": row["scope"],
        "effective_identity": row["identity_id"], "dependency_path": [row["id"]],
        "created": _iso(row["created"]), "updated": _iso(row["updated"]),
        "last_used": _iso(row["last_used"]), "status": "approved", "allows_refresh": True,
        "auto_approved": False, "atomically_revocable": False,
    }


def _identity_or_401(ctx: IdpContext, subject: str, is_client: bool) -> dict[str, Any]:
    identity = subject_identity(ctx.store, subject, is_client=is_client)
    if identity is None:
        raise OAuthError("invalid_token", "the token's identity no longer exists", status=401)
    return identity


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part.strip()]


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()
