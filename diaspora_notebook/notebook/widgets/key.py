"""The key widget: username, masked password with Reveal, Rotate (confirmed), connection
details and copy-paste snippets for kafka-python and confluent-kafka.

The password lives only in this Python object (a :class:`~diaspora_notebook.notebook.html.KeyView`)
until Reveal is on: no widget value (which the front end saves with the notebook's widget state)
and no ``text/plain`` or ``text/html`` output holds it. Turning Reveal off takes it out of the
widget state again. Snippets without Reveal load the key at run time with
``Client().connection_config(...)``.

Methods named as verbs act (:meth:`KeyWidget.show_password`, :meth:`~KeyWidget.rotate_key`);
:meth:`KeyWidget.on_rotate` registers a callback, as ``on_*`` does in ipywidgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diaspora_notebook.notebook.errors import widget_message
from diaspora_notebook.notebook.html import (
    KeyView,
    connection_rows,
    esc,
    kv_table,
    snippet,
    status_line,
)
from diaspora_notebook.notebook.widgets import dispatcher, ipywidgets

if TYPE_CHECKING:
    from diaspora_notebook.client import Client

SNIPPET_LIBRARIES = ("kafka-python", "confluent-kafka")
ROTATE_WARNING = ("Rotate the key? The current password stops working at once for every "
                  "program that uses it.")


class KeyWidget:
    """Key skin over ``Client.retrieve_key`` / ``Client.create_key``.

    :param client: a logged-in :class:`~diaspora_notebook.client.Client`.
    :param key: the key to show (default: ``client.retrieve_key()``).
    :param reveal: start with the password visible (explicit opt-in).
    :param rotated: say that ``key`` was just created.
    """

    def __init__(self, client: Client, *, key: dict[str, Any] | None = None, reveal: bool = False,
                 rotated: bool = False) -> None:
        w = ipywidgets()
        self.client = client
        self.key = KeyView(key if key is not None else client.retrieve_key(), reveal=reveal)
        self._rotate_callbacks = dispatcher()
        self.title = w.HTML("<b>Diaspora Kafka key</b>")
        self.username = w.HTML()
        self.password = w.HTML()
        self.reveal = w.ToggleButton(value=reveal, description="Reveal",
                                     tooltip="show the password (it is then saved with the "
                                     "notebook)")
        self.rotate = w.Button(description="Rotate", button_style="warning")
        self.confirm = w.Button(description="Yes, rotate", button_style="danger")
        self.cancel = w.Button(description="Cancel")
        self.confirm_row = w.HBox([w.HTML(status_line(ROTATE_WARNING, kind="error")),
                                   self.confirm, self.cancel])
        self.details = w.HTML()
        self.snippets = {lib: w.Textarea(layout=w.Layout(width="100%", height="11em"))
                         for lib in SNIPPET_LIBRARIES}
        self.tabs = w.Tab(children=list(self.snippets.values()), titles=SNIPPET_LIBRARIES)
        self.message = w.HTML()
        self.widget = w.VBox([self.title, self.username, w.HBox([self.password, self.reveal,
                                                                  self.rotate]),
                              self.confirm_row, self.details, self.tabs, self.message])
        self.reveal.observe(lambda change: self.show_password(change["new"]), names="value")
        self.rotate.on_click(lambda _b: self.ask_rotate(True))
        self.cancel.on_click(lambda _b: self.ask_rotate(False))
        self.confirm.on_click(lambda _b: self.rotate_key())
        self.ask_rotate(False)
        self.render()
        if rotated:
            self.message.value = status_line("New key created.", kind="success")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def render(self) -> None:
        """Write the key into the widgets, the password only if revealed."""
        env = self.client.environment
        self.username.value = f"Username: <code>{esc(self.key.username)}</code>"
        self.password.value = f"Password: <code>{esc(self.key.shown_password())}</code>"
        self.details.value = kv_table(connection_rows(env, self.key))
        for lib, area in self.snippets.items():
            area.value = snippet(lib, env, self.key)

    def on_rotate(self, callback: Callable[[dict[str, Any]], None], remove: bool = False) -> None:
        """Call ``callback(key)`` with the new key after each rotation (``remove``: stop)."""
        self._rotate_callbacks.register_callback(callback, remove=remove)

    # --- actions (what the buttons do) ----------------------------------------------------

    def show_password(self, shown: bool) -> None:
        """Show (or hide again) the password; the Reveal toggle calls this."""
        self.key.reveal = bool(shown)
        self.render()

    def ask_rotate(self, asking: bool) -> None:
        """Show (or hide) the "Yes, rotate" confirmation row."""
        self.confirm_row.layout.display = None if asking else "none"
        self.rotate.disabled = asking

    def rotate_key(self) -> bool:
        """Create a new key now (the old password stops working); True on success."""
        self.ask_rotate(False)
        self.message.value = status_line("Creating a new key...", kind="busy")
        try:
            new = self.client.create_key()
            self.key = KeyView(new, reveal=self.reveal.value)
        except Exception as exc:  # shown inline
            self.message.value = status_line(widget_message(exc), kind="error")
            return False
        self.render()
        self.message.value = status_line("New key created; the old password no longer works.",
                                         kind="success")
        self._rotate_callbacks(new)
        return True
