"""Settings of one identity provider instance: where its state lives and how long things last."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diaspora_notebook.errors import DiasporaUsageError

DB_FILE_NAME = "idp.sqlite3"
KEY_FILE_NAME = "signing-key.pem"


@dataclass(frozen=True)
class IdpSettings:
    """Everything ``create_app`` needs; frozen so a running app cannot drift from its config.

    :param state_dir: directory holding the SQLite database and the RSA signing key (0700).
    :param issuer: public base URL of the IdP, ending with ``/`` (globus-sdk concatenates paths).
    :param access_token_lifetime: seconds an access token stays active (Globus uses 172800).
    :param code_lifetime: seconds an authorization code (and a login transaction) stays usable.
    """

    state_dir: Path
    issuer: str
    access_token_lifetime: int = 172800
    code_lifetime: int = 600

    def __post_init__(self) -> None:
        if not self.issuer.endswith("/"):
            # globus-sdk builds the default redirect URI by string concatenation (reference §6.1)
            object.__setattr__(self, "issuer", self.issuer + "/")
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        if self.access_token_lifetime <= 0 or self.code_lifetime <= 0:
            raise DiasporaUsageError("token and code lifetimes must be positive seconds",
                                     hint="e.g. --access-token-lifetime 172800")

    @property
    def db_path(self) -> Path:
        return self.state_dir / DB_FILE_NAME

    @property
    def key_path(self) -> Path:
        return self.state_dir / KEY_FILE_NAME

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` under the issuer (for JSON documents, never for HTML pages)."""
        return self.issuer + path.lstrip("/")
