"""Service errors: one exception type carrying HTTP status, stable code, message and hint.

Every error response has the shape of :class:`ErrorBody`::

    {"status": "error", "code": "topic_owned_by_another", "message": "...", "hint": "..."}
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from diaspora_notebook.fabric.errors import FabricError, FabricUsageError

log = logging.getLogger(__name__)


class ServiceConfigError(FabricUsageError):
    """The service configuration (file, env or a secret file it names) is unusable."""


class ServiceError(FabricError):
    """A request failed; rendered as a JSON :class:`ErrorBody` with ``status_code``."""

    def __init__(self, status_code: int, code: str, message: str, *, hint: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.code = code
        self.headers = headers


class ErrorBody(BaseModel):
    """What every failed request returns."""

    status: Literal["error"] = "error"
    code: str
    message: str
    hint: str = ""


def error_response(status_code: int, code: str, message: str, hint: str = "",
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(code=code, message=message, hint=hint)
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def internal_error_response() -> JSONResponse:
    """The last resort for a backend failure nobody anticipated (never a bare 500)."""
    return error_response(503, "internal_error", "the service hit an unexpected backend failure",
                          "retry in a moment; if it persists, tell the operator")


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
            for status in statuses}


_DESCRIPTIONS = {
    400: "Invalid input (bad topic name, bad identity id, malformed body)",
    401: "Missing, malformed, expired or revoked bearer token",
    403: "Token lacks the scope, Subject mismatch, or the topic belongs to someone else",
    404: "Topic not registered",
    409: "A concurrent registration of the same topic won, or the name exists on the brokers "
         "without an owner (the operator purges it)",
    503: "Kafka or the identity provider is unreachable, or an unexpected backend failure",
}

AUTH_RESPONSES = _responses(400, 401, 403, 503)
TOPIC_RESPONSES = _responses(400, 401, 403, 404, 409, 503)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status_code, exc.code, exc.message, exc.hint, exc.headers)


async def _config_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceConfigError)
    log.error("service misconfigured: %s", exc.message)
    return error_response(503, "service_misconfigured", "the service is misconfigured",
                          "the operator should check the service log and config")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return error_response(400, "invalid_request", "; ".join(parts) or "invalid request",
                          "see /openapi.json for the expected input")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail),
                          "see /openapi.json for the routes",
                          dict(exc.headers) if exc.headers else None)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every anticipated failure into an :class:`ErrorBody`."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(ServiceConfigError, _config_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
