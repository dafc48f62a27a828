"""``%diaspora_login``, ``%diaspora_logout``, ``%diaspora_whoami``.

The login itself is the plain API (``Client.login``, ``Client.begin_login``/``finish_login``);
this module picks the flow (headless, widget, ``input()``) and finds out who is logged in
without starting a login. Login links are made reachable from the user's browser by
:mod:`diaspora_notebook.notebook.links`; the code prompt is the toolkit's one
(:func:`diaspora_notebook.login.read_code`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import NotLoggedInError
from diaspora_notebook.login.flows import read_code, show_login_url
from diaspora_notebook.notebook.html import IdentityView, Result
from diaspora_notebook.notebook.links import browser_url
from diaspora_notebook.notebook.widgets.login import LoginWidget

if TYPE_CHECKING:
    from diaspora_notebook.client import Client
    from diaspora_notebook.notebook.configurable import Diaspora

#: a login needed in the middle of a cell, in a kernel that logs in with the widget
WIDGET_LOGIN_HINT = "log in with the widget of %diaspora_login, then run this cell again"
NO_INPUT_HINT = ("use the login widget (%diaspora_login without --no-widget), or set "
                 "DIASPORA_LOGIN_USERNAME/PASSWORD")


def login_headless(client: Client, *, force: bool = False) -> dict[str, Any]:
    """Log in with client credentials or DIASPORA_LOGIN_USERNAME/PASSWORD (no widget)."""
    client.login(force=force)
    return client.whoami()


def login_with_input(client: Client, settings: Diaspora) -> dict[str, Any]:
    """The ``--no-widget`` flow: print the link, read the code with ``input()``."""
    direct = client.begin_login()
    show_login_url(browser_url(direct, mode=settings.login_link,
                               base_url=settings.proxy_base_url), direct=direct)
    client.finish_login(read_code(hint=NO_INPUT_HINT))
    return client.whoami()


def require_identity(client: Client) -> dict[str, Any]:
    """The logged-in identity's details, or NotLoggedInError (no login is started)."""
    if client.logged_in_identity() is None:
        raise NotLoggedInError("you are not logged in to Diaspora",
                               hint="run %diaspora_login")
    return client.whoami()


# --- the magics' bodies ----------------------------------------------------------------------


def run_login(settings: Diaspora, *, environment: str | None = None, widget: bool = True,
              force: bool = False) -> LoginWidget | IdentityView:
    """What ``%diaspora_login`` shows: the identity, or the two-phase login widget."""
    client = settings.client(environment)  # an unknown name fails here, before it sticks
    if environment:
        settings.environment = environment
    # checked with the identity provider: tokens another kernel's logout revoked are not a login
    identity = None if force else client.logged_in_identity(verify=True)
    use_widget = widget and settings.widget
    # a person in a kernel with DIASPORA_LOGIN_* (demo-env, Binder) who logged out or forces a
    # login gets the widget: the variables must not log them in again behind their back
    by_hand = use_widget and client.login_kind == "programmatic" and (force or client.logged_out)
    if identity is not None:
        details = client.whoami()
    elif by_hand:
        return LoginWidget(client, settings)
    elif client.login_kind != "interactive":
        details = login_headless(client, force=force)
    elif use_widget:
        return LoginWidget(client, settings)
    else:
        details = login_with_input(client, settings)
    if use_widget:
        return LoginWidget(client, settings, identity=details)
    return IdentityView(client, details)


def run_logout(settings: Diaspora) -> Result:
    result = settings.client().logout()
    who = result.get("identity")
    message = f"logged out {who}" if who else "no one was logged in"
    return Result({"status": "success" if who else "no-op", "message": message})


def run_whoami(settings: Diaspora) -> IdentityView:
    client = settings.client()
    return IdentityView(client, require_identity(client))
