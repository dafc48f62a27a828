"""Tokens for tests against a running local fabric, obtained like a real user would.

Every token comes from the fabric's identity provider through the UNMODIFIED globus-sdk:
``NativeAppAuthClient`` runs the PKCE authorization-code flow, and
:func:`~diaspora_notebook.login.complete_login_form` fills in the IdP's login and consent
pages like a browser. Nothing is faked and nothing reaches beyond 127.0.0.1.

Every token handed out here is remembered in the fabric's registry of issued secrets
(:mod:`diaspora_notebook.fabric.testing.secrets`), so a test can prove none of them ended up in
a log of the fabric.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import globus_sdk

from diaspora_notebook.environments import register_globus_environment
from diaspora_notebook.fabric.testing.secrets import remember_secret
from diaspora_notebook.login.form import complete_login_form

AUTH_RESOURCE_SERVER = "auth.globus.org"


class Fabric(Protocol):
    """What these helpers read of a running fabric (``diaspora_notebook.fabric.Fabric``)."""

    def describe(self) -> dict[str, Any]: ...


def environment_for(auth_url: str) -> str:
    """A globus-sdk environment name whose Auth service is ``auth_url`` (registered once)."""
    port = auth_url.rstrip("/").rsplit(":", 1)[-1]
    return register_globus_environment(f"diaspora-fabric-{port}", auth_url)


def fabric_environment(fabric: Fabric) -> str:
    """The globus-sdk environment name that points every Auth call at ``fabric``'s IdP."""
    return environment_for(fabric.describe()["auth"]["url"])


def service_url(fabric: Fabric) -> str:
    """The web service's base URL (ends with ``/``)."""
    url = str(fabric.describe()["service"]["url"])
    return url if url.endswith("/") else url + "/"


def service_scope(fabric: Fabric) -> str:
    return str(fabric.describe()["service"]["scope"])


def native_client(fabric: Fabric) -> globus_sdk.NativeAppAuthClient:
    """A globus-sdk native client for the fabric's registered notebook client."""
    return globus_sdk.NativeAppAuthClient(fabric.describe()["auth"]["native_client_id"],
                                          environment=fabric_environment(fabric))


def user_tokens(fabric: Fabric, username: str, password: str,
                scopes: Iterable[str] | None = None, *,
                refresh_tokens: bool = False) -> dict[str, dict[str, Any]]:
    """Log ``username`` in through the PKCE flow; return the tokens by resource server.

    :param scopes: what to request; default ``openid`` plus the service's scope.
    :returns: ``OAuthTokenResponse.by_resource_server``: resource server -> token data
        (``access_token``, ``refresh_token``, ``scope``, ``expires_at_seconds``, ...).
    """
    wanted = list(scopes) if scopes is not None else ["openid", service_scope(fabric)]
    client = native_client(fabric)
    client.oauth2_start_flow(wanted, refresh_tokens=refresh_tokens)
    code = complete_login_form(client.oauth2_get_authorize_url(), username, password)
    response = client.oauth2_exchange_code_for_tokens(code)
    by_rs: dict[str, dict[str, Any]] = dict(response.by_resource_server)
    for data in by_rs.values():
        remember_secret(data.get("access_token"), data.get("refresh_token"))
    remember_secret(response.get("id_token"))
    return by_rs


def service_token(fabric: Fabric, username: str, password: str) -> str:
    """An access token for the web service (scope: the service's scope only)."""
    tokens = user_tokens(fabric, username, password, [service_scope(fabric)])
    return str(tokens[fabric.describe()["service"]["resource_server"]]["access_token"])


def service_headers(token: str, **extra: str) -> dict[str, str]:
    """HTTP headers that authenticate a call to the web service with ``token``."""
    return {"Authorization": f"Bearer {token}", **extra}


def client_credentials_token(fabric: Fabric, client_id: str, secret: str) -> str:
    """A service-scope access token for a confidential client (client_credentials grant)."""
    client = globus_sdk.ConfidentialAppAuthClient(client_id, secret,
                                                  environment=fabric_environment(fabric))
    response = client.oauth2_client_credentials_tokens([service_scope(fabric)])
    rs = fabric.describe()["service"]["resource_server"]
    token = str(response.by_resource_server[rs]["access_token"])
    remember_secret(token)
    return token
