"""The two-phase login widget: a link, a code box and Submit; then who is logged in + Logout.

Non-blocking by design (a cell that waits cannot receive widget clicks): the cell displays the
link and returns; the Submit callback exchanges the code while the kernel is idle. The code box
is cleared as soon as it is read, server text is escaped, errors show inline. A refused code
keeps the login begun (the page the person opened still gives a code that works): only the
"New link" button, or a login that succeeded, ends it.

A skin over the plain API: ``Client.begin_login``/``finish_login``/``logout``, the same calls a
script makes. Methods named as verbs act (:meth:`LoginWidget.begin_login`,
:meth:`~LoginWidget.submit_code`, :meth:`~LoginWidget.log_out`); :meth:`LoginWidget.on_login`
registers a callback, as ``on_*`` does in ipywidgets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError, NotLoggedInError
from diaspora_notebook.notebook.errors import widget_message
from diaspora_notebook.notebook.html import badge, esc, status_line
from diaspora_notebook.notebook.links import browser_url
from diaspora_notebook.notebook.widgets import ipywidgets
from diaspora_notebook.notebook.widgets.record import Recorded

if TYPE_CHECKING:
    from diaspora_notebook.client import Client
    from diaspora_notebook.notebook.configurable import Diaspora

LoginCallback = Callable[[dict[str, Any]], None]
#: what to do after a refused code, in the widget's own words (the link stays valid)
REFUSED_CODE = ("Paste the code again (all of it, from the page the link above opened), or "
                "click New link to start over.")


def describe_identity(details: Mapping[str, Any]) -> str:
    """``alice (c2bc...)`` for status lines."""
    return f"{details.get('username') or details.get('name') or 'unknown'} ({details['id']})"


class LoginWidget(Recorded):
    """Login skin over ``Client.begin_login``/``finish_login`` and ``Client.logout``.

    :param client: the :class:`~diaspora_notebook.client.Client` to log in.
    :param settings: the ``Diaspora`` settings (login link mode, proxy base URL).
    :param identity: details of the identity already logged in (skips phase one).
    """

    def __init__(self, client: Client, settings: Diaspora, *,
                 identity: dict[str, Any] | None = None) -> None:
        w = ipywidgets()
        self.client, self.settings = client, settings
        self.identity: dict[str, Any] | None = None
        self.url: str | None = None
        self._login_callbacks: list[LoginCallback] = []
        self.status = w.HTML()
        self.link = w.HTML()
        self.code = w.Text(placeholder="paste the authorization code here",
                           description="Code:", layout=w.Layout(width="28em"))
        self.submit = w.Button(description="Submit", button_style="primary")
        self.new_link = w.Button(description="New link",
                                 tooltip="start over with a new login link")
        self.logout = w.Button(description="Logout")
        self.message = w.HTML()
        self.code_row = w.HBox([self.code, self.submit, self.new_link])
        self.widget = w.VBox([self.status, self.link, self.code_row, self.logout,
                              self.message])
        self.submit.on_click(lambda _b: self.submit_code())
        self.new_link.on_click(lambda _b: self.start_over())
        self.logout.on_click(lambda _b: self.log_out())
        if identity is not None:  # nothing left to do: shown as a record at once
            self._show_identity(identity)
            self.finish(self.record_html())
        else:
            self.begin_login()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def on_login(self, callback: LoginCallback, remove: bool = False) -> None:
        """Call ``callback(identity details)`` after each login through this widget."""
        if remove:
            self._login_callbacks.remove(callback)
        else:
            self._login_callbacks.append(callback)

    # --- states ---------------------------------------------------------------------------

    def begin_login(self) -> None:
        """Phase one: a fresh login link and an empty code box."""
        self.identity = None
        direct = self.client.begin_login()
        self.url = browser_url(direct, mode=self.settings.login_link,
                               base_url=self.settings.proxy_base_url)
        env = self.client.environment.name
        self.status.value = status_line(f"Not logged in to Diaspora ({env}).")
        other = (f' &middot; <a href="{esc(direct)}" target="_blank" rel="noopener">direct '
                 "link</a>" if direct != self.url else "")
        self.link.value = (f'<a href="{esc(self.url)}" target="_blank" rel="noopener" '
                           'style="font-weight:600">Open login page</a>' + other +
                           " &mdash; log in, then paste the code shown at the end.")
        self._visible(login=True)

    def _show_identity(self, details: dict[str, Any]) -> None:
        self.identity = details
        self.status.value = status_line(
            f"Logged in as {describe_identity(details)} "
            f"({self.client.environment.name})", kind="success")
        self.link.value = ""
        self._visible(login=False)

    def record_html(self) -> str:
        """The static record of a finished login (what a reopened notebook shows)."""
        who = describe_identity(self.identity or {"id": "?"})
        return (f"<div>{badge('success')} Logged in as {esc(who)} "
                f"({esc(self.client.environment.name)}) "
                f"{status_line('· %diaspora_logout logs out')}</div>")

    def _visible(self, *, login: bool) -> None:
        self.code_row.layout.display = None if login else "none"
        self.link.layout.display = None if login else "none"
        self.logout.layout.display = "none" if login else None

    # --- actions (short: the work is in Client) -------------------------------------------

    def submit_code(self) -> None:
        """Phase two: exchange the pasted code (what the Submit button does)."""
        code, self.code.value = self.code.value.strip(), ""
        if not code:
            self.message.value = status_line("Paste the code first.", kind="error")
            return
        self.message.value = status_line("Logging in...", kind="busy")
        try:
            self.client.finish_login(code)
            self._show_identity(self.client.whoami())
            self.message.value = ""
            # the login's work is done: the output becomes a record a reopened notebook shows
            self.finish(self.record_html())
        except NotLoggedInError as exc:  # refused: the same link and login stay
            self.message.value = status_line(
                f"The code was not accepted: {exc.message}. {REFUSED_CODE}", kind="error")
            return
        except DiasporaUsageError:  # no login begun in this kernel (any more)
            self.message.value = status_line("This login link has ended (a logout or another "
                                             "login since). Click New link to start over.",
                                             kind="error")
            return
        except Exception as exc:  # shown inline; the login begun stays
            self.message.value = status_line(widget_message(exc), kind="error")
            return
        for callback in list(self._login_callbacks):
            callback(dict(self.identity or {}))

    def start_over(self) -> None:
        """A new login link (the New link button); a code from the old one no longer works."""
        self.message.value = ""
        self._restart()
        if not self.message.value:
            self.message.value = status_line("A new login link is ready above: open it, log "
                                             "in, then paste the new code.")

    def _restart(self) -> None:
        try:
            self.begin_login()
        except Exception as exc:
            self.message.value += "<br>" + status_line(widget_message(exc), kind="error")

    def log_out(self) -> None:
        """Revoke and forget the tokens, then offer a fresh login (the Logout button)."""
        try:
            self.client.logout()
            self.message.value = status_line("Logged out.", kind="success")
            self._restart()
        except Exception as exc:
            self.message.value = status_line(widget_message(exc), kind="error")
