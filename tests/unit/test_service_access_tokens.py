"""Only an active, expiring ACCESS token authorizes a call (pure check on introspection data)."""

from __future__ import annotations

import time

import pytest

from diaspora_notebook.fabric.service.auth import _require_access_token
from diaspora_notebook.fabric.service.errors import ServiceError

GOOD = {"active": True, "sub": "x", "token_type": "Bearer", "exp": time.time() + 3600}


@pytest.mark.parametrize("change, code, words", [
    ({"active": False}, "invalid_token", "refresh token"),
    ({"token_type": "refresh_token"}, "not_an_access_token", "only access tokens"),
    ({"token_type": "Refresh"}, "not_an_access_token", "only access tokens"),
    ({"exp": None}, "token_without_expiry", "no expiry"),
    ({"exp": "2099-01-01"}, "token_without_expiry", "no expiry"),
    ({"exp": True}, "token_without_expiry", "no expiry"),
    ({"exp": time.time() - 1}, "invalid_token", "expired"),
])
def test_refused(change: dict[str, object], code: str, words: str) -> None:
    info = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(ServiceError) as err:
        _require_access_token(info)
    assert err.value.status_code == 401 and err.value.code == code
    assert words in err.value.message and "refresh token" in err.value.hint


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "access_token", None])
def test_accepted(token_type: str | None) -> None:
    info = {k: v for k, v in {**GOOD, "token_type": token_type}.items() if v is not None}
    _require_access_token(info)
