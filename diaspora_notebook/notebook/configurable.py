"""``Diaspora``: the notebook settings (``%config Diaspora.<trait>``) and the client they select.

Every trait has a ``DIASPORA_*`` environment variable for its default, read and validated by
:func:`diaspora_notebook.config.current` (the toolkit's one settings object), so a papermill
or CI run can set them without touching the notebook. ``%config Diaspora`` lists them with
their help. The object also owns the clients of the environments the magics name: one per
environment, closed when the extension unloads.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Enum, Float, Integer, Unicode, default
from traitlets.config import Configurable

from diaspora_notebook import config

if TYPE_CHECKING:
    from diaspora_notebook.client import Client


class Diaspora(Configurable):
    """Settings of the Diaspora magics and widgets (``%config Diaspora.<name> = value``)."""

    verbose_errors = Bool(
        help="Show full tracebacks for Diaspora errors instead of one line "
             "(env DIASPORA_VERBOSE_ERRORS). The cell fails either way.").tag(config=True)
    environment = Unicode(
        None, allow_none=True,
        help="Environment the magics use ('local' or a name from the environments file); "
             "None: DIASPORA_ENVIRONMENT, else a running local fabric.").tag(config=True)
    widget = Bool(
        help="Use ipywidgets for login, topics and keys (env DIASPORA_WIDGETS=0 turns them "
             "off: plain HTML output and input() login).").tag(config=True)
    peek_timeout = Float(
        help="Seconds %diaspora_peek waits for messages (env DIASPORA_PEEK_TIMEOUT).",
    ).tag(config=True)
    peek_rows = Integer(10, help="Default number of messages %diaspora_peek shows.").tag(
        config=True)
    kafka_timeout = Float(
        help="Seconds a produce or a broker call may take (env DIASPORA_KAFKA_TIMEOUT).",
    ).tag(config=True)
    stream_max_rows = Integer(
        1000, help="Default --max-rows of %diaspora_stream.").tag(config=True)
    login_link = Enum(
        config.LOGIN_LINK_MODES,
        help="How the login link reaches a local identity provider: 'proxy' through "
             "jupyter-server-proxy (<base_url>proxy/<port>/...), 'direct' as is, 'auto' "
             "proxy when behind JupyterHub/Binder (env DIASPORA_LOGIN_LINK).").tag(config=True)
    proxy_base_url = Unicode(
        None, allow_none=True,
        help="The Jupyter server's base URL for proxied login links (env "
             "DIASPORA_PROXY_BASE_URL, else JUPYTERHUB_SERVICE_PREFIX, else '/').").tag(
        config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clients: dict[str, Client] = {}  # one per environment name, closed by close()
        self._clients_lock = threading.Lock()

    @default("verbose_errors")
    def _verbose_default(self) -> bool:
        return config.current().verbose_errors

    @default("widget")
    def _widget_default(self) -> bool:
        # a terminal IPython cannot show widgets: plain text there unless asked otherwise
        terminal = type(self.parent).__name__ == "TerminalInteractiveShell"
        chosen = config.current().widgets
        return not terminal if chosen is None else chosen

    @default("peek_timeout")
    def _peek_timeout_default(self) -> float:
        return config.current().peek_timeout

    @default("kafka_timeout")
    def _kafka_timeout_default(self) -> float:
        return config.current().kafka_timeout

    @default("login_link")
    def _login_link_default(self) -> str:
        return config.current().login_link

    @default("proxy_base_url")
    def _proxy_base_default(self) -> str | None:
        return config.current().proxy_base_url

    def client(self, environment: str | None = None) -> Client:
        """The client of ``environment`` (default: this object's ``environment`` trait).

        Without any environment it is the process-wide default client, the one the Kafka
        wrappers use too, so a login in the notebook serves both. A named environment's client
        is made once and kept here (again when its endpoints or the user dir change) until
        :meth:`close`, which unloading the extension calls.
        """
        from diaspora_notebook.client import Client, default_client
        from diaspora_notebook.environments import resolve_environment

        name = environment or self.environment
        if not name:
            return default_client()
        env = resolve_environment(name)  # re-read: a restarted local fabric has new endpoints
        user_dir = config.current().user_dir
        with self._clients_lock:
            client = self._clients.get(name)
            if client is not None and client.environment == env and client.user_dir == user_dir:
                return client
            stale, client = client, Client(environment=env, user_dir=user_dir)
            self._clients[name] = client
        if stale is not None:
            stale.close()
        return client

    def close(self) -> None:
        """Close the clients :meth:`client` made (the default client is not ours to close)."""
        with self._clients_lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def logged_in_client(self) -> Client:
        """:meth:`client`, but a person who has not logged in gets a clear error at once.

        Headless logins (client credentials, DIASPORA_LOGIN_*) happen on demand as in any
        script; an interactive login would otherwise prompt with ``input()`` in the middle of
        an unrelated magic (or fail inside a widget callback, where there is no stdin).
        """
        from diaspora_notebook.errors import NotLoggedInError

        client = self.client()
        if client.login_kind == "interactive" and client.logged_in_identity() is None:
            raise NotLoggedInError("you are not logged in to Diaspora",
                                   hint="run %diaspora_login first")
        return client


EXTENSION_STATE = "_diaspora_extension"  # the attribute the loaded extension sets on the shell


def loaded_settings(shell: Any = None) -> Diaspora | None:
    """The ``Diaspora`` settings of the extension loaded in ``shell`` (default: the running
    IPython), or None when it is not loaded."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    state = getattr(shell, EXTENSION_STATE, None)
    return None if state is None else state["settings"]
