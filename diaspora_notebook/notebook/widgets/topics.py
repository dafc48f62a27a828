"""The topic manager: your topics with partitions and end offsets, and buttons for the rest.

Register / unregister (ACLs, through the web service), create / delete (on the brokers, with a
partition count), grant / revoke another identity by username, list a topic's users, refresh.
Every action reports in the message line; errors show there too, never as a traceback. Delete
asks for a second click because it destroys messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from diaspora_notebook.notebook.commands import kafka_ops
from diaspora_notebook.notebook.commands import topics as topics_cmd
from diaspora_notebook.notebook.errors import widget_message
from diaspora_notebook.notebook.html import Result, status_line, topics_html
from diaspora_notebook.notebook.widgets.login import ipywidgets


class TopicManager:
    """Topic manager skin over :mod:`diaspora_notebook.notebook.commands.topics`.

    :param client: a logged-in :class:`~diaspora_notebook.client.Client`.
    :param load: fill the table now (False: wait for Refresh).
    """

    def __init__(self, client: Any, *, load: bool = True) -> None:
        w = ipywidgets()
        self.client = client
        self.infos: list[kafka_ops.TopicInfo] = []
        self._armed_delete: str | None = None
        self.title = w.HTML("<b>Diaspora topics</b>")
        self.table = w.HTML()
        self.topic = w.Combobox(placeholder="topic name", description="Topic:",
                                ensure_option=False, layout=w.Layout(width="24em"))
        self.partitions = w.BoundedIntText(value=1, min=1, max=1000, description="Partitions:",
                                           layout=w.Layout(width="12em"))
        self.user = w.Text(placeholder="username or identity id", description="User:",
                           layout=w.Layout(width="24em"))
        b = self.buttons = {name: w.Button(description=label, tooltip=tip)
                            for name, label, tip in _BUTTONS}
        self.message = w.HTML()
        self.widget = w.VBox([
            self.title, self.table,
            w.HBox([self.topic, self.partitions]),
            w.HBox([b["register"], b["create"], b["delete"], b["unregister"], b["refresh"]]),
            w.HBox([self.user, b["grant"], b["revoke"], b["users"]]),
            self.message])
        for name, button in b.items():
            button.on_click(lambda _b, name=name: getattr(self, f"on_{name}")())
        if load:
            self.on_refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # --- plumbing -------------------------------------------------------------------------

    def _act(self, busy: str, action: Callable[[], Any], *, refresh: bool = True) -> bool:
        """Run ``action`` with feedback; True on success."""
        self.message.value = status_line(busy, kind="busy")
        try:
            result = action()
            if refresh:
                self.reload()
        except Exception as exc:  # every failure is shown inline
            self.message.value = status_line(widget_message(exc), kind="error")
            return False
        text = repr(Result(result)) if isinstance(result, dict) else str(result)
        self.message.value = status_line(text, kind="success")
        return True

    def _name(self) -> str:
        return self.topic.value.strip()

    def reload(self) -> None:
        """Re-read your topics and their offsets into the table and the topic box."""
        self.infos = topics_cmd.details(self.client)
        self.table.value = topics_html([i.as_row() for i in self.infos])
        self.topic.options = tuple(i.topic for i in self.infos)

    # --- callbacks ------------------------------------------------------------------------

    def on_refresh(self) -> None:
        self._act("Refreshing...", self._reload_summary, refresh=False)

    def _reload_summary(self) -> str:
        self.reload()
        return f"{len(self.infos)} topic(s)"

    def on_register(self) -> None:
        name = self._name()
        self._act(f"Registering {name}...", lambda: topics_cmd.register(self.client, name))

    def on_unregister(self) -> None:
        name = self._name()
        self._act(f"Unregistering {name}...", lambda: topics_cmd.unregister(self.client, name))

    def on_create(self) -> None:
        name, parts = self._name(), int(self.partitions.value)
        self._act(f"Creating {name}...", lambda: kafka_ops.create_topic(self.client, name, parts))

    def on_delete(self) -> None:
        name = self._name()
        if self._armed_delete != name:
            self._armed_delete = name
            self.message.value = status_line(
                f"Click Delete again to delete {name} and all its messages.", kind="error")
            return
        self._armed_delete = None
        self._act(f"Deleting {name}...", lambda: kafka_ops.delete_topic(self.client, name))

    def on_grant(self) -> None:
        name, user = self._name(), self.user.value.strip()
        self._act(f"Granting {user} access to {name}...",
                  lambda: topics_cmd.grant(self.client, name, user), refresh=False)

    def on_revoke(self) -> None:
        name, user = self._name(), self.user.value.strip()
        self._act(f"Revoking {user}'s access to {name}...",
                  lambda: topics_cmd.revoke(self.client, name, user), refresh=False)

    def on_users(self) -> None:
        name = self._name()
        self._act(f"Listing users of {name}...", lambda: _users_text(self.client, name),
                  refresh=False)


def _users_text(client: Any, topic: str) -> str:
    answer = client.list_topic_users(topic)
    users = ", ".join(str(u) for u in answer.get("users", [])) or "nobody else"
    return f"{topic}: owner {answer.get('owner')}; users: {users}"


_BUTTONS = (
    ("register", "Register", "register the topic to you (ACLs)"),
    ("create", "Create", "create the topic on the brokers"),
    ("delete", "Delete", "delete the topic and its messages from the brokers"),
    ("unregister", "Unregister", "remove the topic's ACLs"),
    ("refresh", "Refresh", "reload topics and offsets"),
    ("grant", "Grant", "let the user produce and consume"),
    ("revoke", "Revoke", "take the user's access back"),
    ("users", "Users", "who may use this topic"),
)

__all__ = ["TopicManager"]
