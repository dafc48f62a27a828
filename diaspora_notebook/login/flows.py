"""Login flow managers for ``globus_sdk.UserApp``: notebook (two-phase), command line, headless.

* :class:`CommandLineLoginFlowManager` prints the authorize URL and reads the code with
  ``input()`` (:func:`show_login_url`, :func:`read_code`: the one prompt of the toolkit, also
  used by ``%diaspora_login --no-widget``). That works inside a Jupyter cell too; there is no
  TTY check. End of input becomes a :class:`~diaspora_notebook.errors.NotLoggedInError` that
  says how to log in.
* :class:`NotebookLoginFlowManager` adds the non-blocking two-phase login behind
  ``Client.begin_login``/``Client.finish_login``: ``begin(app)`` returns the authorize URL (the
  PKCE verifier stays on the login client), ``finish(app, code)`` exchanges the code. A login
  needed in the middle of a cell falls back to ``input()``, except where a notebook logs in
  with a widget (:func:`use_widget_login`): it fails there with a hint to use the widget. A
  refused code keeps the login begun: ``finish`` may be called again with the right code.
* :class:`ProgrammaticLoginFlowManager` fills the identity provider's login and consent forms
  with a username and password (:func:`~diaspora_notebook.login.form.complete_login_form`):
  for tests, CI and headless notebooks (``DIASPORA_LOGIN_USERNAME`` /
  ``DIASPORA_LOGIN_PASSWORD``).

Managers may be created before their login client exists ("unbound"); :func:`bind` attaches
the client when the app is built.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import globus_sdk
from globus_sdk.gare import GlobusAuthorizationParameters
from globus_sdk.login_flows import CommandLineLoginFlowManager as _GlobusCommandLine
from globus_sdk.login_flows import LoginFlowManager
from globus_sdk.scopes import ScopeParser

from diaspora_notebook.errors import DiasporaUsageError, NotLoggedInError
from diaspora_notebook.login import form

if TYPE_CHECKING:
    from globus_sdk import GlobusApp

log = logging.getLogger(__name__)
LOGIN_HINT = ("run Client().login() in a terminal or notebook, or set DIASPORA_LOGIN_USERNAME "
              "and DIASPORA_LOGIN_PASSWORD to log in headless")
NAMED_GRANT = "diaspora-notebook"
#: a refused code: the login begun is kept, so the right code still works
REFUSED_CODE_HINT = ("check that the whole code from the login page was pasted and call "
                     "finish_login() again; codes work once and expire: begin_login() starts "
                     "over with a new link")


#: set by a notebook extension that logs people in with a widget (:func:`use_widget_login`)
_widget_login: Callable[[], str | None] | None = None


def use_widget_login(hint: Callable[[], str | None] | None) -> None:
    """Where a notebook logs people in with a widget: a login needed in the middle of a cell
    then fails with the hint ``hint()`` returns instead of prompting with ``input()`` (a kernel
    that shows a login widget must not also wait on a prompt Run All cannot answer). ``hint()``
    returning None, or ``use_widget_login(None)``: prompt as before."""
    global _widget_login
    _widget_login = hint


#: True while an explicit login runs (``Client.login()``): it may prompt wherever it runs
_asked: contextvars.ContextVar[bool] = contextvars.ContextVar("diaspora_login_asked",
                                                              default=False)


@contextlib.contextmanager
def asked_to_log_in() -> Iterator[None]:
    """Mark a login someone asked for (``Client.login()``): it may prompt with ``input()``
    even where a widget logs people in; only logins a cell needs on the way fail instead."""
    token = _asked.set(True)
    try:
        yield
    finally:
        _asked.reset(token)


def widget_login_hint() -> str | None:
    """The hint of :func:`use_widget_login` now (None: a login may prompt with ``input()``)."""
    hint = _widget_login
    return None if hint is None or _asked.get() else hint()


def default_redirect_uri(login_client: globus_sdk.AuthLoginClient) -> str:
    """The native client's code page, ``<auth base>/v2/web/auth-code``."""
    base = login_client.base_url
    return (base if base.endswith("/") else base + "/") + "v2/web/auth-code"


def show_login_url(url: str, *, direct: str | None = None) -> None:
    """Print the login link (and the direct one when a proxy rewrote it) for :func:`read_code`."""
    print("Log in to Diaspora at this URL, then paste the authorization code below:\n"
          f"  {url}", flush=True)
    if direct and direct != url:
        print(f"  (direct link: {direct})", flush=True)


def read_code(*, hint: str = LOGIN_HINT) -> str:
    """Read the authorization code with ``input()``.

    :param hint: what to do instead, shown when there is no input or no code.
    :raises NotLoggedInError: no stdin (a daemon, CI, captured output) or an empty answer.
    """
    try:
        code = input("Authorization code: ").strip()
    except (EOFError, OSError):
        raise NotLoggedInError("a login is needed but there is no input to read the "
                               "authorization code from", hint=hint) from None
    if not code:
        raise NotLoggedInError("no authorization code was entered", hint=hint)
    return code


