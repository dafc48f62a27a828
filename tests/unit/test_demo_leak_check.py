"""The demo's leak check finds the local fabric's secrets in a user dir by their shapes."""

from __future__ import annotations

import secrets
import string

from globus_sdk.token_storage import TokenStorageData

from diaspora_notebook.fabric.demo import SecretWatch, secrets_in_user_dir
from diaspora_notebook.login import token_storage
from diaspora_notebook.login.key_cache import KeyCache

KEY = {"status": "success", "username": "id-1", "password": "", "endpoint": "h:1"}


def _key() -> str:  # what service/provisioning.py issues
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(48))


def _token(kind: str) -> str:  # what idp/hashing.py issues
    return f"{kind}.{secrets.token_urlsafe(32)}"


def test_tokens_and_key_passwords_are_found_in_any_file_of_the_user_dir(tmp_path):
    outer, nested = tmp_path / "user", tmp_path / "user" / "kernel-2"
    issued = set()
    for user_dir, n in ((outer, 1), (nested, 2)):
        access, refresh, password = _token("AT"), _token("RT"), _key()
        issued |= {access, refresh, password}
        storage = token_storage(user_dir, f"env-{n}/client")
        storage.store_token_data_by_resource_server({"rs": TokenStorageData(
            resource_server="rs", identity_id=f"id-{n}", scope="s", access_token=access,
            refresh_token=refresh, expires_at_seconds=2**31, token_type="Bearer")})
        storage.close()
        KeyCache(user_dir, "env", f"id-{n}").put({**KEY, "username": f"id-{n}",
                                                  "password": password})
    assert secrets_in_user_dir(outer) == issued
    assert secrets_in_user_dir(tmp_path / "nowhere") == set()


def test_a_watch_reports_what_the_user_dir_held_shortened(tmp_path):
    password = _key()
    # owner-only, as the toolkit writes a key cache (the session's file-mode audit walks
    # every user dir a test made)
    (tmp_path / "keys").mkdir(mode=0o700)
    key_file = tmp_path / "keys" / "k.json"
    key_file.touch(mode=0o600)
    key_file.write_text(f'{{"password": "{password}", "n": "pw-1"}}')
    with SecretWatch(tmp_path, extra=["demo-password"]) as watch:
        pass
    assert watch.seen == {password, "demo-password"}
    leaks = watch.leaks(f"cell output: {password} and demo-password")
    assert leaks == sorted([f"{password[:3]}...(48 chars)", "dem...(13 chars)"])
    assert password not in " ".join(leaks)
