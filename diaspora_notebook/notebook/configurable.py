"""``Diaspora``: the notebook settings (``%config Diaspora.<trait>``) and the client they select.

Every trait has a ``DIASPORA_*`` environment variable for its default, read and validated by
:mod:`diaspora_notebook.config` (the toolkit's one settings object), so a papermill or CI run
can set them without touching the notebook. ``%config Diaspora`` lists them with their help.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from traitlets import Bool, Enum, Float, Integer, Unicode, default
from traitlets.config import Configurable

from diaspora_notebook import config as toolkit_config

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
        toolkit_config.LOGIN_LINK_MODES,
        help="How the login link reaches a local identity provider: 'proxy' through "
             "jupyter-server-proxy (<base_url>proxy/<port>/...), 'direct' as is, 'auto' "
             "proxy when behind JupyterHub/Binder (env DIASPORA_LOGIN_LINK).").tag(config=True)
    proxy_base_url = Unicode(
        None, allow_none=True,
        help="The Jupyter server's base URL for proxied login links (env "
             "DIASPORA_PROXY_BASE_URL, else JUPYTERHUB_SERVICE_PREFIX, else '/').").tag(
        config=True)

    @default("verbose_errors")
    def _verbose_default(self) -> bool:
        return toolkit_config.get_verbose_errors()

    @default("widget")
    def _widget_default(self) -> bool:
        # a terminal IPython cannot show widgets: plain text there unless asked otherwise
        terminal = type(self.parent).__name__ == "TerminalInteractiveShell"
        chosen = toolkit_config.get_widgets()
        return not terminal if chosen is None else chosen

    @default("peek_timeout")
    def _peek_timeout_default(self) -> float:
        return toolkit_config.get_peek_timeout()

    @default("kafka_timeout")
    def _kafka_timeout_default(self) -> float:
        return toolkit_config.get_kafka_timeout()

    @default("login_link")
    def _login_link_default(self) -> str:
        return toolkit_config.get_login_link()

    @default("proxy_base_url")
    def _proxy_base_default(self) -> str | None:
        return toolkit_config.get_proxy_base_url()

    def client(self, environment: str | None = None) -> Client:
        """The client of ``environment`` (default: this object's ``environment`` trait).

        Without any environment it is the process-wide default client, the one the Kafka
        wrappers use too, so a login in the notebook serves both.
        """
        from diaspora_notebook.client import Client, default_client

        name = environment or self.environment
        if not name:
            return default_client()
        return Client(environment=name)

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
