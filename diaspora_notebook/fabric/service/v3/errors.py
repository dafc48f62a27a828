"""The hosted service's error shapes, which the SDK 0.5.1 reads.

* Management routes (user, key, namespace, topic) answer HTTP 200 with
  ``{"status": "success"|"failure", "message": ...}``; a failed token check is HTTP 200
  ``{"status": "error", "reason": ...}`` (:class:`ManagementAuthError`).
* Records and consumer routes answer errors as ``{"error_code": <int>, "message": ...}`` with a
  JSON content type (:class:`RestError`): globus-sdk reads ``error_code`` only from a JSON reply,
  and the SDK's ``RESTConsumer`` recovers on 404 / 40403.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class RestError(Exception):
    """A records / consumer route failed: ``{"error_code", "message"}`` with ``status``."""

    def __init__(self, status: int, error_code: int, message: str, *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers


class ManagementAuthError(Exception):
    """A management route's token check failed: HTTP 200 ``{"status": "error", "reason"}``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def instance_gone() -> RestError:
    return RestError(404, 40403, "Consumer instance not found")


def not_in_namespace(topic: str) -> RestError:
    return RestError(404, 40401, f"Topic {topic} not found in your namespace")


def bad_request(message: str, code: int = 40002) -> RestError:
    return RestError(400 if code < 42200 else 422, code, message)


def failure(message: str, **extra: Any) -> dict[str, Any]:
    return {"status": "failure", "message": message, **extra}


def success(message: str, **extra: Any) -> dict[str, Any]:
    return {"status": "success", "message": message, **extra}


async def _rest_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RestError)
    return JSONResponse({"error_code": exc.error_code, "message": exc.message},
                        status_code=exc.status, headers=exc.headers)


async def _management_auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ManagementAuthError)
    return JSONResponse({"status": "error", "reason": exc.reason}, status_code=200)


def install_v3_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RestError, _rest_error)
    app.add_exception_handler(ManagementAuthError, _management_auth_error)
