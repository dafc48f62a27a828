"""Scope parsing and resource-server grouping of the local IdP."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diaspora_notebook.fabric.idp.scopes import (
    AUTH_RESOURCE_SERVER,
    ScopeError,
    group_by_resource_server,
    parse_root_scopes,
    resolve_scopes,
)

RS = "5b0d5f4c-4f0e-4b8e-9b55-2a3f3c0a2f10"


def registered(rs: str, name: str) -> bool:
    return rs == RS and name == "action_all"


def test_dependent_and_optional_scopes_are_stripped() -> None:
    text = (f"openid  *email https://auth.globus.org/scopes/{RS}/action_all"
            "[urn:globus:auth:scope:transfer.api.globus.org:all[*x y]] openid")
    assert parse_root_scopes(text) == [
        "openid", "email", f"https://auth.globus.org/scopes/{RS}/action_all"]


@pytest.mark.parametrize("text", ["", "   ", "a[b", "a]b", "a[b]]", "x" * 5000])
def test_malformed_requests(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_root_scopes(text)


def test_resource_servers() -> None:
    granted = resolve_scopes(
        f"urn:globus:auth:scope:{RS}:action_all profile "
        "urn:globus:auth:scope:auth.globus.org:view_identities openid", registered)
    grouped = group_by_resource_server(granted)
    assert list(grouped) == [AUTH_RESOURCE_SERVER, RS]
    assert grouped[AUTH_RESOURCE_SERVER] == [
        "profile", "urn:globus:auth:scope:auth.globus.org:view_identities", "openid"]
    assert grouped[RS] == [f"urn:globus:auth:scope:{RS}:action_all"]


@pytest.mark.parametrize("scope", [
    f"https://auth.globus.org/scopes/{RS}/other", "https://auth.globus.org/scopes/x/action_all",
    "urn:globus:auth:scope:auth.globus.org:", "offline_access", f"urn:globus:auth:scope:{RS}",
    f"https://example.org/scopes/{RS}/action_all",
])
def test_unknown_scopes(scope: str) -> None:
    with pytest.raises(ScopeError, match="unknown scope"):
        resolve_scopes(scope, registered)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_crashes(text: str) -> None:
    try:
        roots = parse_root_scopes(text)
    except ScopeError:
        return
    assert roots and all(r and not any(c.isspace() or c in "[]" for c in r) for r in roots)
