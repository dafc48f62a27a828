"""Settings of one identity provider instance: where its state lives and how long things last."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from diaspora_notebook.fabric.errors import FabricUsageError

DB_FILE_NAME = "idp.sqlite3"
KEY_FILE_NAME = "signing-key.pem"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class IdpSettings:
    """Everything ``create_app`` needs; frozen so a running app cannot drift from its config.

    :param state_dir: directory holding the SQLite database and the RSA signing key (0700).
    :param issuer: public base URL of the IdP, ending with ``/`` (globus-sdk concatenates paths).
        Every absolute URL the IdP builds comes from it, never from the Host header.
    :param access_token_lifetime: seconds an access token stays active (Globus uses 172800).
    :param code_lifetime: seconds an authorization code (and a login transaction) stays usable.
    :param trusted_proxies: peer addresses or networks (``127.0.0.1``, ``10.0.0.0/8``) whose
        ``X-Forwarded-Host`` / ``X-Forwarded-For`` are believed; empty (the default) believes
        nobody, so a client cannot pose as another host or address.
    :param login_max_failures_per_user: failed logins of one account before it is locked.
    :param login_max_failures_per_source: failed logins from one address before it is locked
        (higher than the per-user limit: many people may share an address, e.g. loopback).
    :param login_lock_seconds: the first lock; each further failure doubles it...
    :param login_lock_max_seconds: ...up to this cap.
    :param login_failure_window: seconds without a failure after which the count starts over.
    """

    state_dir: Path
    issuer: str
    access_token_lifetime: int = 172800
    code_lifetime: int = 600
    trusted_proxies: tuple[str, ...] = ()
    login_max_failures_per_user: int = 5
    login_max_failures_per_source: int = 50
    login_lock_seconds: float = 1.0
    login_lock_max_seconds: float = 300.0
    login_failure_window: float = 900.0

    def __post_init__(self) -> None:
        if not self.issuer.endswith("/"):
            # globus-sdk builds the default redirect URI by string concatenation (reference §6.1)
            object.__setattr__(self, "issuer", self.issuer + "/")
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        if self.access_token_lifetime <= 0 or self.code_lifetime <= 0:
            raise FabricUsageError("token and code lifetimes must be positive seconds",
                                     hint="e.g. --access-token-lifetime 172800")
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        self.trusted_networks  # noqa: B018 - validates the addresses now, not per request
        self._check_throttle()

    def _check_throttle(self) -> None:
        user, source = self.login_max_failures_per_user, self.login_max_failures_per_source
        if user < 1 or source < user:
            raise FabricUsageError(
                f"login failure limits must be 1 <= per user ({user}) <= per source ({source})",
                hint="many accounts share one address (loopback), so the per-source limit "
                     "must not be lower than the per-user one")
        if not 0 < self.login_lock_seconds <= self.login_lock_max_seconds:
            raise FabricUsageError("the login lock must be positive and at most its cap",
                                     hint="e.g. --login-lock-seconds 1 "
                                          "--login-lock-max-seconds 300")
        if self.login_failure_window < self.login_lock_max_seconds:
            raise FabricUsageError("the login failure window must be at least the lock cap",
                                     hint="otherwise a capped lock would forget its failures")

    @cached_property
    def trusted_networks(self) -> tuple[IpNetwork, ...]:
        """``trusted_proxies`` parsed; a bad entry is a usage error naming it."""
        networks = []
        for entry in self.trusted_proxies:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError as exc:
                raise FabricUsageError(
                    f"trusted proxy {entry!r} is not an IP address or network",
                    hint="e.g. DIASPORA_IDP_TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8") from exc
        return tuple(networks)

    @property
    def db_path(self) -> Path:
        return self.state_dir / DB_FILE_NAME

    @property
    def key_path(self) -> Path:
        return self.state_dir / KEY_FILE_NAME

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` under the issuer (for JSON documents, never for HTML pages)."""
        return self.issuer + path.lstrip("/")
