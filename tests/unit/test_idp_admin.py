"""The IdP management API used by the fabric CLI."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from diaspora_notebook.fabric.errors import FabricUsageError
from diaspora_notebook.fabric.idp import admin
from diaspora_notebook.fabric.idp.hashing import verify_password


def test_users_lifecycle(tmp_path: Path) -> None:
    uid = admin.add_user(tmp_path, "Alice@Example.org", "s3cret-pass", name="Alice")
    assert len(uid) == 36
    [user] = admin.list_users(tmp_path)
    assert user == {"id": uid, "username": "alice@example.org", "name": "Alice",
                    "email": "alice@example.org", "created": user["created"]}
    with pytest.raises(FabricUsageError, match="already exists") as err:
        admin.add_user(tmp_path, "alice@example.org", "another-pass")
    assert err.value.hint
    admin.set_password(tmp_path, "alice@example.org", "new-password")
    stored = admin.open_store(tmp_path).user_by_username("alice@example.org")
    assert stored is not None and verify_password("new-password", stored.password_hash)
    assert not verify_password("s3cret-pass", stored.password_hash)
    admin.remove_user(tmp_path, "ALICE@example.org")
    assert admin.list_users(tmp_path) == []
    with pytest.raises(FabricUsageError, match="unknown user"):
        admin.remove_user(tmp_path, "alice@example.org")
    with pytest.raises(FabricUsageError, match="unknown user"):
        admin.set_password(tmp_path, "bob", "whatever-1")


@pytest.mark.parametrize("name", ["", "-alice", "al ice", "alice@", "alice@localhost",
                                  "a" * 65, "alice@ex_ample.org", "<b>", "alice@@x.org"])
def test_invalid_usernames(tmp_path: Path, name: str) -> None:
    with pytest.raises(FabricUsageError, match="invalid username") as err:
        admin.add_user(tmp_path, name, "long-enough")
    assert "alice@example.org" in err.value.hint


def test_short_password(tmp_path: Path) -> None:
    with pytest.raises(FabricUsageError, match="passwords"):
        admin.add_user(tmp_path, "bob", "short")


def test_clients_and_scopes(tmp_path: Path) -> None:
    native, none = admin.add_client(tmp_path, "Notebook", confidential=False)
    assert none is None
    fixed = "1b1f0a40-6f4a-4d43-9d2c-36d1b2a5a0ad"
    service, secret = admin.add_client(tmp_path, "Service", confidential=True,
                                       redirect_uris=["https://svc.example.org/cb"],
                                       client_id=fixed)
    assert service == fixed and secret and len(secret) >= 40
    listed = admin.list_clients(tmp_path)
    assert [c["client_id"] for c in listed] == [native, service]
    assert "secret" not in str(listed).lower().replace("secret_", "")
    raw = sqlite3.connect(tmp_path / "idp.sqlite3").execute(
        "SELECT secret_digest FROM clients WHERE client_id = ?", (service,)).fetchone()[0]
    assert secret not in raw and len(raw) == 64
    with pytest.raises(FabricUsageError, match="already exists"):
        admin.add_client(tmp_path, "Again", confidential=True, client_id=fixed)
    with pytest.raises(FabricUsageError, match="redirect URI"):
        admin.add_client(tmp_path, "Bad", confidential=True, redirect_uris=["ftp://x/"])
    with pytest.raises(FabricUsageError, match="UUID"):
        admin.add_client(tmp_path, "Bad", confidential=True, client_id="nope")

    scope = admin.register_scope(tmp_path, service)
    assert scope == f"https://auth.globus.org/scopes/{service}/action_all"
    assert admin.register_scope(tmp_path, service) == scope
    assert admin.register_scope(tmp_path, service, "read").endswith("/read")
    with pytest.raises(FabricUsageError, match="unknown client"):
        admin.register_scope(tmp_path, "0b1f0a40-6f4a-4d43-9d2c-36d1b2a5a0ad")
    with pytest.raises(FabricUsageError, match="scope name"):
        admin.register_scope(tmp_path, service, "bad/name")

    admin.remove_client(tmp_path, native)
    with pytest.raises(FabricUsageError, match="unknown client"):
        admin.remove_client(tmp_path, native)


def test_state_dir_is_private(tmp_path: Path) -> None:
    state = tmp_path / "idp"
    admin.add_user(state, "bob", "long-enough")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "idp.sqlite3").stat().st_mode) == 0o600
