"""Login on ``globus_sdk.UserApp`` (a person) or ``ClientApp`` (a confidential client).

* Tokens live in ``SQLiteTokenStorage`` at ``<user dir>/tokens.db`` (user dir ``~/.diaspora``
  or ``DIASPORA_USER_DIR``; dir 0700, file 0600), namespaced per environment and client.
* ``UserApp``: the environment's native client, PKCE, refresh tokens. The login flow is
  headless (:class:`~diaspora_notebook.login.flows.ProgrammaticLoginFlowManager`) when
  ``DIASPORA_LOGIN_USERNAME`` and ``DIASPORA_LOGIN_PASSWORD`` are set, else the notebook
  manager (two-phase for widgets, ``input()`` otherwise).
* ``ClientApp`` when ``DIASPORA_SDK_CLIENT_ID`` and ``DIASPORA_SDK_CLIENT_SECRET`` are both set.

:class:`AuthSession` owns one app and rebuilds it after ``logout`` (globus-sdk keeps the old
identity in memory, so a different user needs a new app: reference pitfall 9). When the
identity provider no longer knows the stored tokens, :meth:`AuthSession.recover` says
"please log in again" and starts a fresh login instead of showing a traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

import globus_sdk
from globus_sdk.login_flows import LoginFlowManager
from globus_sdk.token_storage import TokenValidationError
from globus_sdk.token_storage.validating_token_storage import IdentityMismatchError

from diaspora_notebook import config
from diaspora_notebook.environments import Environment
from diaspora_notebook.errors import DiasporaUsageError, NotLoggedInError
from diaspora_notebook.login.flows import (
    LOGIN_HINT,
    NotebookLoginFlowManager,
    ProgrammaticLoginFlowManager,
    asked_to_log_in,
    bind,
    widget_login_hint,
)
from diaspora_notebook.login.storage import has_token_file, token_storage

log = logging.getLogger(__name__)
APP_NAME = "diaspora-notebook"


def is_stale_login(exc: BaseException) -> bool:
    """Whether ``exc`` means the IdP no longer honours the stored tokens."""
    if isinstance(exc, globus_sdk.AuthAPIError):
        return exc.http_status in (400, 401) and (
            exc.code in ("invalid_grant", "invalid_token", "Error", None)
            or "invalid_grant" in str(exc.text))
    return isinstance(exc, TokenValidationError) and not isinstance(exc, IdentityMismatchError)


class AuthSession:
    """One environment's login state for one process (thread-safe).

    :param environment: where to log in.
    :param user_dir: where tokens live (default from ``DIASPORA_USER_DIR``).
    :param login_flow_manager: a manager of :mod:`diaspora_notebook.login.flows` (bound to the
        login client here); default as described in the module docstring.
    """

    def __init__(self, environment: Environment, *, user_dir: Path | None = None,
                 login_flow_manager: LoginFlowManager | None = None) -> None:
        self.environment = environment
        self.user_dir = Path(user_dir) if user_dir else config.current().user_dir
        self._explicit_manager = login_flow_manager
        settings = config.current()
        self._credentials = settings.sdk_client_credentials
        self._login_credentials = None if self._credentials else settings.login_credentials
        self._lock = threading.RLock()
        self._app: globus_sdk.GlobusApp | None = None
        self._manager: LoginFlowManager | None = None
        self._checking = False  # verified_identity() runs: invalid tokens are reported
        self.logged_out = False

    # --- the app -------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"client"`` (ClientApp), ``"programmatic"``, or ``"interactive"``."""
        if self._credentials:
            return "client"
        if self._login_credentials or isinstance(self._explicit_manager,
                                                 ProgrammaticLoginFlowManager):
            return "programmatic"
        return "interactive"

    @property
    def namespace(self) -> str:
        client = self._credentials[0] if self._credentials else self.environment.native_client_id
        return f"{self.environment.globus_environment}/{client}"

    def _build(self) -> globus_sdk.GlobusApp:
        envname = self.environment.register()
        storage = token_storage(self.user_dir, self.namespace)
        app_config = globus_sdk.GlobusAppConfig(
            environment=envname, token_storage=storage, request_refresh_tokens=True,
            token_validation_error_handler=self._on_invalid_tokens)
        # the service's scope from the start, so any login (even a two-phase one begun
        # before a WebClient exists) asks for it
        requirements = {self.environment.resource_server: [self.environment.scope]}
        if self._credentials:
            client_id, secret = self._credentials
            return globus_sdk.ClientApp(APP_NAME, client_id=client_id, client_secret=secret,
                                        scope_requirements=requirements, config=app_config)
        login_client = globus_sdk.NativeAppAuthClient(
            client_id=self.environment.native_client_id, environment=envname, app_name=APP_NAME)
        manager = self._explicit_manager
        if manager is None and self._login_credentials:
            manager = ProgrammaticLoginFlowManager(*self._login_credentials)
        if manager is None:
            manager = NotebookLoginFlowManager()
        self._manager = bind(manager, login_client)
        app_config = dataclasses.replace(app_config, login_flow_manager=self._manager)
        return globus_sdk.UserApp(APP_NAME, login_client=login_client,
                                  scope_requirements=requirements, config=app_config)

    @property
    def app(self) -> globus_sdk.GlobusApp:
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    def _on_invalid_tokens(self, app: globus_sdk.GlobusApp, error: TokenValidationError) -> None:
        """globus-sdk's hook when tokens are missing or invalid: log in unless logged out."""
        if isinstance(error, IdentityMismatchError):
            raise NotLoggedInError(
                "the login belongs to a different identity than the stored tokens",
                hint="call Client().logout() first, then log in as the other user") from error
        if self._checking:  # verified_identity(): report, never log in
            raise error
        if self.logged_out:
            raise NotLoggedInError("you logged out of Diaspora", hint=LOGIN_HINT)
        try:
            app.login(force=True)
        except globus_sdk.AuthAPIError as exc:
            raise NotLoggedInError(f"the login failed ({exc.code}: {exc.message})",
                                   hint=LOGIN_HINT) from exc

    # --- identity ------------------------------------------------------------------------

    def ensure_login(self) -> None:
        """Log in now if there are no usable tokens (raises NotLoggedInError after logout)."""
        with self._lock:
            if self.logged_out:
                raise NotLoggedInError("you logged out of Diaspora", hint=LOGIN_HINT)
            app = self.app
            if app.login_required():
                self._on_invalid_tokens(app, TokenValidationError("no tokens"))

    @property
    def identity_id(self) -> str:
        """The logged-in identity's id (the token ``sub``; a client's id for ClientApp)."""
        with self._lock:
            self.ensure_login()
            if self._credentials:
                return self._credentials[0]
            identity = self.app.token_storage.identity_id
            if identity is None:
                raise NotLoggedInError("the stored tokens do not name an identity",
                                       hint="log out and log in again")
            return identity

    def identity_if_known(self) -> str | None:
        """The identity id without logging in (None if unknown); for ``repr``."""
        if self._credentials:
            return self._credentials[0]
        with self._lock:
            if self._app is None and not has_token_file(self.user_dir):
                return None
            try:
                return self.app.token_storage.identity_id
            except Exception:  # a repr must never fail
                return None

    def reread_tokens(self) -> None:
        """Read the tokens from the store again at the next use: another process (a second
        kernel) may have logged out, or in, since this one cached them."""
        with self._lock:
            if self._app is not None:
                self._app._authorizer_factory.clear_cache()  # no public API (see forget_tokens)

    def verified_identity(self) -> str | None:
        """The identity id if the identity provider still honours the stored tokens, else None.

        Checked for real (one call to the identity provider), so a logout in another process
        that revoked the tokens is seen; stale tokens are forgotten here. Never starts a login;
        when the provider cannot be reached the stored tokens are trusted.
        """
        with self._lock:
            if self.logged_out:
                return None
            if self._credentials:
                return self._credentials[0]
            self.reread_tokens()
            identity = self.identity_if_known()
            if identity is None:
                return None
            app = self.app
            self._checking = True
            try:
                if app.login_required():
                    return None
                from globus_sdk.scopes import AuthScopes

                auth = globus_sdk.AuthClient(app=app, app_scopes=[AuthScopes.openid])
                try:
                    auth.userinfo()
                finally:
                    auth.close()
                return identity
            except (globus_sdk.GlobusAPIError, TokenValidationError) as exc:
                if not (is_stale_login(exc) or getattr(exc, "http_status", None) == 401):
                    return identity  # the provider failed otherwise: cannot tell
                log.info("stored tokens rejected (%s); forgetting them", type(exc).__name__)
            except globus_sdk.NetworkError:
                return identity
            finally:
                self._checking = False
            self.forget_tokens(app)
            app.close()
            self._app = None
            self._manager = None
            return None

    # --- login / logout ------------------------------------------------------------------

    def login(self, *, force: bool = False) -> str:
        """Log in (with the configured flow) and return the identity id."""
        with self._lock, asked_to_log_in():
            self.logged_out = False
            try:
                self.app.login(force=force)
            except globus_sdk.AuthAPIError as exc:
                raise NotLoggedInError(f"the login failed ({exc.code}: {exc.message})",
                                       hint=LOGIN_HINT) from exc
            return self.identity_id

    def begin_login(self) -> str:
        """Two-phase login, phase one: the URL to open (notebook flow only).

        A session that logs in headless with ``DIASPORA_LOGIN_USERNAME``/``_PASSWORD`` switches
        to the notebook flow for good: a person asked to log in in a browser (after a logout,
        or to become someone else), so the variables must not log them in again behind their
        back.
        """
        with self._lock:
            if (self._login_credentials and self._explicit_manager is None
                    and not self._credentials):
                self._login_credentials = None
                if self._app is not None:
                    self._app.close()
                self._app = self._manager = None
            app = self.app
            if not isinstance(self._manager, NotebookLoginFlowManager):
                raise DiasporaUsageError(
                    "this session does not use the notebook login flow",
                    hint="unset DIASPORA_LOGIN_* / DIASPORA_SDK_CLIENT_* to log in in a browser")
            self.logged_out = False
            return self._manager.begin(app)

    def finish_login(self, code: str) -> str:
        """Two-phase login, phase two: exchange the code; return the identity id."""
        with self._lock:
            if not isinstance(self._manager, NotebookLoginFlowManager):
                raise DiasporaUsageError(
                    "finish_login() needs a login begun in this session",
                    hint="call begin_login() first, open its URL and paste the code shown at "
                    "the end")
            self._manager.finish(self.app, code)
            return self.identity_id

    def logout(self) -> str | None:
        """Revoke and delete the tokens; the next app is a fresh one. Returns the old identity."""
        with self._lock:
            identity = self.identity_if_known()
            if self._app is not None or has_token_file(self.user_dir):
                app = self.app
                try:
                    app.logout()
                except globus_sdk.GlobusError as exc:
                    log.warning("token revocation failed (%s); removing the tokens locally",
                                type(exc).__name__)
                self.forget_tokens(app)
                app.close()
            self._app = None
            self._manager = None
            self.logged_out = True
            return identity

    def forget_tokens(self, app: globus_sdk.GlobusApp | None = None) -> None:
        """Delete stored tokens without revoking them (the IdP already forgot them)."""
        app = app or self.app
        inner = app.token_storage.token_storage
        for resource_server in list(inner.get_token_data_by_resource_server()):
            inner.remove_token_data(resource_server)
        app._authorizer_factory.clear_cache()  # no public API; logout() does the same

    def recover(self, exc: BaseException) -> None:
        """After a stale-token failure: tell the user, drop the tokens, log in afresh.

        Raises NotLoggedInError when no new login can happen here (logged out, or no input).
        """
        hint = widget_login_hint() if self.kind == "interactive" else None
        if hint is not None:  # a notebook with a login widget: no input() prompt
            with self._lock:
                self.forget_tokens()
                self.close()
            raise NotLoggedInError("your Diaspora login is no longer valid (a logout in "
                                   "another kernel, or it expired)", hint=hint) from exc
        print("Your Diaspora login is no longer valid; please log in again.", flush=True)
        log.info("stored tokens rejected (%s); starting a fresh login", type(exc).__name__)
        with self._lock:
            app = self.app
            self.forget_tokens(app)
            # a new app: the old one caches the identity and the IdP's signing key
            app.close()
            self._app = None
            if self.logged_out:
                raise NotLoggedInError("your Diaspora login is no longer valid; please log in "
                                       "again", hint=LOGIN_HINT) from exc
            self.login(force=True)

    def close(self) -> None:
        """Close the app's resources (token store connection, HTTP sessions); no logout."""
        with self._lock:
            if self._app is not None:
                self._app.close()
            self._app = None
            self._manager = None
