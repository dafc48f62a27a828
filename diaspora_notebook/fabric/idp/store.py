"""SQLite state of the IdP: users, clients, scopes, login transactions, codes, tokens, consents.

One short-lived connection per operation keeps the store safe to use from uvicorn's thread pool
and from ``admin`` in another process at the same time (WAL mode, busy timeout). Credentials
(tokens, codes, transaction ids, client secrets) are stored only as SHA-256 digests.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, name TEXT, email TEXT,
    password_hash TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, name TEXT NOT NULL, confidential INTEGER NOT NULL,
    secret_digest TEXT, redirect_uris TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS scopes (
    resource_server TEXT NOT NULL, name TEXT NOT NULL, scope_id TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (resource_server, name));
CREATE TABLE IF NOT EXISTS transactions (
    tx_digest TEXT PRIMARY KEY, identity_id TEXT NOT NULL, params TEXT NOT NULL,
    auth_time REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS codes (
    code_digest TEXT PRIMARY KEY, client_id TEXT NOT NULL, identity_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, scopes TEXT NOT NULL, code_challenge TEXT,
    access_type TEXT NOT NULL, auth_time REAL NOT NULL, expires_at REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (
    token_digest TEXT PRIMARY KEY, kind TEXT NOT NULL, grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL, subject TEXT NOT NULL, subject_is_client INTEGER NOT NULL,
    resource_server TEXT NOT NULL, scope TEXT NOT NULL, issued_at REAL NOT NULL,
    expires_at REAL, auth_time REAL NOT NULL, origin_code TEXT,
    revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tokens_grant ON tokens (grant_id);
CREATE INDEX IF NOT EXISTS tokens_subject ON tokens (subject);
CREATE INDEX IF NOT EXISTS tokens_client ON tokens (client_id);
CREATE TABLE IF NOT EXISTS resource_server_owners (
    resource_server TEXT NOT NULL, client_id TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (resource_server, client_id));
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, identity_id TEXT NOT NULL, client_id TEXT NOT NULL,
    scope TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, last_used REAL NOT NULL,
    UNIQUE (identity_id, client_id, scope));
"""


@dataclass(frozen=True)
class User:
    id: str
    username: str
    name: str | None
    email: str | None
    password_hash: str
    created: float


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    confidential: bool
    secret_digest: str | None
    redirect_uris: tuple[str, ...]
    created: float
    # a native client may redirect to any http://127.0.0.1|localhost|[::1] port only if it
    # opted in: any local account can listen on loopback (issue 27, item 4)
    loopback_redirects: bool = False


