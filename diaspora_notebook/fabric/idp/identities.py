"""Identity documents: the one place that turns a user (or a client) into Globus-shaped JSON.

The same fields feed ``/v2/api/identities``, ``userinfo``, id_token claims and introspection,
so they cannot drift apart.
"""

from __future__ import annotations

import uuid
from typing import Any

from diaspora_notebook.fabric.idp.store import Client, Store, User

# A fixed id for "the local accounts of this fabric", as Globus has one per identity provider.
IDENTITY_PROVIDER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:diaspora-notebook:local-idp"))
IDENTITY_PROVIDER_NAME = "Diaspora local fabric"
ORGANIZATION = "Diaspora local fabric"
CLIENT_USERNAME_DOMAIN = "clients.auth.globus.org"


def user_identity(user: User) -> dict[str, Any]:
    """The ``/v2/api/identities`` entry of a local account."""
    return {
        "id": user.id, "username": user.username, "name": user.name, "email": user.email,
        "organization": ORGANIZATION, "identity_provider": IDENTITY_PROVIDER_ID,
        "identity_type": "login", "status": "used",
    }


def client_identity(client: Client) -> dict[str, Any]:
    """A client's own identity: like Globus, its id equals the client id."""
    return {
        "id": client.client_id, "username": f"{client.client_id}@{CLIENT_USERNAME_DOMAIN}",
        "name": client.name, "email": None, "organization": None,
        "identity_provider": IDENTITY_PROVIDER_ID, "identity_type": "client", "status": "used",
    }


def subject_identity(store: Store, subject: str, *, is_client: bool) -> dict[str, Any] | None:
    """Identity of a token's subject, or None when the account or client was removed."""
    if is_client:
        client = store.client(subject)
        return client_identity(client) if client else None
    user = store.user_by_id(subject)
    return user_identity(user) if user else None


def oidc_claims(identity: dict[str, Any], auth_time: float) -> dict[str, Any]:
    """Claims shared by the id_token and userinfo (reference §2.1, row 9)."""
    return {
        "sub": identity["id"],
        "preferred_username": identity["username"],
        "name": identity["name"],
        "email": identity["email"],
        "organization": identity["organization"],
        "identity_provider": IDENTITY_PROVIDER_ID,
        "identity_provider_display_name": IDENTITY_PROVIDER_NAME,
        "last_authentication": int(auth_time),
    }


def find_identities(store: Store, *, ids: list[str], usernames: list[str]) -> list[dict[str, Any]]:
    """Lookup for ``get_identities``; unknown ids and usernames are omitted, as Globus does."""
    found: list[dict[str, Any]] = []
    for raw in ids:
        value = raw.strip()
        user = store.user_by_id(value)
        if user:
            found.append(user_identity(user))
            continue
        client = store.client(value)
        if client:
            found.append(client_identity(client))
    for raw in usernames:
        value = raw.strip().lower()
        if value.endswith("@" + CLIENT_USERNAME_DOMAIN):
            client = store.client(value.split("@", 1)[0])
            if client:
                found.append(client_identity(client))
            continue
        user = store.user_by_username(value)
        if user:
            found.append(user_identity(user))
    return found
