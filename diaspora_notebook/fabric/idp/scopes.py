"""Scope strings: parsing what clients request and deciding which resource server owns each.

globus-sdk sends space-separated scopes that may carry dependent scopes in brackets
(``https://.../action_all[urn:...:transfer]``) and an ``*`` prefix for optional ones. The IdP
grants the root scopes only and echoes each one exactly as requested (reference §2.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

AUTH_RESOURCE_SERVER = "auth.globus.org"
OIDC_SCOPES = frozenset({"openid", "profile", "email"})
_AUTH_URN_PREFIX = "urn:globus:auth:scope:auth.globus.org:"
_HTTPS_SCOPE = re.compile(r"^https://auth\.globus\.org/scopes/([^/\s\[\]]+)/([^/\s\[\]]+)$")
_URN_SCOPE = re.compile(r"^urn:globus:auth:scope:([^:\s\[\]]+):([^:\s\[\]]+)$")
MAX_SCOPE_LENGTH = 4096


class ScopeError(ValueError):
    """A scope string is malformed or names a scope nobody registered."""


@dataclass(frozen=True)
class GrantedScope:
    """One root scope as requested, with the resource server that will receive its token."""

    scope: str
    resource_server: str


def parse_root_scopes(text: str) -> list[str]:
    """Root scope strings of a space-separated request, without ``[deps]`` and ``*``, deduplicated.

    :raises ScopeError: unbalanced brackets, an empty request or an oversized one.
    """
    if len(text) > MAX_SCOPE_LENGTH:
        raise ScopeError("the scope parameter is too long")
    roots: list[str] = []
    depth = 0
    current: list[str] = []

    def flush() -> None:
        word = "".join(current).strip()
        current.clear()
        if word.startswith("*"):
            word = word[1:]
        if word and word not in roots:
            roots.append(word)

    for char in text:
        if char == "[":
            if depth == 0:
                flush()
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ScopeError("unbalanced ']' in scope")
        elif depth == 0:
            if char.isspace():
                flush()
            else:
                current.append(char)
    if depth != 0:
        raise ScopeError("unbalanced '[' in scope")
    flush()
    if not roots:
        raise ScopeError("no scope requested")
    return roots


def resource_server_of(scope: str, is_registered: Callable[[str, str], bool]) -> str:
    """The resource server owning ``scope``.

    :param is_registered: ``(resource_server, name) -> bool`` backed by the scopes table.
    :raises ScopeError: for anything unknown.
    """
    if scope in OIDC_SCOPES or scope.startswith(_AUTH_URN_PREFIX):
        if scope.startswith(_AUTH_URN_PREFIX) and not scope[len(_AUTH_URN_PREFIX):]:
            raise ScopeError(f"unknown scope {scope!r}")
        return AUTH_RESOURCE_SERVER
    match = _HTTPS_SCOPE.match(scope) or _URN_SCOPE.match(scope)
    if match and is_registered(match.group(1), match.group(2)):
        return match.group(1)
    raise ScopeError(f"unknown scope {scope[:200]!r}")


def resolve_scopes(
    text: str, is_registered: Callable[[str, str], bool]
) -> list[GrantedScope]:
    """Parse and classify a scope request; the first error wins."""
    return [GrantedScope(s, resource_server_of(s, is_registered)) for s in parse_root_scopes(text)]


def group_by_resource_server(granted: list[GrantedScope]) -> dict[str, list[str]]:
    """``{resource_server: [scope, ...]}`` with ``auth.globus.org`` first (it carries id_token)."""
    grouped: dict[str, list[str]] = {}
    for item in sorted(granted, key=lambda g: g.resource_server != AUTH_RESOURCE_SERVER):
        grouped.setdefault(item.resource_server, []).append(item.scope)
    return grouped


def https_scope(resource_server: str, name: str) -> str:
    return f"https://auth.globus.org/scopes/{resource_server}/{name}"
