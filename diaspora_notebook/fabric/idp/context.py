"""The objects one IdP instance shares between its routers, kept on ``app.state.idp``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from diaspora_notebook.fabric.idp.keys import SigningKey
from diaspora_notebook.fabric.idp.settings import IdpSettings
from diaspora_notebook.fabric.idp.store import Store
from diaspora_notebook.fabric.idp.tokens import TokenService


@dataclass(frozen=True)
class IdpContext:
    settings: IdpSettings
    store: Store
    key: SigningKey
    tokens: TokenService


def context(request: Request) -> IdpContext:
    """The context of the app serving ``request``."""
    ctx: IdpContext = request.app.state.idp
    return ctx


def request_hosts(request: Request) -> set[str]:
    """Host names the browser used to reach us (directly, or via a proxy's X-Forwarded-Host)."""
    hosts = {request.headers.get("host", "")}
    hosts.update(part.strip() for part in request.headers.get("x-forwarded-host", "").split(","))
    return {h.lower() for h in hosts if h}
