"""Toolkit settings from ``DIASPORA_*`` environment variables: one typed getter per variable.

==============================  ================================================================
variable                        meaning
==============================  ================================================================
``DIASPORA_ENVIRONMENT``        environment name to use when none is passed (``local``, or a
                                name from the environments file)
``DIASPORA_ENVIRONMENTS_FILE``  TOML file of named environments
                                (default ``<user dir>/environments.toml``)
``DIASPORA_FABRIC_HOME``        home of the local fabric (default ``~/.diaspora/fabric``)
``DIASPORA_USER_DIR``           tokens and key cache (default ``~/.diaspora``; created 0700)
``DIASPORA_SDK_CLIENT_ID``      with ``DIASPORA_SDK_CLIENT_SECRET``: log in as a confidential
``DIASPORA_SDK_CLIENT_SECRET``  client (``globus_sdk.ClientApp``), no person involved
``DIASPORA_LOGIN_USERNAME``     with ``DIASPORA_LOGIN_PASSWORD``: log in headless by filling the
``DIASPORA_LOGIN_PASSWORD``     identity provider's login form (tests, CI, headless notebooks)
``DIASPORA_LOGIN_LINK``         ``auto`` (default), ``proxy`` or ``direct``: how the notebook's
                                login link reaches a local identity provider
``DIASPORA_PROXY_BASE_URL``     the Jupyter server's base URL for proxied login links
``DIASPORA_WIDGETS``            ``0`` turns the notebook widgets off (default: on, except in a
                                terminal IPython)
``DIASPORA_VERBOSE_ERRORS``     ``1`` shows tracebacks of Diaspora errors in notebooks
``DIASPORA_PEEK_TIMEOUT``       seconds ``%diaspora_peek`` waits for messages (default 10)
``DIASPORA_KAFKA_TIMEOUT``      seconds a produce or broker call may take (default 30)
==============================  ================================================================

:class:`DiasporaConfig` is a frozen snapshot of all of them (``DiasporaConfig.from_env()``,
every value validated); the notebook's ``%config Diaspora`` traits take their defaults from it.
A malformed value is a :class:`~diaspora_notebook.errors.DiasporaUsageError` naming the
variable and the values it accepts. The toolkit never writes to ``os.environ``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from diaspora_notebook.errors import CredentialsConfigError, DiasporaUsageError

log = logging.getLogger(__name__)

ENVIRONMENT = "DIASPORA_ENVIRONMENT"
ENVIRONMENTS_FILE = "DIASPORA_ENVIRONMENTS_FILE"
FABRIC_HOME = "DIASPORA_FABRIC_HOME"
USER_DIR = "DIASPORA_USER_DIR"
SDK_CLIENT_ID = "DIASPORA_SDK_CLIENT_ID"
SDK_CLIENT_SECRET = "DIASPORA_SDK_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
LOGIN_USERNAME = "DIASPORA_LOGIN_USERNAME"
LOGIN_PASSWORD = "DIASPORA_LOGIN_PASSWORD"  # noqa: S105 - a variable name, not a secret
LOGIN_LINK = "DIASPORA_LOGIN_LINK"
PROXY_BASE_URL = "DIASPORA_PROXY_BASE_URL"
WIDGETS = "DIASPORA_WIDGETS"
VERBOSE_ERRORS = "DIASPORA_VERBOSE_ERRORS"
PEEK_TIMEOUT = "DIASPORA_PEEK_TIMEOUT"
KAFKA_TIMEOUT = "DIASPORA_KAFKA_TIMEOUT"

LOGIN_LINK_MODES = ("auto", "proxy", "direct")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _get(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _flag(name: str) -> bool | None:
    value = _get(name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise DiasporaUsageError(f"{name}={value!r} is not a yes/no value",
                             hint=f"set {name} to one of {', '.join(_TRUE + _FALSE)}, or unset "
                             "it")


def _seconds(name: str, default: float) -> float:
    value = _get(name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:  # also refuses nan
        raise DiasporaUsageError(f"{name}={value!r} is not a positive number",
                                 hint=f"set {name} to a number of seconds, or unset it")
    return seconds


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


def get_login_link() -> str:
    """``DIASPORA_LOGIN_LINK``: ``auto`` (default), ``proxy`` or ``direct``; else an error."""
    value = _get(LOGIN_LINK)
    if value is None:
        return "auto"
    if value.lower() not in LOGIN_LINK_MODES:
        raise DiasporaUsageError(
            f"{LOGIN_LINK}={value!r} is not a login link mode",
            hint=f"set {LOGIN_LINK} to one of {', '.join(LOGIN_LINK_MODES)}, or unset it")
    return value.lower()


def get_proxy_base_url() -> str | None:
    """``DIASPORA_PROXY_BASE_URL``, or None."""
    return _get(PROXY_BASE_URL)


def get_widgets() -> bool | None:
    """``DIASPORA_WIDGETS`` as a boolean, or None when unset (the notebook decides)."""
    return _flag(WIDGETS)


def get_verbose_errors() -> bool:
    """``DIASPORA_VERBOSE_ERRORS`` (default false)."""
    return bool(_flag(VERBOSE_ERRORS))


def get_peek_timeout() -> float:
    """``DIASPORA_PEEK_TIMEOUT`` in seconds (default 10)."""
    return _seconds(PEEK_TIMEOUT, 10.0)


def get_kafka_timeout() -> float:
    """``DIASPORA_KAFKA_TIMEOUT`` in seconds (default 30)."""
    return _seconds(KAFKA_TIMEOUT, 30.0)


@dataclass(frozen=True)
class DiasporaConfig:
    """A snapshot of the toolkit's settings (:meth:`from_env`: the ``DIASPORA_*`` variables)."""

    user_dir: Path
    fabric_home: Path
    environments_file: Path
    environment: str | None = None
    sdk_client_credentials: tuple[str, str] | None = field(default=None, repr=False)
    login_credentials: tuple[str, str] | None = field(default=None, repr=False)
    login_link: str = "auto"
    proxy_base_url: str | None = None
    widgets: bool | None = None
    verbose_errors: bool = False
    peek_timeout: float = 10.0
    kafka_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.login_link not in LOGIN_LINK_MODES:
            raise DiasporaUsageError(f"login_link={self.login_link!r} is not a login link mode",
                                     hint=f"use one of {', '.join(LOGIN_LINK_MODES)}")

    @classmethod
    def from_env(cls) -> DiasporaConfig:
        """Read and validate every ``DIASPORA_*`` variable of the toolkit now."""
        return cls(user_dir=get_user_dir(), fabric_home=get_fabric_home(),
                   environments_file=get_environments_file(),
                   environment=get_environment_name(),
                   sdk_client_credentials=get_sdk_client_credentials(),
                   login_credentials=get_login_credentials(),
                   login_link=get_login_link(), proxy_base_url=get_proxy_base_url(),
                   widgets=get_widgets(), verbose_errors=get_verbose_errors(),
                   peek_timeout=get_peek_timeout(), kafka_timeout=get_kafka_timeout())


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path
