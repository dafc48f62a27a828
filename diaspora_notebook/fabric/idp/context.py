"""The objects one IdP instance shares between its routers, kept on ``app.state.idp``.

Also who is asking: the Host header is never believed (any client can send any value), and the
``X-Forwarded-*`` headers only when the TCP peer is a configured trusted proxy.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fastapi import Request

from diaspora_notebook.fabric.idp.keys import SigningKey
from diaspora_notebook.fabric.idp.settings import IdpSettings
from diaspora_notebook.fabric.idp.store import Store
from diaspora_notebook.fabric.idp.throttle import LoginThrottle
from diaspora_notebook.fabric.idp.tokens import TokenService

MAX_FORWARDED_ENTRIES = 16


@dataclass(frozen=True)
class IdpContext:
    settings: IdpSettings
    store: Store
    key: SigningKey
    tokens: TokenService
    throttle: LoginThrottle


def context(request: Request) -> IdpContext:
    """The context of the app serving ``request``."""
    ctx: IdpContext = request.app.state.idp
    return ctx


def _trusted(settings: IdpSettings, address: str | None) -> bool:
    if not address or not settings.trusted_proxies:
        return False
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in settings.trusted_networks)


def _forwarded(request: Request, name: str) -> list[str]:
    values = [part.strip() for part in request.headers.get(name, "").split(",")]
    return [v for v in values if v][-MAX_FORWARDED_ENTRIES:]


def peer_address(request: Request) -> str:
    """The TCP peer's address (``unknown`` when the server does not say)."""
    return request.client.host if request.client else "unknown"


def request_hosts(request: Request) -> set[str]:
    """Extra host names that count as this IdP: a TRUSTED proxy's ``X-Forwarded-Host`` only.

    The issuer's own host always counts (see ``authorize.is_own_auth_code_page``); the Host
    header never does, so a forged one cannot make a foreign redirect URI look like ours.
    """
    settings = context(request).settings
    if not _trusted(settings, peer_address(request)):
        return set()
    return {h.lower() for h in _forwarded(request, "x-forwarded-host")}


def client_address(request: Request) -> str:
    """The address a login came from, for throttling and the log.

    Behind trusted proxies it is the right-most ``X-Forwarded-For`` entry that is not itself a
    trusted proxy (entries further left are whatever the client chose to send).
    """
    settings = context(request).settings
    address = peer_address(request)
    if not _trusted(settings, address):
        return address
    for hop in reversed(_forwarded(request, "x-forwarded-for")):
        if not _trusted(settings, hop):
            return hop[:64]
    return address
