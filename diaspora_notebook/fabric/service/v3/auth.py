"""Who is calling a v3 route: the v1 introspection check, failures in the v3 shapes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from diaspora_notebook.fabric.service.auth import (
    CallerIdentity,
    Introspector,
    get_introspector,
    require_caller,
)
from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.v3.errors import ManagementAuthError, RestError

_bearer = HTTPBearer(auto_error=False, description="A Globus Auth access token for the service")
SubjectHeader = Annotated[str | None, Header(alias="Subject", description=(
    "the caller's identity id (sent by the SDK); must equal the token's identity"))]

# the hosted service's wording of each failed check (its utils.py)
_REASONS = {
    "missing_token": 'Auth token must start with "Bearer ".',
    "malformed_authorization": 'Auth token must start with "Bearer ".',
    "invalid_token": "Token is inactive.",
    "not_an_access_token": "Token is inactive.",
    "token_without_expiry": "Token is inactive.",
    "subject_mismatch": "Token does not belong to the user.",
    "wrong_audience": "Not in the audience set.",
    "missing_scope": "Token lacks the scope for action.",
}


def _check(request: Request, introspector: Introspector,
           credentials: HTTPAuthorizationCredentials | None,
           subject: str | None) -> CallerIdentity:
    return require_caller(request, introspector, credentials, subject)


def management_caller(
    request: Request,
    introspector: Annotated[Introspector, Depends(get_introspector)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    subject: SubjectHeader = None,
) -> CallerIdentity:
    """The caller of a management route; a refused token is HTTP 200 ``status: error``."""
    try:
        return _check(request, introspector, credentials, subject)
    except ServiceError as exc:
        if exc.status_code >= 500:
            raise  # the identity provider is down: a 503 the SDK retries
        raise ManagementAuthError(_REASONS.get(exc.code, exc.message)) from None


def rest_caller(
    request: Request,
    introspector: Annotated[Introspector, Depends(get_introspector)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    subject: SubjectHeader = None,
) -> CallerIdentity:
    """The caller of a records / consumer route; failures are ``{error_code, message}``."""
    try:
        return _check(request, introspector, credentials, subject)
    except ServiceError as exc:
        reason = _REASONS.get(exc.code, exc.message)
        if exc.status_code == 401:
            raise RestError(401, 40101, reason, headers=exc.headers) from None
        if exc.status_code == 403:
            raise RestError(403, 40301, reason) from None
        raise RestError(503, 50301, exc.message) from None


ManagementCaller = Annotated[CallerIdentity, Depends(management_caller)]
RestCaller = Annotated[CallerIdentity, Depends(rest_caller)]
