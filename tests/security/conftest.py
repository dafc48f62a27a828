"""The security audit runs LAST in the session and sees every secret the session handed out.

* ``pytest_collection_modifyitems`` moves this directory's tests after every other test, so the
  log scan covers the logs all the other suites produced.
* While the session runs, every secret that passes through this process is remembered in
  ``diaspora_notebook.testing.tokens.ISSUED_SECRETS`` (the registry ``secrets_in_logs`` reads):
  passwords given to the identity provider's admin API (accounts made by any helper, the demo
  users), confidential-client secrets, and every ``password``, ``access_token``,
  ``refresh_token``, ``id_token`` or ``client_secret`` in a JSON HTTP response received through
  ``requests`` (the SDK's ``create_key`` and token exchanges, raw service calls). The wrappers
  only record; they call straight through and change no behaviour.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from diaspora_notebook.testing.tokens import remember_secret

HERE = Path(__file__).resolve().parent
SECRET_FIELDS = ("password", "access_token", "refresh_token", "id_token", "client_secret")


def _remember_fields(data: Any, depth: int = 0) -> None:
    if depth > 3:
        return
    if isinstance(data, dict):
        for name, value in data.items():
            if name in SECRET_FIELDS and isinstance(value, str):
                remember_secret(value)
            elif isinstance(value, (dict, list)):
                _remember_fields(value, depth + 1)
    elif isinstance(data, list):
        for item in data[:50]:
            _remember_fields(item, depth + 1)


def _install_recorders() -> None:
    import requests

    from diaspora_notebook.fabric.idp import admin

    if getattr(admin, "_security_audit_recording", False):
        return
    admin._security_audit_recording = True  # type: ignore[attr-defined]

    add_user, set_password, add_client = admin.add_user, admin.set_password, admin.add_client

    @functools.wraps(add_user)
    def recorded_add_user(state_dir: Any, username: str, password: str, **kwargs: Any) -> str:
        remember_secret(password)
        return add_user(state_dir, username, password, **kwargs)

    @functools.wraps(set_password)
    def recorded_set_password(state_dir: Any, username: str, password: str) -> None:
        remember_secret(password)
        return set_password(state_dir, username, password)

    @functools.wraps(add_client)
    def recorded_add_client(*args: Any, **kwargs: Any) -> Any:
        result = add_client(*args, **kwargs)
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
            remember_secret(result[1])
        return result

    admin.add_user = recorded_add_user
    admin.set_password = recorded_set_password
    admin.add_client = recorded_add_client

    send = requests.Session.send

    @functools.wraps(send)
    def recorded_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        response = send(self, request, **kwargs)
        try:
            if (not kwargs.get("stream") and "json" in response.headers.get("content-type", "")
                    and len(response.content) < 1_000_000):
                _remember_fields(json.loads(response.content))
        except Exception:  # recording must never break the test that made the call
            pass
        return response

    requests.Session.send = recorded_send  # type: ignore[method-assign]


_install_recorders()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Run the security audit after every other test of the session."""
    audit = [i for i in items if HERE in Path(str(i.path)).resolve().parents]
    if audit and len(audit) != len(items):
        others = [i for i in items if i not in audit]
        items[:] = others + audit
