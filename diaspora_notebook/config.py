"""Toolkit settings from ``DIASPORA_*`` environment variables, in one settings object.

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

:class:`DiasporaConfig` is the one settings object: :func:`current` builds it from these
variables (every value validated, each by one typed parser) and rebuilds it only when one of
them changes. Everything reads it: environment resolution, login, the key and token stores, the
default client and the notebook's ``%config Diaspora`` traits (their defaults).
A malformed value is a :class:`~diaspora_notebook.errors.DiasporaUsageError` naming the
variable and the values it accepts. The toolkit never writes to ``os.environ``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
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
VARIABLES = (ENVIRONMENT, ENVIRONMENTS_FILE, FABRIC_HOME, USER_DIR, SDK_CLIENT_ID,
             SDK_CLIENT_SECRET, LOGIN_USERNAME, LOGIN_PASSWORD, LOGIN_LINK, PROXY_BASE_URL,
             WIDGETS, VERBOSE_ERRORS, PEEK_TIMEOUT, KAFKA_TIMEOUT)


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _path(environ: Mapping[str, str], name: str, default: Path) -> Path:
    value = _get(environ, name)
    return Path(value).expanduser() if value else default


def _flag(environ: Mapping[str, str], name: str) -> bool | None:
    value = _get(environ, name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise DiasporaUsageError(f"{name}={value!r} is not a yes/no value",
                             hint=f"set {name} to one of {', '.join(_TRUE + _FALSE)}, or unset "
                             "it")


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    value = _get(environ, name)
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


def _pair(environ: Mapping[str, str], first: str, second: str,
          what: str) -> tuple[str, str] | None:
    a, b = _get(environ, first), environ.get(second) or None
    if a is None and b is None:
        return None
    if a is None or b is None:
        missing, present = (first, second) if a is None else (second, first)
        raise CredentialsConfigError(
            f"{present} is set but {missing} is not",
            hint=f"set both to {what}, or unset {present}",
        )
    return a, b


def _login_link(environ: Mapping[str, str]) -> str:
    value = _get(environ, LOGIN_LINK)
    if value is None:
        return "auto"
    if value.lower() not in LOGIN_LINK_MODES:
        raise DiasporaUsageError(
            f"{LOGIN_LINK}={value!r} is not a login link mode",
            hint=f"set {LOGIN_LINK} to one of {', '.join(LOGIN_LINK_MODES)}, or unset it")
    return value.lower()


@dataclass(frozen=True)
class DiasporaConfig:
    """The toolkit's settings (:func:`current`: from the ``DIASPORA_*`` variables now).

    :param user_dir: tokens and key cache (``DIASPORA_USER_DIR``, default ``~/.diaspora``).
    :param fabric_home: the local fabric's home (``DIASPORA_FABRIC_HOME``).
    :param environments_file: TOML file of environments (``DIASPORA_ENVIRONMENTS_FILE``).
    :param environment: the environment name to use when none is passed, or None.
    :param sdk_client_credentials: ``(client_id, secret)`` of a confidential client, or None.
    :param login_credentials: ``(username, password)`` for a headless login, or None.
    :param login_link: ``auto``, ``proxy`` or ``direct``.
    :param proxy_base_url: the Jupyter server's base URL for proxied login links, or None.
    :param widgets: whether the notebook uses widgets; None lets the notebook decide.
    :param verbose_errors: tracebacks of Diaspora errors in notebooks.
    :param peek_timeout: seconds ``%diaspora_peek`` waits for messages.
    :param kafka_timeout: seconds a produce or broker call may take.
    """

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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DiasporaConfig:
        """Read and validate every ``DIASPORA_*`` variable (of ``environ``, default
        ``os.environ``); prefer :func:`current`, which builds it once per set of values."""
        env = os.environ if environ is None else environ
        user_dir = _path(env, USER_DIR, Path.home() / ".diaspora")
        sdk = _pair(env, SDK_CLIENT_ID, SDK_CLIENT_SECRET, "log in as a confidential client")
        return cls(
            user_dir=user_dir,
            fabric_home=_path(env, FABRIC_HOME, Path.home() / ".diaspora" / "fabric"),
            environments_file=_path(env, ENVIRONMENTS_FILE, user_dir / "environments.toml"),
            environment=_get(env, ENVIRONMENT),
            sdk_client_credentials=sdk,
            login_credentials=_pair(env, LOGIN_USERNAME, LOGIN_PASSWORD,
                                    "log in headless with a username and password"),
            login_link=_login_link(env),
            proxy_base_url=_get(env, PROXY_BASE_URL),
            widgets=_flag(env, WIDGETS),
            verbose_errors=bool(_flag(env, VERBOSE_ERRORS)),
            peek_timeout=_seconds(env, PEEK_TIMEOUT, 10.0),
            kafka_timeout=_seconds(env, KAFKA_TIMEOUT, 30.0),
        )

    @property
    def client_selection(self) -> tuple[object, ...]:
        """What picks the default client: environment, where its endpoints and tokens are,
        and who logs in (a change means another client)."""
        sdk_id = self.sdk_client_credentials[0] if self.sdk_client_credentials else None
        user = self.login_credentials[0] if self.login_credentials else None
        return (self.environment, self.environments_file, self.fabric_home, self.user_dir,
                sdk_id, user)


_current: tuple[tuple[str | None, ...], DiasporaConfig] | None = None


def current() -> DiasporaConfig:
    """The settings now: built from the ``DIASPORA_*`` variables, again only when one changed.

    :raises DiasporaUsageError: a variable is malformed (the message names it).
    """
    global _current
    values = tuple(os.environ.get(name) for name in VARIABLES)
    cached = _current
    if cached is not None and cached[0] == values:
        return cached[1]
    settings = DiasporaConfig.from_env()
    log.debug("settings from the environment: %r", settings)
    _current = (values, settings)
    return settings


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path
