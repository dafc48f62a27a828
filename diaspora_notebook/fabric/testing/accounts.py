"""Accounts and service identities on a running fabric's identity provider, for tests.

Created with the IdP's admin API (``diaspora-fabric user add`` does the same); every password
and client secret is remembered for the log audit (:func:`.secrets.remember_secret`).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from diaspora_notebook.fabric.idp import admin
from diaspora_notebook.fabric.testing.secrets import remember_secret


@dataclass(frozen=True)
class Account:
    """A local account of a fabric's identity provider."""

    username: str
    password: str
    id: str

    def __repr__(self) -> str:  # never show the password
        return f"Account(username={self.username!r}, id={self.id!r})"


def add_account(fabric: Any, *, prefix: str = "user") -> Account:
    """Add an account with a random name and password to ``fabric``'s identity provider.

    :param fabric: a :class:`~diaspora_notebook.fabric.fabric.Fabric` (or anything with a
        ``home`` whose ``idp_dir`` is the IdP's state).
    """
    username = f"{prefix}-{secrets.token_hex(5)}"
    password = secrets.token_urlsafe(18)
    remember_secret(password)
    identity_id = admin.add_user(fabric.home.idp_dir, username, password)
    return Account(username=username, password=password, id=identity_id)


def new_confidential_client(fabric: Any, prefix: str = "e2e-svc") -> tuple[str, str]:
    """A fresh confidential client (a service identity): ``(client_id, secret)``."""
    client_id, secret = admin.add_client(fabric.home.idp_dir,
                                         f"{prefix}-{uuid.uuid4().hex[:8]}", confidential=True)
    assert secret, "a confidential client always has a secret"
    remember_secret(secret)
    return client_id, secret