@dataclass(frozen=True)
class TokenRecord:
    token_digest: str
    kind: str
    grant_id: str
    client_id: str
    subject: str
    subject_is_client: bool
    resource_server: str
    scope: str
    issued_at: float
    expires_at: float | None
    auth_time: float
    origin_code: str | None
    revoked: bool

    def active(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


class Store:
    """Typed queries over ``db_path``; creating it also creates the schema (idempotent)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.db_path.parent, 0o700)
        fresh = not self.db_path.exists()
        if fresh:
            # create the file private before SQLite writes anything into it
            fd = os.open(self.db_path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(clients)")}
            if "loopback_redirects" not in columns:  # a state dir of an older version
                conn.execute("ALTER TABLE clients ADD COLUMN loopback_redirects INTEGER "
                             "NOT NULL DEFAULT 0")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        conn = sqlite3.connect(self.db_path, timeout=10.0)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            with conn:
                yield conn
        finally:
            conn.close()

    # users -------------------------------------------------------------------------------
    def insert_user(self, username: str, password_hash: str, name: str | None,
                    email: str | None) -> str:
        """Insert and return the new identity id; ``sqlite3.IntegrityError`` if taken."""
        identity_id = str(uuid.uuid4())
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                (identity_id, username, name, email, password_hash, time.time()),
            )
        return identity_id

    def user_by_username(self, username: str) -> User | None:
        return self._one(User, "SELECT * FROM users WHERE username = ?", (username,))

    def user_by_id(self, identity_id: str) -> User | None:
        return self._one(User, "SELECT * FROM users WHERE id = ?", (identity_id,))

    def users(self) -> list[User]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM users ORDER BY username").fetchall()
        return [User(**dict(row)) for row in rows]

    def delete_user(self, identity_id: str) -> None:
        """Remove the user, its pending codes and consents, and revoke all of its tokens."""
        with self.connect() as conn:
            conn.execute("DELETE FROM users WHERE id = ?", (identity_id,))
            conn.execute("DELETE FROM codes WHERE identity_id = ?", (identity_id,))
            conn.execute("DELETE FROM transactions WHERE identity_id = ?", (identity_id,))
            conn.execute("DELETE FROM consents WHERE identity_id = ?", (identity_id,))
            conn.execute("UPDATE tokens SET revoked = 1 WHERE subject = ?", (identity_id,))

    def set_password_hash(self, identity_id: str, password_hash: str) -> None:
        with self.connect() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                         (password_hash, identity_id))

    # clients -----------------------------------------------------------------------------
    def insert_client(self, client_id: str, name: str, *, confidential: bool,
                      secret_digest: str | None, redirect_uris: tuple[str, ...],
                      loopback_redirects: bool = False) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO clients (client_id, name, confidential, secret_digest, "
                "redirect_uris, created, loopback_redirects) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (client_id, name, int(confidential), secret_digest,
                 json.dumps(list(redirect_uris)), time.time(), int(loopback_redirects)),
            )

    def set_loopback_redirects(self, client_id: str, allowed: bool) -> bool:
        """Turn a client's loopback redirects on or off; False if there is no such client."""
        with self.connect() as conn:
            return bool(conn.execute(
                "UPDATE clients SET loopback_redirects = ? WHERE client_id = ?",
                (int(allowed), client_id)).rowcount)

    def client(self, client_id: str) -> Client | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM clients WHERE client_id = ?", (client_id,)).fetchone()
        return _client(row) if row else None

    def clients(self) -> list[Client]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM clients ORDER BY created").fetchall()
        return [_client(row) for row in rows]

    def delete_client(self, client_id: str) -> bool:
        """Remove the client and revoke every token it obtained; False if it did not exist."""
        with self.connect() as conn:
            gone = conn.execute("DELETE FROM clients WHERE client_id = ?", (client_id,)).rowcount
            conn.execute("DELETE FROM codes WHERE client_id = ?", (client_id,))
            conn.execute("UPDATE tokens SET revoked = 1 WHERE client_id = ?", (client_id,))
        return bool(gone)

    # scopes ------------------------------------------------------------------------------
    def insert_scope(self, resource_server: str, name: str) -> None:
        """Register a scope; registering it again is a no-op."""
        with self.connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO scopes VALUES (?, ?, ?, ?)",
                (resource_server, name, str(uuid.uuid4()), time.time()),
            )

    def scope_registered(self, resource_server: str, name: str) -> bool:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM scopes WHERE resource_server = ? AND name = ?",
                (resource_server, name),
            ).fetchone()
        return row is not None

    def add_resource_server_owner(self, resource_server: str, client_id: str) -> None:
        """Let ``client_id`` introspect tokens issued for ``resource_server`` (idempotent).

        A resource server's own client always may; this is for a service whose client owns
        more than one resource server id (e.g. a fixed id that an SDK hard-codes).
        """
        with self.connect() as conn:
            conn.execute("INSERT OR IGNORE INTO resource_server_owners VALUES (?, ?, ?)",
                         (resource_server, client_id, time.time()))

    def resource_server_owners(self, resource_server: str) -> list[str]:
        """The clients that may introspect ``resource_server``'s tokens: its own id (always)
        and every client registered with :meth:`add_resource_server_owner`."""
        with self.connect() as conn:
            rows = conn.execute("SELECT client_id FROM resource_server_owners WHERE "
                                "resource_server = ? ORDER BY created",
                                (resource_server,)).fetchall()
        return [resource_server, *(r["client_id"] for r in rows if r["client_id"] !=
                                   resource_server)]

    def scope_rows(self) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM scopes ORDER BY created").fetchall()
        return [dict(row) for row in rows]

    # login transactions (between the login page and the consent page) --------------------
    def insert_transaction(self, tx_digest: str, identity_id: str, params: dict[str, str],
                           expires_at: float) -> None:
        with self.connect() as conn:
            conn.execute("DELETE FROM transactions WHERE expires_at < ?", (time.time(),))
            conn.execute(
                "INSERT INTO transactions VALUES (?, ?, ?, ?, ?)",
                (tx_digest, identity_id, json.dumps(params), time.time(), expires_at),
            )

    def pop_transaction(self, tx_digest: str) -> tuple[str, dict[str, str], float] | None:
        """Single use: delete and return ``(identity_id, params, auth_time)`` if still valid."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT * FROM transactions WHERE tx_digest = ?", (tx_digest,)
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM transactions WHERE tx_digest = ?", (tx_digest,))
        if row["expires_at"] < time.time():
            return None
        return row["identity_id"], json.loads(row["params"]), row["auth_time"]

    # authorization codes ----------------------------------------------------------------
    def insert_code(self, code_digest: str, *, client_id: str, identity_id: str,
                    redirect_uri: str, scopes: list[list[str]], code_challenge: str | None,
                    access_type: str, auth_time: float, expires_at: float) -> None:
        with self.connect() as conn:
            conn.execute("DELETE FROM codes WHERE expires_at < ?", (time.time() - 86400,))
            conn.execute(
                "INSERT INTO codes (code_digest, client_id, identity_id, redirect_uri, scopes,"
                " code_challenge, access_type, auth_time, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (code_digest, client_id, identity_id, redirect_uri, json.dumps(scopes),
                 code_challenge, access_type, auth_time, expires_at),
            )

    def code(self, code_digest: str) -> dict[str, Any] | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM codes WHERE code_digest = ?",
                               (code_digest,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["scopes"] = json.loads(data["scopes"])
        return data

    def mark_code_used(self, code_digest: str) -> bool:
        """Atomically flag the code as used; False if someone else used it first."""
        with self.connect() as conn:
            return bool(conn.execute(
                "UPDATE codes SET used = 1 WHERE code_digest = ? AND used = 0", (code_digest,)
            ).rowcount)

    # tokens -----------------------------------------------------------------------------
    def insert_token(self, record: TokenRecord) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO tokens VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.token_digest, record.kind, record.grant_id, record.client_id,
                 record.subject, int(record.subject_is_client), record.resource_server,
                 record.scope, record.issued_at, record.expires_at, record.auth_time,
                 record.origin_code, int(record.revoked)),
            )

    def token(self, token_digest: str) -> TokenRecord | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM tokens WHERE token_digest = ?",
                               (token_digest,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["subject_is_client"] = bool(data["subject_is_client"])
        data["revoked"] = bool(data["revoked"])
        return TokenRecord(**data)

    def revoke_token(self, token_digest: str) -> None:
        with self.connect() as conn:
            conn.execute("UPDATE tokens SET revoked = 1 WHERE token_digest = ?", (token_digest,))

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a refresh token's whole family: itself and every access token derived from it."""
        with self.connect() as conn:
            conn.execute("UPDATE tokens SET revoked = 1 WHERE grant_id = ?", (grant_id,))

    def revoke_by_code(self, code_digest: str) -> None:
        """A replayed code may be stolen: revoke whatever it produced (RFC 6749 §4.1.2)."""
        with self.connect() as conn:
            conn.execute("UPDATE tokens SET revoked = 1 WHERE origin_code = ?", (code_digest,))

    # consents ---------------------------------------------------------------------------
    def record_consent(self, identity_id: str, client_id: str, scopes: list[str]) -> None:
        now = time.time()
        with self.connect() as conn:
            for scope in scopes:
                conn.execute(
                    "INSERT INTO consents (identity_id, client_id, scope, created, updated,"
                    " last_used) VALUES (?,?,?,?,?,?) ON CONFLICT (identity_id, client_id, scope)"
                    " DO UPDATE SET updated = excluded.updated, last_used = excluded.last_used",
                    (identity_id, client_id, scope, now, now, now),
                )

    def consents(self, identity_id: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM consents WHERE identity_id = ? ORDER BY id",
                                (identity_id,)).fetchall()
        return [dict(row) for row in rows]

    # helpers ----------------------------------------------------------------------------
    def _one(self, cls: type[User], sql: str, params: tuple[Any, ...]) -> User | None:
        with self.connect() as conn:
            row = conn.execute(sql, params).fetchone()
        return cls(**dict(row)) if row else None


def _client(row: sqlite3.Row) -> Client:
    data = dict(row)
    return Client(
        client_id=data["client_id"], name=data["name"], confidential=bool(data["confidential"]),
        secret_digest=data["secret_digest"],
        redirect_uris=tuple(json.loads(data["redirect_uris"])), created=data["created"],
        loopback_redirects=bool(data.get("loopback_redirects", 0)),
    )
