"""Deprecated: use :mod:`diaspora_notebook.login` (this module re-exports it)."""

from __future__ import annotations

import warnings

from diaspora_notebook.login.session import APP_NAME, AuthSession, is_stale_login
from diaspora_notebook.login.storage import TOKEN_FILE, token_storage

__all__ = ["APP_NAME", "TOKEN_FILE", "AuthSession", "is_stale_login", "token_storage"]

warnings.warn("diaspora_notebook.auth is deprecated; import from diaspora_notebook.login",
              DeprecationWarning, stacklevel=2)
