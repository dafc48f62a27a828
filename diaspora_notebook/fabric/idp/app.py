"""``create_app``: assembles the local Globus Auth-compatible identity provider.

The routers live in :mod:`routes_web` (browser pages) and :mod:`routes_oauth` (JSON API);
this module wires state, discovery documents and the error handlers that guarantee a
Globus-shaped 4xx JSON body for every client mistake.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from diaspora_notebook.fabric.idp import routes_oauth, routes_web
from diaspora_notebook.fabric.idp.context import IdpContext
from diaspora_notebook.fabric.idp.keys import ALGORITHM, SigningKey
from diaspora_notebook.fabric.idp.responses import error_json, oauth_error_json
from diaspora_notebook.fabric.idp.settings import IdpSettings
from diaspora_notebook.fabric.idp.store import Store
from diaspora_notebook.fabric.idp.throttle import from_settings
from diaspora_notebook.fabric.idp.tokens import OAuthError, TokenService

log = logging.getLogger(__name__)
_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def create_app(settings: IdpSettings) -> FastAPI:
    """A FastAPI app serving the IdP for ``settings`` (state dir created on first use)."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_path)
    key = SigningKey.load_or_create(settings.key_path)
    throttle = from_settings(settings.login_max_failures_per_user,
                             settings.login_max_failures_per_source, settings.login_lock_seconds,
                             settings.login_lock_max_seconds, settings.login_failure_window)
    ctx = IdpContext(settings, store, key, TokenService(settings, store, key), throttle)

    # redirect_slashes off: Starlette would build that redirect's absolute URL from the Host
    # header, the one redirect a forged Host could aim elsewhere
    app = FastAPI(title="Diaspora local identity provider", docs_url=None, redoc_url=None,
                  openapi_url=None, redirect_slashes=False)
    app.state.idp = ctx
    app.include_router(routes_web.router)
    app.include_router(routes_oauth.router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> dict[str, Any]:
        return discovery_document(settings)

    @app.get("/jwk.json")
    def jwks() -> dict[str, Any]:
        return key.jwks()

    _install_error_handlers(app)
    app.add_middleware(_CatchAll)
    return app


def discovery_document(settings: IdpSettings) -> dict[str, Any]:
    """OIDC discovery; the SDK needs ``jwks_uri`` and ``id_token_signing_alg_values_supported``."""
    url = settings.url
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": url("v2/oauth2/authorize"),
        "token_endpoint": url("v2/oauth2/token"),
        "revocation_endpoint": url("v2/oauth2/token/revoke"),
        "introspection_endpoint": url("v2/oauth2/token/introspect"),
        "userinfo_endpoint": url("v2/oauth2/userinfo"),
        "jwks_uri": url("jwk.json"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "name", "email",
                             "preferred_username", "organization", "identity_provider",
                             "identity_provider_display_name", "last_authentication"],
    }


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OAuthError)
    async def on_oauth_error(_request: Request, exc: OAuthError) -> JSONResponse:
        return oauth_error_json(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return error_json(status, _HTTP_ERRORS.get(status, "invalid_request"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, _exc: RequestValidationError) -> JSONResponse:
        return error_json(400, "invalid_request", "the request is malformed")



class _CatchAll:
    """Turn a bug into a JSON 500 and log it WITHOUT the exception message.

    Starlette's own ``Exception`` handler re-raises, and uvicorn then logs ``str(exc)``, which
    could quote a form field (a password or token); here only the type and frames are logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("internal error %s in %s\n%s", type(exc).__name__, scope.get("path"),
                      frames)
            if not started:
                response = error_json(500, "server_error", "internal error in the IdP")
                await response(scope, receive, send)
