"""A cap on request bodies: anything over ``MAX_BODY_BYTES`` is answered 413 before a route runs.

Every route takes at most a topic name and an identity id, so 64 KiB (the identity provider's
cap too) is generous; without a cap a local account could make the service buffer and parse
arbitrarily large JSON. A declared ``Content-Length`` over the cap is refused without reading;
a chunked body is read up to the cap and then refused. A body under the cap is replayed to the
app unchanged.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from diaspora_notebook.fabric.service.errors import error_response

MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """Pure ASGI middleware: 413 ``{code, message, hint}`` for a body over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "request_too_large",
            f"the request body is larger than {self.limit} bytes",
            "send only the JSON fields the route documents (see /openapi.json)",
            headers={"Connection": "close"})
        await response(scope, receive, send)
