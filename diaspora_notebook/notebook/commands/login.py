"""``%diaspora_login``, ``%diaspora_logout``, ``%diaspora_whoami`` and the login link.

The login itself is the plain API (``Client.login``, ``begin_login``/``finish_login``); this
module picks the flow (headless, widget, ``input()``), finds out who is logged in without
starting a login, and makes the login link reachable from the user's browser.

Link rewriting (:func:`proxied_url`, pure): the local identity provider listens on
``127.0.0.1:<port>``, which a browser cannot reach when JupyterLab runs elsewhere (Binder,
JupyterHub). jupyter-server-proxy serves ``<base_url>proxy/<port>/<path>`` from
``localhost:<port>/<path>`` (the ``/proxy/<port>`` prefix is stripped), and the identity
provider's pages use only relative links, so the whole login works under that prefix; the
final auth-code page shows the code to paste back.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from diaspora_notebook.errors import NotLoggedInError

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxied_url(url: str, base_url: str = "/") -> str:
    """``http://127.0.0.1:8765/v2/x?q`` -> ``<base_url>proxy/8765/v2/x?q`` (jupyter-server-proxy).

    :param url: an absolute URL on a loopback host with an explicit port.
    :param base_url: the Jupyter server's base URL: a path (``/user/ann/``) or an absolute
        URL (``https://hub.example.org/user/ann/``); a missing trailing slash is added.
    :returns: ``url`` unchanged when it is not on a loopback host with a port.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return url
    if not is_loopback(parts.hostname) or port is None:
        return url
    base = urlsplit(base_url or "/")
    prefix = base.path if base.path.endswith("/") else base.path + "/"
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    return urlunsplit((base.scheme, base.netloc, f"{prefix}proxy/{port}{path}", parts.query,
                       parts.fragment))


def proxy_installed() -> bool:
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def browser_url(url: str, *, mode: str = "auto", base_url: str | None = None,
                environ: Mapping[str, str] | None = None,
                proxy_available: bool | None = None) -> str:
    """The login link to show: ``url`` itself, or through jupyter-server-proxy.

    :param mode: ``"direct"`` never rewrites; ``"proxy"`` always rewrites a loopback URL;
        ``"auto"`` rewrites when jupyter-server-proxy is installed and a base URL is known
        (``base_url`` or ``JUPYTERHUB_SERVICE_PREFIX``: JupyterHub and Binder).
    :param base_url: the Jupyter server's base URL (``Diaspora.proxy_base_url``).
    :param environ: environment variables (default ``os.environ``).
    :param proxy_available: whether jupyter-server-proxy is installed (default: look).
    """
    env = os.environ if environ is None else environ
    base = base_url or env.get("JUPYTERHUB_SERVICE_PREFIX") or None
    if mode == "direct" or not is_loopback(urlsplit(url).hostname):
        return url
    if mode == "proxy":
        return proxied_url(url, base or "/")
    available = proxy_installed() if proxy_available is None else proxy_available
    return proxied_url(url, base) if (available and base) else url


def describe_identity(details: Mapping[str, Any]) -> str:
    """``alice (c2bc...)`` for status lines."""
    return f"{details.get('username') or details.get('name') or 'unknown'} ({details['id']})"


def begin(client: Any, settings: Any) -> tuple[str, str]:
    """Phase one: ``(url to show, direct url)``."""
    url = client.begin_login()
    return browser_url(url, mode=settings.login_link, base_url=settings.proxy_base_url), url


def finish(client: Any, code: str) -> dict[str, Any]:
    """Phase two: exchange the pasted code; the identity's details."""
    client.finish_login(code.strip())
    return client.whoami()


def login_headless(client: Any, *, force: bool = False) -> dict[str, Any]:
    """Log in with client credentials or DIASPORA_LOGIN_USERNAME/PASSWORD (no widget)."""
    client.login(force=force)
    return client.whoami()


def login_with_input(client: Any, settings: Any) -> dict[str, Any]:
    """The ``--no-widget`` flow: print the link, read the code with ``input()``."""
    url, direct = begin(client, settings)
    print("Log in to Diaspora at this URL, then paste the authorization code below:\n"
          f"  {url}", flush=True)
    if url != direct:
        print(f"  (direct link: {direct})", flush=True)
    try:
        code = input("Authorization code: ")
    except EOFError:
        raise NotLoggedInError("there is no input to read the authorization code from",
                               hint="use the login widget (%diaspora_login without "
                               "--no-widget), or set DIASPORA_LOGIN_USERNAME/PASSWORD") from None
    if not code.strip():
        raise NotLoggedInError("no authorization code was entered",
                               hint="run %diaspora_login again and paste the code")
    return finish(client, code)


def require_identity(client: Any) -> dict[str, Any]:
    """The logged-in identity's details, or NotLoggedInError (no login is started)."""
    identity = client.logged_in_identity()
    if identity is None:
        raise NotLoggedInError("you are not logged in to Diaspora",
                               hint="run %diaspora_login")
    return client.whoami()


# --- the magics' bodies ----------------------------------------------------------------------


def run_login(settings: Any, *, environment: str | None = None, widget: bool = True,
              force: bool = False) -> Any:
    """What ``%diaspora_login`` shows: the identity, or the two-phase login widget."""
    from diaspora_notebook.notebook.html import IdentityView

    client = settings.client(environment)  # an unknown name fails here, before it sticks
    if environment:
        settings.environment = environment
    identity = None if force else client.logged_in_identity()
    use_widget = widget and settings.widget
    if identity is not None:
        details = client.whoami()
    elif client.login_kind != "interactive":
        details = login_headless(client, force=force)
    elif use_widget:
        from diaspora_notebook.notebook.widgets.login import LoginWidget

        return LoginWidget(client, settings)
    else:
        details = login_with_input(client, settings)
    if use_widget:
        from diaspora_notebook.notebook.widgets.login import LoginWidget

        return LoginWidget(client, settings, identity=details)
    return IdentityView(client, details)


def run_logout(settings: Any) -> Any:
    from diaspora_notebook.notebook.html import Result

    result = settings.client().logout()
    who = result.get("identity")
    message = f"logged out {who}" if who else "no one was logged in"
    return Result({"status": "success" if who else "no-op", "message": message})


def run_whoami(settings: Any) -> Any:
    from diaspora_notebook.notebook.html import IdentityView

    client = settings.client()
    return IdentityView(client, require_identity(client))
