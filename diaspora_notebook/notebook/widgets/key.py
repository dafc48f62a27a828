"""The key widget: the connection details once, a masked password with Reveal and Copy, Rotate
(confirmed), and a compact snippet box for kafka-python and confluent-kafka.

The password is never a widget value. JupyterLab can save every widget's state with the
notebook ("Save Widget State Automatically", also on autosave), and an output is saved too, so
neither may hold it. Reveal and Copy therefore go through a small front-end piece
(:class:`SecretField`, an ``anywidget`` whose only synced values are its code and the mask):
the kernel sends the password in a custom comm message, which the browser writes into the
page's DOM (Reveal) or the clipboard (Copy) and which is not part of any model, so it is
saved nowhere. Hide, a reload or a closed kernel leave only the mask. The field appears only
after the first Reveal or Copy, so an exported notebook (nbconvert) shows stock widgets only.
Snippets load the key at run time with ``Client().connection_config(...)``.

Methods named as verbs act (:meth:`KeyWidget.show_password`, :meth:`~KeyWidget.copy_password`,
:meth:`~KeyWidget.rotate_key`); :meth:`KeyWidget.on_rotate` registers a callback, as ``on_*``
does in ipywidgets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diaspora_notebook.notebook.errors import widget_message
from diaspora_notebook.notebook.html import (
    MASK,
    KeyView,
    code_block,
    esc,
    kv_table,
    status_line,
)
from diaspora_notebook.notebook.widgets import dispatcher, ipywidgets
from diaspora_notebook.notebook.widgets.record import Companion

if TYPE_CHECKING:
    from diaspora_notebook.client import Client

SNIPPET_LIBRARIES = ("kafka-python", "confluent-kafka")
ROTATE_WARNING = ("Rotate the key? The current password stops working at once for every "
                  "program that uses it.")
# the front end of SecretField: shows or copies what a custom message carries, keeps nothing
FIELD_ESM = """
export default {
  render({ model, el }) {
    const box = document.createElement("code");
    box.className = "diaspora-secret";
    box.textContent = model.get("mask");
    el.appendChild(box);
    model.on("msg:custom", async (msg) => {
      if ("show" in msg) box.textContent = msg.show === null ? model.get("mask") : msg.show;
      if ("copy" in msg) {
        try {
          await navigator.clipboard.writeText(msg.copy);
          model.send({ copied: true });
        } catch (err) {
          model.send({ copied: false, reason: String(err) });
        }
      }
    });
    model.send({ ready: true });
  },
};
"""


@functools.cache
def _secret_field_class() -> type:
    try:
        import anywidget
    except ImportError:
        from diaspora_notebook.errors import DiasporaUsageError

        raise DiasporaUsageError("Reveal and Copy need anywidget",
                                 hint="pip install anywidget (then restart JupyterLab)") from None
    import traitlets

    class SecretField(anywidget.AnyWidget):
        """Shows a secret that reaches the browser only in custom messages (never in state)."""

        _esm = traitlets.Unicode(FIELD_ESM).tag(sync=True)
        mask = traitlets.Unicode(MASK).tag(sync=True)

    return SecretField


class SecretChannel:
    """The kernel side of one :class:`SecretField`: queue messages until its view is ready."""

    def __init__(self, on_copied: Callable[[bool, str], None]) -> None:
        self.field = _secret_field_class()()
        self.ready = False
        self._pending: list[dict[str, Any]] = []
        self._on_copied = on_copied
        self.field.on_msg(self._receive)

    def _receive(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("ready"):
            self.ready = True
            pending, self._pending = self._pending, []
            for message in pending:
                self.field.send(message)
        elif "copied" in content:
            self._on_copied(bool(content["copied"]), str(content.get("reason", "")))

    def send(self, message: dict[str, Any]) -> None:
        if self.ready:
            self.field.send(message)
        else:  # the view is not drawn yet: it says "ready" when it is
            self._pending = [m for m in self._pending if m.keys() != message.keys()]
            self._pending.append(message)

    def close(self) -> None:
        self.field.close()


def snippet_text(library: str) -> str:
    """Copy-paste code that loads the key at run time (the password is never in it)."""
    conf = "**conf" if library != "confluent-kafka" else "conf"
    producer = ("from confluent_kafka import Producer\nproducer = Producer(conf)"
                if library == "confluent-kafka"
                else f"from kafka import KafkaProducer\nproducer = KafkaProducer({conf})")
    return ("from diaspora_notebook import Client\n"
            f"conf = Client().connection_config({library!r})\n" + producer)


class KeyWidget(Companion):
    """Key skin over ``Client.retrieve_key`` / ``Client.rotate_key``.

    Displayed with a companion record (``record.Companion``): the connection details and the
    mask, which is what a notebook reopened without its kernel shows.

    :param client: a logged-in :class:`~diaspora_notebook.client.Client`.
    :param key: the key to show (default: ``client.retrieve_key()``).
    :param reveal: show the password as soon as the widget is drawn (explicit opt-in; it is
        still never saved with the notebook).
    :param rotated: say that ``key`` was just created.
    """

    record_title = "Diaspora Kafka key"

    def __init__(self, client: Client, *, key: dict[str, Any] | None = None, reveal: bool = False,
                 rotated: bool = False) -> None:
        w = ipywidgets()
        self.client = client
        self.key = KeyView(key if key is not None else client.retrieve_key())
        self._rotate_callbacks = dispatcher()
        self._channel: SecretChannel | None = None
        self.shown = False
        self.title = w.HTML("<b>Diaspora Kafka key</b>")
        self.details = w.HTML()
        self.masked = w.HTML(f"<code>{esc(MASK)}</code>")
        self.reveal = w.ToggleButton(value=False, description="Reveal", icon="eye",
                                     tooltip="show the password here (it is never saved with "
                                     "the notebook)", layout=w.Layout(width="auto"))
        self.copy = w.Button(description="Copy", icon="copy", tooltip="copy the password to the "
                             "clipboard", layout=w.Layout(width="auto"))
        self.rotate = w.Button(description="Rotate", button_style="warning", icon="refresh",
                               layout=w.Layout(width="auto"))
        self.confirm = w.Button(description="Yes, rotate", button_style="danger")
        self.cancel = w.Button(description="Cancel")
        self.confirm_row = w.HBox([w.HTML(status_line(ROTATE_WARNING, kind="error")),
                                   self.confirm, self.cancel])
        self.password_row = w.HBox([w.HTML("<b>Password</b>&nbsp;"), self.masked, self.reveal,
                                    self.copy, self.rotate],
                                   layout=w.Layout(align_items="center"))
        self.snippets = {lib: w.HTML(code_block(snippet_text(lib)))
                         for lib in SNIPPET_LIBRARIES}
        self.tabs = w.Tab(children=list(self.snippets.values()), titles=SNIPPET_LIBRARIES,
                          layout=w.Layout(max_width="44em"))
        self.message = w.HTML()
        self.widget = w.VBox([self.title, self.details, self.password_row, self.confirm_row,
                              self.tabs, self.message])
        self.reveal.observe(lambda change: self.show_password(change["new"]), names="value")
        self.copy.on_click(lambda _b: self.copy_password())
        self.rotate.on_click(lambda _b: self.ask_rotate(True))
        self.cancel.on_click(lambda _b: self.ask_rotate(False))
        self.confirm.on_click(lambda _b: self.rotate_key())
        self.ask_rotate(False)
        self.render()
        if reveal:
            self.reveal.value = True
        if rotated:
            self.message.value = status_line("New key created.", kind="success")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _rows(self) -> list[tuple[str, Any]]:
        env = self.client.environment
        rows = [("Username", self.key.username),
                ("Bootstrap servers", ", ".join(env.bootstrap_servers)),
                ("Security", f"{env.security_protocol} / {env.sasl_mechanism}"),
                ("CA file", str(env.ca_file) if env.ca_file else "system trust store")]
        if self.key.endpoint and self.key.endpoint not in env.bootstrap_servers:
            rows.insert(1, ("Endpoint", self.key.endpoint))
        return rows

    def render(self) -> None:
        """Write the connection details (each value once; never the password)."""
        self.details.value = kv_table(self._rows())
        self.update_record()

    def record_body(self) -> str:
        """The details and the mask: nothing of the password, not even its length."""
        return kv_table([*self._rows(), ("Password", MASK)]) + self.message.value

    def record_text(self) -> str:
        return "\n".join([self.record_title, *(f"{k}: {v}" for k, v in self._rows()),
                          f"Password: {MASK}"])

    def on_rotate(self, callback: Callable[[dict[str, Any]], None], remove: bool = False) -> None:
        """Call ``callback(key)`` with the new key after each rotation (``remove``: stop)."""
        self._rotate_callbacks.register_callback(callback, remove=remove)

    # --- the secret field ------------------------------------------------------------------

    def _secret_channel(self) -> SecretChannel:
        if self._channel is None:
            self._channel = SecretChannel(self._copied)
            children = list(self.password_row.children)
            children[children.index(self.masked)] = self._channel.field
            self.password_row.children = children
        return self._channel

    def _copied(self, ok: bool, reason: str) -> None:
        self.message.value = (status_line("Password copied to the clipboard.", kind="success")
                              if ok else status_line(f"The browser refused the copy ({reason}); "
                                                     "use Reveal instead.", kind="error"))

    # --- actions (what the buttons do) ----------------------------------------------------

    def show_password(self, shown: bool) -> None:
        """Show (or hide again) the password in the browser; the Reveal toggle calls this."""
        self.shown = bool(shown)
        if self.reveal.value != self.shown:
            self.reveal.value = self.shown  # calls back here once, with the same value
            return
        self.reveal.description = "Hide" if self.shown else "Reveal"
        self.reveal.icon = "eye-slash" if self.shown else "eye"
        if self.shown or self._channel is not None:
            self._secret_channel().send({"show": self.key.password if self.shown else None})

    def copy_password(self) -> None:
        """Put the password on the browser's clipboard (the Copy button)."""
        self._secret_channel().send({"copy": self.key.password})

    def ask_rotate(self, asking: bool) -> None:
        """Show (or hide) the "Yes, rotate" confirmation row."""
        self.confirm_row.layout.display = None if asking else "none"
        self.rotate.disabled = asking

    def rotate_key(self) -> bool:
        """Create a new key now (``Client.rotate_key``: the old password stops working, on v3
        the old access key too); True on success."""
        self.ask_rotate(False)
        self.message.value = status_line("Creating a new key...", kind="busy")
        try:
            new = self.client.rotate_key()
            self.key = KeyView(new)
        except Exception as exc:  # shown inline
            self.message.value = status_line(widget_message(exc), kind="error")
            return False
        self.render()
        if self.shown:
            self._secret_channel().send({"show": self.key.password})
        self.message.value = status_line("New key created; the old password no longer works.",
                                         kind="success")
        self.update_record()
        self._rotate_callbacks(new)
        return True
