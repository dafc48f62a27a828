"""The request-body cap, with a larger one for the produce routes (500 records a batch)."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from diaspora_notebook.fabric.service.limits import MAX_BODY_BYTES, BodySizeLimit

RECORDS_MAX_BODY_BYTES = 8 * 1024 * 1024
_RECORDS = re.compile(r"^/api/v3/[^/]+/topics/[^/]+/records(:batch)?$")


class BodyLimitWithRecords:
    """:class:`BodySizeLimit` at ``limit``, or ``records_limit`` on the produce routes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES,
                 records_limit: int = RECORDS_MAX_BODY_BYTES) -> None:
        self.small = BodySizeLimit(app, limit=limit)
        self.large = BodySizeLimit(app, limit=records_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        records = scope["type"] == "http" and bool(_RECORDS.match(scope.get("path", "")))
        await (self.large if records else self.small)(scope, receive, send)
