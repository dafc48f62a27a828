"""The key cache and token storage: private files, one key per environment and identity."""

from __future__ import annotations

import os
import stat

from diaspora_notebook.login import token_storage
from diaspora_notebook.login.key_cache import KeyCache

KEY = {"status": "success", "username": "id-1", "password": "pw-1", "endpoint": "h:1"}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_put_get_clear_with_private_permissions(tmp_path):
    user_dir = tmp_path / "user"
    cache = KeyCache(user_dir, "diaspora-local-abc", "id-1")
    assert cache.get() is None
    cache.put(KEY)
    assert cache.get() == {"username": "id-1", "password": "pw-1", "endpoint": "h:1"}
    assert mode(cache.path) == 0o600
    assert mode(cache.directory) == 0o700
    assert mode(user_dir) == 0o700
    assert cache.clear() is True
    assert cache.get() is None
    assert cache.clear() is False


def test_private_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        cache = KeyCache(tmp_path / "u", "env", "id-1")
        cache.put(KEY)
    finally:
        os.umask(old)
    assert mode(cache.path) == 0o600 and mode(cache.directory) == 0o700


def test_replaced_by_a_new_key(tmp_path):
    cache = KeyCache(tmp_path, "env", "id-1")
    cache.put(KEY)
    cache.put({**KEY, "password": "pw-2"})
    assert cache.get()["password"] == "pw-2"
    assert [p.name for p in cache.directory.iterdir()] == [cache.path.name]  # no temp files


def test_separate_per_environment_and_identity(tmp_path):
    a = KeyCache(tmp_path, "env-a", "id-1")
    b = KeyCache(tmp_path, "env-b", "id-1")
    c = KeyCache(tmp_path, "env-a", "id-2")
    a.put(KEY)
    assert b.get() is None and c.get() is None
    assert len({a.path, b.path, c.path}) == 3


def test_unsafe_names_stay_inside_the_cache_dir(tmp_path):
    cache = KeyCache(tmp_path, "../../etc", "../x/y")
    assert cache.path.parent == tmp_path / "keys"


def test_corrupt_or_foreign_cache_is_ignored(tmp_path):
    cache = KeyCache(tmp_path, "env", "id-1")
    cache.put(KEY)
    cache.path.write_text("{not json")
    assert cache.get() is None
    cache.path.write_text('{"username": "someone-else", "password": "p", "endpoint": "e"}')
    assert cache.get() is None


def test_token_storage_file_and_dir_are_private(tmp_path):
    user_dir = tmp_path / "user"
    old = os.umask(0)
    try:
        storage = token_storage(user_dir, "diaspora-local-abc/nc")
    finally:
        os.umask(old)
    try:
        assert mode(user_dir) == 0o700
        assert mode(user_dir / "tokens.db") == 0o600
        assert storage.namespace == "diaspora-local-abc/nc"
    finally:
        storage.close()


def test_stored_secrets_are_read_back_through_the_toolkit(tmp_path):
    """What the security audit reads: tokens and key passwords."""
    from globus_sdk.token_storage import TokenStorageData

    from diaspora_notebook.login import stored_tokens
    from diaspora_notebook.login.key_cache import cached_passwords

    outer, nested = tmp_path / "user", tmp_path / "user" / "kernel-2"
    for user_dir, n in ((outer, 1), (nested, 2)):
        storage = token_storage(user_dir, f"env-{n}/client")
        storage.store_token_data_by_resource_server({"rs": TokenStorageData(
            resource_server="rs", identity_id=f"id-{n}", scope="s", access_token=f"AT.{n}-x",
            refresh_token=f"RT.{n}-y", expires_at_seconds=2**31, token_type="Bearer")})
        storage.close()
        KeyCache(user_dir, "env", f"id-{n}").put({**KEY, "username": f"id-{n}",
                                                  "password": f"pw-{n}"})
    assert stored_tokens(outer) == {"AT.1-x", "RT.1-y"}
    assert cached_passwords(outer) == {"pw-1"}
    assert stored_tokens(tmp_path / "nowhere") == set() == cached_passwords(tmp_path / "x")
