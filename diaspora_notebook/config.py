"""Toolkit settings from ``DIASPORA_*`` environment variables: one typed getter per variable.

=============================  =================================================================
variable                       meaning
=============================  =================================================================
``DIASPORA_ENVIRONMENT``       environment name to use when none is passed (``local``, or a
                               name from the environments file)
``DIASPORA_ENVIRONMENTS_FILE`` TOML file of named environments
                               (default ``<user dir>/environments.toml``)
``DIASPORA_FABRIC_HOME``       home of the local fabric (default ``~/.diaspora/fabric``)
``DIASPORA_USER_DIR``          tokens and key cache (default ``~/.diaspora``; created 0700)
``DIASPORA_SDK_CLIENT_ID``     with ``DIASPORA_SDK_CLIENT_SECRET``: log in as a confidential
``DIASPORA_SDK_CLIENT_SECRET`` client (``globus_sdk.ClientApp``), no person involved
``DIASPORA_LOGIN_USERNAME``    with ``DIASPORA_LOGIN_PASSWORD``: log in headless by filling the
``DIASPORA_LOGIN_PASSWORD``    identity provider's login form (tests, CI, headless notebooks)
=============================  =================================================================

The toolkit never writes to ``os.environ``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from diaspora_notebook.errors import CredentialsConfigError

log = logging.getLogger(__name__)

ENVIRONMENT = "DIASPORA_ENVIRONMENT"
ENVIRONMENTS_FILE = "DIASPORA_ENVIRONMENTS_FILE"
FABRIC_HOME = "DIASPORA_FABRIC_HOME"
USER_DIR = "DIASPORA_USER_DIR"
SDK_CLIENT_ID = "DIASPORA_SDK_CLIENT_ID"
SDK_CLIENT_SECRET = "DIASPORA_SDK_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
LOGIN_USERNAME = "DIASPORA_LOGIN_USERNAME"
LOGIN_PASSWORD = "DIASPORA_LOGIN_PASSWORD"  # noqa: S105 - a variable name, not a secret


def _get(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def get_environment_name() -> str | None:
    """``DIASPORA_ENVIRONMENT``, or None."""
    value = _get(ENVIRONMENT)
    if value:
        log.debug("%s=%s", ENVIRONMENT, value)
    return value


def get_user_dir() -> Path:
    """``DIASPORA_USER_DIR`` if set, else ``~/.diaspora`` (not created here)."""
    value = _get(USER_DIR)
    return Path(value).expanduser() if value else Path.home() / ".diaspora"


def get_fabric_home() -> Path:
    """``DIASPORA_FABRIC_HOME`` if set, else ``~/.diaspora/fabric``."""
    value = _get(FABRIC_HOME)
    return Path(value).expanduser() if value else Path.home() / ".diaspora" / "fabric"


def get_environments_file() -> Path:
    """``DIASPORA_ENVIRONMENTS_FILE`` if set, else ``<user dir>/environments.toml``."""
    value = _get(ENVIRONMENTS_FILE)
    return Path(value).expanduser() if value else get_user_dir() / "environments.toml"


def _pair(first: str, second: str, what: str) -> tuple[str, str] | None:
    a, b = _get(first), os.environ.get(second) or None
    if a is None and b is None:
        return None
    if a is None or b is None:
        missing, present = (first, second) if a is None else (second, first)
        raise CredentialsConfigError(
            f"{present} is set but {missing} is not",
            hint=f"set both to {what}, or unset {present}",
        )
    return a, b


def get_sdk_client_credentials() -> tuple[str, str] | None:
    """``(client_id, secret)`` from ``DIASPORA_SDK_CLIENT_ID/SECRET``; one alone is an error."""
    return _pair(SDK_CLIENT_ID, SDK_CLIENT_SECRET, "log in as a confidential client")


def get_login_credentials() -> tuple[str, str] | None:
    """``(username, password)`` from ``DIASPORA_LOGIN_USERNAME/PASSWORD``; one alone is an error."""
    return _pair(LOGIN_USERNAME, LOGIN_PASSWORD, "log in headless with a username and password")


@dataclass(frozen=True)
class DiasporaConfig:
    """A snapshot of the toolkit's settings (defaults from the ``DIASPORA_*`` variables)."""

    user_dir: Path
    fabric_home: Path
    environments_file: Path
    environment: str | None = None

    @classmethod
    def from_env(cls) -> DiasporaConfig:
        return cls(user_dir=get_user_dir(), fabric_home=get_fabric_home(),
                   environments_file=get_environments_file(),
                   environment=get_environment_name())


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path