def bind(manager: LoginFlowManager, login_client: globus_sdk.AuthLoginClient, *,
         request_refresh_tokens: bool = True) -> LoginFlowManager:
    """Attach ``login_client`` to one of our managers created without one."""
    if getattr(manager, "login_client", None) is None:
        LoginFlowManager.__init__(manager, login_client,
                                  request_refresh_tokens=request_refresh_tokens,
                                  native_prefill_named_grant=NAMED_GRANT)
        if getattr(manager, "redirect_uri", None) is None:
            manager.redirect_uri = default_redirect_uri(login_client)  # type: ignore[attr-defined]
    return manager


class CommandLineLoginFlowManager(_GlobusCommandLine):
    """Print the URL, read the code with ``input()`` (fine in Jupyter; no TTY check)."""

    def __init__(self, login_client: globus_sdk.AuthLoginClient | None = None, *,
                 redirect_uri: str | None = None, request_refresh_tokens: bool = True) -> None:
        # unbound until bind(): globus-sdk's attributes exist, set to None
        self.login_client = None  # type: ignore[assignment]
        self.redirect_uri = redirect_uri  # type: ignore[assignment]
        if login_client is not None:
            super().__init__(login_client, redirect_uri=redirect_uri,
                             request_refresh_tokens=request_refresh_tokens,
                             native_prefill_named_grant=NAMED_GRANT)

    def print_authorize_url(self, authorize_url: str) -> None:
        show_login_url(authorize_url)

    def prompt_for_code(self) -> str:
        return read_code()


class NotebookLoginFlowManager(CommandLineLoginFlowManager):
    """Two-phase login for notebooks: ``begin`` shows a URL, ``finish`` takes the code."""

    def __init__(self, login_client: globus_sdk.AuthLoginClient | None = None, *,
                 redirect_uri: str | None = None, request_refresh_tokens: bool = True) -> None:
        super().__init__(login_client, redirect_uri=redirect_uri,
                         request_refresh_tokens=request_refresh_tokens)
        self._pending_code: str | None = None
        self._begun = False
        self._lock = threading.Lock()

    def begin(self, app: GlobusApp) -> str:
        """Start a login for all of ``app``'s scopes; return the URL the user must open."""
        scopes = ScopeParser.merge_scopes(
            [s for values in app.scope_requirements.values() for s in values], [])
        params = GlobusAuthorizationParameters(required_scopes=[str(s) for s in scopes])
        with self._lock:
            url = self._get_authorize_url(params, self.redirect_uri)
            self._begun = True
        return url

    def finish(self, app: GlobusApp, code: str) -> None:
        """Exchange ``code`` (from the page ``begin``'s URL led to) and store the tokens."""
        code = code.strip()
        if not code:
            raise DiasporaUsageError("the authorization code is empty",
                                     hint="paste the code shown after logging in")
        with self._lock:
            if not self._begun:
                raise DiasporaUsageError("finish_login() was called before begin_login()",
                                         hint="call begin_login() first and open its URL")
            self._pending_code = code
        try:
            app.login(force=True)
        except globus_sdk.AuthAPIError as exc:
            # the login begun stays: a mistyped code, then the right one, logs in (a new
            # begin() would give the right code a verifier it does not match)
            raise NotLoggedInError(f"the identity provider refused the code ({exc.code})",
                                   hint=REFUSED_CODE_HINT) from exc
        finally:
            with self._lock:
                self._pending_code = None
        with self._lock:
            self._begun = False

    def run_login_flow(self, auth_parameters: GlobusAuthorizationParameters
                       ) -> globus_sdk.OAuthTokenResponse:
        with self._lock:
            code, self._pending_code = self._pending_code, None
        if code is not None:
            return self.login_client.oauth2_exchange_code_for_tokens(code)
        hint = widget_login_hint()
        if hint is not None:  # a notebook with a login widget: never input()
            raise NotLoggedInError("you are not logged in to Diaspora", hint=hint)
        return super().run_login_flow(auth_parameters)


class ProgrammaticLoginFlowManager(LoginFlowManager):
    """Log in by filling the IdP's HTML login and consent forms (tests, CI, headless).

    :param username: the account's username.
    :param password: its password (kept in memory only).
    :param login_client: the native login client; bound later by the toolkit if omitted.
    :param timeout: seconds per HTTP request to the identity provider.
    """

    def __init__(self, username: str, password: str,
                 login_client: globus_sdk.AuthLoginClient | None = None, *,
                 redirect_uri: str | None = None, request_refresh_tokens: bool = True,
                 timeout: float = 10.0) -> None:
        self.username = username
        self._password = password
        self.timeout = timeout
        self.login_client = None  # type: ignore[assignment]
        self.redirect_uri = redirect_uri
        if login_client is not None:
            super().__init__(login_client, request_refresh_tokens=request_refresh_tokens)
            self.redirect_uri = redirect_uri or default_redirect_uri(login_client)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(username={self.username!r})"

    def run_login_flow(self, auth_parameters: GlobusAuthorizationParameters
                       ) -> globus_sdk.OAuthTokenResponse:
        if self.redirect_uri is None:
            raise DiasporaUsageError("this login flow manager has no login client",
                                     hint="pass it to Client(login_flow_manager=...)")
        url = self._get_authorize_url(auth_parameters, self.redirect_uri)
        # looked up at call time, so a test can replace the form filler
        code = form.complete_login_form(url, self.username, self._password,
                                        timeout=self.timeout)
        return self.login_client.oauth2_exchange_code_for_tokens(code)
