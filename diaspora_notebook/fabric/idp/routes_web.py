"""Browser pages: authorize (login form), consent, and the auth-code page.

Handlers are thin: they parse, call :mod:`authorize` / :class:`TokenService`, and render
:mod:`pages`. Nothing here logs a password, code or transaction id. Failed logins are logged
with the username typed and the source address, and throttled (:mod:`throttle`): a locked
account or address gets the login page again with HTTP 429, ``Retry-After`` and a message.
"""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from diaspora_notebook.fabric.idp import pages
from diaspora_notebook.fabric.idp.authorize import (
    LOOPBACK_HOSTS,
    PageError,
    destination,
    redirect_location,
    validate,
)
from diaspora_notebook.fabric.idp.context import (
    IdpContext,
    client_address,
    context,
    request_hosts,
)
from diaspora_notebook.fabric.idp.hashing import digest, verify_password
from diaspora_notebook.fabric.idp.responses import html, read_form
from diaspora_notebook.fabric.idp.throttle import Refusal
from diaspora_notebook.fabric.idp.tokens import OAuthError

log = logging.getLogger(__name__)
router = APIRouter(tags=["browser"])
BAD_LOGIN = "Invalid username or password."


@router.get("/v2/oauth2/authorize")
def authorize_page(request: Request) -> Response:
    """Show the login form for a valid authorize request, or an error page (never a redirect)."""
    ctx = context(request)
    try:
        req = validate(dict(request.query_params), ctx.store, ctx.settings,
                       request_hosts(request))
    except PageError as exc:
        return _error(exc)
    return html(pages.login_page(client_name=req.client.name, hidden=req.params))


@router.post("/v2/oauth2/authorize")
async def login(request: Request) -> Response:
    """Check the credentials; on success show the consent page for the requested scopes."""
    try:
        form = await read_form(request)
    except OAuthError as exc:
        return html(pages.error_page("Invalid request", exc.message), exc.status)
    return await run_in_threadpool(_login, context(request), form, request_hosts(request),
                                   client_address(request))


def _login(ctx: IdpContext, form: dict[str, str], hosts: set[str], source: str) -> Response:
    try:
        req = validate(form, ctx.store, ctx.settings, hosts)
    except PageError as exc:
        return _error(exc)
    username = form.get("username", "")[:320]
    password = form.get("password", "")[:1024]

    def again(error: str, status: int) -> Response:
        return html(pages.login_page(client_name=req.client.name, hidden=req.params,
                                     error=error, username=username), status)

    refusal = ctx.throttle.check(username, source)
    if refusal is not None:  # no password is checked while locked: nothing to guess with
        if refusal.first:  # once per lock: hammering a lock must not flood the log
            log.warning("login refused for username %r from %s: %s locked for %d s "
                        "(further refusals during this lock are not logged)", username[:100],
                        source, refusal.scope, refusal.retry_after)
        return _throttled(again(refusal.message, 429), refusal)
    user = ctx.store.user_by_username(username.strip().lower())
    if not verify_password(password, user.password_hash if user else None) or user is None:
        refusal = ctx.throttle.failure(username, source)
        per_account, per_source = ctx.throttle.failures(username, source)
        log.warning("failed login for username %r from %s (%s; failures: %d for the account, "
                    "%d from the address)", username[:100], source,
                    "known account" if user else "no such account", per_account, per_source)
        if refusal is not None:
            return _throttled(again(f"{BAD_LOGIN} {refusal.message}", 429), refusal)
        return again(BAD_LOGIN, 401)
    ctx.throttle.success(username)
    transaction = secrets.token_urlsafe(32)
    ctx.store.insert_transaction(digest(transaction), user.id, req.params,
                                 time.time() + ctx.settings.code_lifetime)
    log.info("user %s logged in for client %s", user.id, req.client.client_id)
    where = destination(req.redirect_uri, ctx.settings, hosts)
    return html(pages.consent_page(
        client_name=req.client.name, client_id=req.client.client_id, username=user.username,
        scopes=[s.scope for s in req.scopes], transaction=transaction, destination=where,
        loopback=where == req.redirect_uri
        and urlsplit(req.redirect_uri).hostname in LOOPBACK_HOSTS))


@router.post("/v2/oauth2/consent")
async def consent(request: Request) -> Response:
    """Allow: issue a code and redirect; Deny: redirect with ``error=access_denied``."""
    try:
        form = await read_form(request)
    except OAuthError as exc:
        return html(pages.error_page("Invalid request", exc.message), exc.status)
    return await run_in_threadpool(_consent, context(request), form, request_hosts(request))


def _consent(ctx: IdpContext, form: dict[str, str], hosts: set[str]) -> Response:
    popped = ctx.store.pop_transaction(digest(form.get("transaction", "")))
    if popped is None:
        return _error(PageError("Login expired",
                                "this login page has expired or was already used",
                                hint="start the login again from your notebook"))
    identity_id, params, auth_time = popped
    try:
        req = validate(params, ctx.store, ctx.settings, hosts)
    except PageError as exc:
        return _error(exc)
    if form.get("decision") != "allow":
        query = {"error": "access_denied", "state": req.state}
    else:
        scopes = [s.scope for s in req.scopes]
        ctx.store.record_consent(identity_id, req.client.client_id, scopes)
        code = ctx.tokens.issue_code(
            client_id=req.client.client_id, identity_id=identity_id,
            redirect_uri=req.redirect_uri,
            scopes=[[s.scope, s.resource_server] for s in req.scopes],
            code_challenge=req.code_challenge, access_type=req.access_type, auth_time=auth_time,
        )
        query = {"code": code, "state": req.state}
    location = redirect_location(req.redirect_uri, query, ctx.settings, hosts)
    return Response(status_code=303, headers={**pages.SECURITY_HEADERS, "Location": location})


@router.get("/v2/web/auth-code")
def auth_code(request: Request) -> Response:
    """The native clients' default redirect target: shows the code for copy and paste."""
    code = request.query_params.get("code", "")
    if code and len(code) <= 512:
        return html(pages.auth_code_page(code))
    error = request.query_params.get("error", "")[:200] or "no authorization code was given"
    return html(pages.error_page("Login not completed", error,
                                 hint="start the login again from your notebook"), 400)


def _throttled(response: Response, refusal: Refusal) -> Response:
    response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def _error(exc: PageError) -> Response:
    return html(pages.error_page(exc.title, exc.message, hint=exc.hint), exc.status)
