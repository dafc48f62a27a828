"""HTTP plumbing shared by the routers: bounded form parsing and the Globus error body."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

from diaspora_notebook.fabric.idp.pages import SECURITY_HEADERS
from diaspora_notebook.fabric.idp.tokens import OAuthError

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 64
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def read_form(request: Request) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body, refusing anything odd with a 4xx.

    Bounded in size and field count, and a repeated parameter is an error (RFC 6749 §3.1), so
    garbage from a client can never turn into a 5xx or an ambiguous grant.
    """
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise OAuthError("invalid_request", "the request body is too large", status=413)
    if not body:
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request",
                         "send parameters as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True,
                          max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise OAuthError("invalid_request", "too many form fields") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"parameter {name[:40]!r} is repeated")
        form[name] = value
    return form


def error_json(status: int, error: str, description: str) -> JSONResponse:
    """The Globus error shape (reference §2.2): ``AuthAPIError`` reads code, detail and id."""
    body = {
        "error": error,
        "error_description": description,
        "errors": [{
            "status": str(status), "code": error.upper(), "id": str(uuid.uuid4()),
            "title": error.replace("_", " ").title(), "detail": description,
        }],
    }
    headers = dict(NO_STORE)
    if status == 401 and error == "invalid_token":
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return JSONResponse(body, status_code=status, headers=headers)


def oauth_error_json(exc: OAuthError) -> JSONResponse:
    return error_json(exc.status, exc.error, exc.message)


def html(content: str, status: int = 200) -> HTMLResponse:
    """An HTML page with no-store and anti-framing headers (pages may show codes)."""
    return HTMLResponse(content, status_code=status, headers=SECURITY_HEADERS)
