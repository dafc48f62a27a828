"""Login links a browser can open: direct, or through jupyter-server-proxy.

The local identity provider listens on ``127.0.0.1:<port>``, which a browser cannot reach when
JupyterLab runs elsewhere (Binder, JupyterHub). jupyter-server-proxy serves
``<base_url>proxy/<port>/<path>`` from ``localhost:<port>/<path>`` (the ``/proxy/<port>``
prefix is stripped), and the identity provider's pages use only relative links, so the whole
login works under that prefix; the final auth-code page shows the code to paste back.

Pure functions, imported by the login command and the login widget alike (never one of those
by the other).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an IP address, ``[::1]`` too) is this machine."""
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
    """Whether jupyter-server-proxy is importable in this kernel."""
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
