"""Management API for the fabric CLI: users, clients and scopes, straight on the state dir.

These functions open the SQLite database directly, so they work whether or not the IdP server
is running (WAL mode lets both write). Secrets are returned once and stored only as digests.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from diaspora_notebook.fabric.errors import FabricUsageError
from diaspora_notebook.fabric.idp.hashing import digest, hash_password
from diaspora_notebook.fabric.idp.scopes import https_scope
from diaspora_notebook.fabric.idp.settings import DB_FILE_NAME
from diaspora_notebook.fabric.idp.store import Store

_USERNAME = re.compile(
    r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?(?:@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)?$"
)
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_USERNAME_HINT = (
    "use 1-64 lowercase letters, digits, '.', '_' or '-' (starting and ending with a letter or "
    "digit), optionally followed by @domain, e.g. 'alice' or 'alice@example.org'"
)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def open_store(state_dir: str | Path) -> Store:
    """The store of ``state_dir`` (created with its schema if missing)."""
    return Store(Path(state_dir).expanduser() / DB_FILE_NAME)


def normalize_username(username: str) -> str:
    """Lowercase and validate; usernames are case-insensitive like Globus usernames."""
    value = username.strip().lower()
    if not _USERNAME.match(value):
        raise FabricUsageError(f"invalid username {username[:80]!r}", hint=_USERNAME_HINT)
    return value


def add_user(state_dir: str | Path, username: str, password: str, *, name: str | None = None,
             email: str | None = None) -> str:
    """Create a local account and return its identity id (a UUID)."""
    user = normalize_username(username)
    _check_password(password)
    store = open_store(state_dir)
    try:
        return store.insert_user(user, hash_password(password), name or user,
                                 email or (user if "@" in user else None))
    except sqlite3.IntegrityError as exc:
        raise FabricUsageError(
            f"user {user!r} already exists",
            hint="pick another username, or change the password with `diaspora-fabric user passwd`",
        ) from exc


def list_users(state_dir: str | Path) -> list[dict[str, Any]]:
    """Every account as ``{id, username, name, email, created}`` (never the password hash)."""
    return [
        {"id": u.id, "username": u.username, "name": u.name, "email": u.email,
         "created": u.created}
        for u in open_store(state_dir).users()
    ]


def user_id(state_dir: str | Path, username: str) -> str:
    """The identity id of an account (its Kafka principal's name)."""
    user = open_store(state_dir).user_by_username(_lookup_name(username))
    if user is None:
        raise _unknown_user(username)
    return user.id


def remove_user(state_dir: str | Path, username: str) -> str:
    """Delete an account and revoke every token issued to it; returns its identity id.

    Its Kafka key, topics and grants are the service's business: ``diaspora-fabric user
    remove`` removes them too (:mod:`diaspora_notebook.fabric.kafka_cli`).
    """
    store = open_store(state_dir)
    user = store.user_by_username(_lookup_name(username))
    if user is None:
        raise _unknown_user(username)
    store.delete_user(user.id)
    return user.id


def set_password(state_dir: str | Path, username: str, password: str) -> None:
    """Replace an account's password (existing tokens stay valid, like Globus)."""
    _check_password(password)
    store = open_store(state_dir)
    user = store.user_by_username(_lookup_name(username))
    if user is None:
        raise _unknown_user(username)
    store.set_password_hash(user.id, hash_password(password))


def add_client(state_dir: str | Path, name: str, *, confidential: bool,
               redirect_uris: tuple[str, ...] | list[str] = (),
               client_id: str | None = None,
               loopback_redirects: bool = False) -> tuple[str, str | None]:
    """Register an OAuth client; returns ``(client_id, secret)``, secret only if confidential.

    :param client_id: a fixed UUID (e.g. to keep notebooks' config stable); random by default.
    :param redirect_uris: absolute http(s) URIs accepted besides this IdP's own code page.
    :param loopback_redirects: a native client may also redirect to any
        ``http://127.0.0.1|localhost|[::1]`` port. Off by default: on a shared machine any
        local account can listen on loopback and collect the codes of a link it sends.
    """
    if not name.strip() or len(name) > 200:
        raise FabricUsageError("a client needs a name of 1-200 characters")
    if loopback_redirects and confidential:
        raise FabricUsageError("loopback redirects are for native clients only",
                               hint="register the confidential client's exact redirect URIs")
    cid = _check_uuid(client_id, "client_id") if client_id else str(uuid.uuid4())
    uris = tuple(redirect_uris)
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise FabricUsageError(
                f"invalid redirect URI {uri!r}",
                hint="use an absolute http(s) URI without a #fragment",
            )
    secret = secrets.token_urlsafe(32) if confidential else None
    try:
        open_store(state_dir).insert_client(
            cid, name.strip(), confidential=confidential,
            secret_digest=digest(secret) if secret else None, redirect_uris=uris,
            loopback_redirects=loopback_redirects,
        )
    except sqlite3.IntegrityError as exc:
        raise FabricUsageError(f"client {cid} already exists",
                                 hint="omit client_id to get a fresh one") from exc
    return cid, secret


def list_clients(state_dir: str | Path) -> list[dict[str, Any]]:
    """Every client as ``{client_id, name, confidential, redirect_uris, created}`` (no secret)."""
    return [
        {"client_id": c.client_id, "name": c.name, "confidential": c.confidential,
         "redirect_uris": list(c.redirect_uris), "loopback_redirects": c.loopback_redirects,
         "created": c.created}
        for c in open_store(state_dir).clients()
    ]


def remove_client(state_dir: str | Path, client_id: str) -> None:
    """Delete a client and revoke every token it obtained."""
    if not open_store(state_dir).delete_client(client_id):
        raise FabricUsageError(f"unknown client {client_id!r}",
                                 hint="list_clients shows the registered ones")


def register_scope(state_dir: str | Path, resource_server_client_id: str,
                   name: str = "action_all", *, owner_client_id: str | None = None) -> str:
    """Let clients request ``https://auth.globus.org/scopes/<rs>/<name>``; returns that string.

    The resource server must be a registered client (its confidential client introspects the
    tokens), or ``owner_client_id`` names the registered client that owns it (a service with
    a second, fixed resource server id): that client is then in the audience of the resource
    server's tokens and may introspect them. Registering the same scope twice is harmless.
    """
    rs = _check_uuid(resource_server_client_id, "resource_server_client_id")
    if not _SCOPE_NAME.match(name):
        raise FabricUsageError(f"invalid scope name {name!r}",
                                 hint="use 1-64 letters, digits, '_', '.' or '-'")
    store = open_store(state_dir)
    if owner_client_id is not None:
        add_resource_server_owner(state_dir, rs, owner_client_id)
    elif store.client(rs) is None:
        raise FabricUsageError(f"unknown client {rs!r}",
                                 hint="register the resource server with add_client first")
    store.insert_scope(rs, name)
    return https_scope(rs, name)


def add_resource_server_owner(state_dir: str | Path, resource_server: str,
                              client_id: str) -> None:
    """Let the confidential client ``client_id`` introspect ``resource_server``'s tokens."""
    rs = _check_uuid(resource_server, "resource_server")
    store = open_store(state_dir)
    client = store.client(_check_uuid(client_id, "client_id"))
    if client is None or not client.confidential:
        raise FabricUsageError(f"no confidential client {client_id!r}",
                               hint="the owner of a resource server introspects its tokens, "
                                    "so it must be a registered confidential client")
    store.add_resource_server_owner(rs, client.client_id)


def _lookup_name(username: str) -> str:
    return username.strip().lower()


def _unknown_user(username: str) -> FabricUsageError:
    return FabricUsageError(f"unknown user {username[:80]!r}",
                              hint="list_users shows the existing accounts")


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise FabricUsageError(
            f"passwords must have {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters",
            hint="choose a longer password (a passphrase is fine)",
        )


def _check_uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError) as exc:
        raise FabricUsageError(f"{what} must be a UUID, got {value!r}") from exc
