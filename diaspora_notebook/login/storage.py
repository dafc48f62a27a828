"""Where the toolkit keeps tokens: globus-sdk's SQLite token store in the user dir (0600).

:func:`token_storage` opens the store a login writes; :func:`stored_tokens` reads the tokens
back without opening a login (read-only), for tools that check outputs for leaked secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

from globus_sdk.token_storage import SQLiteTokenStorage

from diaspora_notebook.config import ensure_private_dir

TOKEN_FILE = "tokens.db"  # noqa: S105 - a file name
_TOKEN_FIELDS = ("access_token", "refresh_token")


def token_file(user_dir: Path) -> Path:
    """The token store's path in ``user_dir``."""
    return Path(user_dir) / TOKEN_FILE


def has_token_file(user_dir: Path) -> bool:
    """Whether ``user_dir`` holds a token store (a login may have happened there)."""
    return token_file(user_dir).exists()


def token_storage(user_dir: Path, namespace: str) -> SQLiteTokenStorage:
    """The SQLite token store in ``user_dir`` (0700) as a 0600 file."""
    ensure_private_dir(Path(user_dir))
    path = token_file(user_dir)
    storage = SQLiteTokenStorage(path, connect_params={"check_same_thread": False},
                                 namespace=namespace)
    os.chmod(path, 0o600)
    return storage


def tokens_in_store(path: Path) -> set[str]:
    """Access and refresh tokens in one globus-sdk SQLite token store file (read-only).

    A missing or unreadable store gives an empty set: the caller looks for leaks, and a store
    being written right now is read again later.
    """
    found: set[str] = set()
    if not Path(path).is_file():
        return found
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                                timeout=1)) as db:
            rows = db.execute("SELECT token_data_json FROM token_storage").fetchall()
    except sqlite3.Error:
        return found
    for (text,) in rows:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            data = json.loads(text)
            found.update(str(data[name]) for name in _TOKEN_FIELDS if data.get(name))
    return found


def stored_tokens(user_dir: Path) -> set[str]:
    """Every access and refresh token the toolkit stored in ``user_dir`` (all environments)."""
    return tokens_in_store(token_file(user_dir))
