"""The topic manager: your topics with partitions and end offsets, and buttons for the rest.

Register / unregister (ACLs, through the web service), create / delete (on the brokers, with a
partition count), grant / revoke another identity by username, list a topic's users, refresh.
Every action reports in the message line; errors show there too, never as a traceback. Delete
and Unregister ask for a second click because they destroy messages (unregistering deletes the
topic and its events too). Explore reports once the explorer has read its first page (or
failed), never before.

A skin over :mod:`diaspora_notebook.topics` and :class:`~diaspora_notebook.client.Client`: each
button calls the method of the same name (``register()``, ``create()``, ...), which calls the
same function a magic or a script does. ``on_action(callback)`` hears about every action.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diaspora_notebook import topics
from diaspora_notebook.errors import DiasporaError
from diaspora_notebook.notebook.errors import widget_message
from diaspora_notebook.notebook.html import Result, badge, esc, grid, status_line, topics_html
from diaspora_notebook.notebook.widgets import dispatcher, ipywidgets
from diaspora_notebook.notebook.widgets.record import Companion

if TYPE_CHECKING:
    from diaspora_notebook.client import Client

#: ``callback(action, ok, text)``: ``action`` is the button's name, ``text`` the message line
ActionCallback = Callable[[str, bool, str], None]
#: a topic's owner and the users it is shared with, by username (None: not yours to ask)
Sharing = tuple[str, tuple[str, ...]] | None


class TopicManager(Companion):
    """Topic manager skin over :mod:`diaspora_notebook.topics`.

    Displayed with a companion record (``record.Companion``): the table with owners and
    shares, and the last message, which is what a notebook reopened without its kernel shows.

    :param client: a logged-in :class:`~diaspora_notebook.client.Client`.
    :param load: fill the table now (False: wait for Refresh).
    """

    record_title = "Diaspora topics"

    def __init__(self, client: Client, *, load: bool = True) -> None:
        w = ipywidgets()
        self.client = client
        self.infos: list[topics.TopicInfo] = []
        # who owns and shares each topic: asked once per topic, again after Refresh or a change
        self.sharing: dict[str, Sharing] = {}
        self._armed: tuple[str, str] | None = None  # (action, topic) clicked once, to confirm
        self._action_callbacks = dispatcher()
        self.title = w.HTML("<b>Diaspora topics</b>")
        self.table = w.HTML()
        self.topic = w.Combobox(placeholder="topic name", description="Topic:",
                                ensure_option=False, layout=w.Layout(width="24em"))
        self.partitions = w.BoundedIntText(value=1, min=1, max=1000, description="Partitions:",
                                           layout=w.Layout(width="12em"))
        self.user = w.Text(placeholder="username or identity id", description="User:",
                           layout=w.Layout(width="24em"))
        self.read_only = w.Checkbox(value=False, description="read-only", indent=False,
                                    tooltip="Grant: consume only (no produce)",
                                    layout=w.Layout(width="auto"))
        b = self.buttons = {name: w.Button(description=label, tooltip=tip, icon=icon,
                                           layout=w.Layout(width="auto"))
                            for name, label, tip, icon in _BUTTONS}
        b["delete"].button_style = "danger"  # it destroys every message of the topic
        b["create"].button_style = b["register"].button_style = "primary"
        # one line that wraps as prose (a long error never breaks into stray characters)
        self.message = w.HTML(layout=w.Layout(width="100%"))
        self.explorer_box = w.VBox()  # the Explore button's explorer goes here
        self.explorer: Any = None
        self.widget = w.VBox([
            self.title, self.table,
            w.HBox([self.topic, self.partitions]),
            w.HBox([b["register"], b["create"], b["delete"], b["unregister"], b["refresh"]]),
            w.HBox([self.user, self.read_only, b["grant"], b["revoke"], b["users"]]),
            w.HBox([b["explore"]]), self.message, self.explorer_box])
        actions: dict[str, Callable[[], bool]] = {
            "register": self.register, "create": self.create, "delete": self.delete,
            "unregister": self.unregister, "refresh": self.refresh, "grant": self.grant,
            "revoke": self.revoke, "users": self.list_users, "explore": self.explore}
        for name, button in b.items():
            button.on_click(lambda _b, act=actions[name]: act())
        if load:
            self.refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def on_action(self, callback: ActionCallback, remove: bool = False) -> None:
        """Call ``callback(action, ok, text)`` after each action (``remove``: stop calling)."""
        self._action_callbacks.register_callback(callback, remove=remove)

    # --- plumbing -------------------------------------------------------------------------

    def _act(self, action: str, busy: str, call: Callable[[], Any], *,
             reload: bool = True) -> bool:
        """Run ``call`` with feedback in the message line; True on success."""
        self.message.value = status_line(busy, kind="busy")
        try:
            result = call()
            if reload:
                self.reload()
        except Exception as exc:  # every failure is shown inline
            text = widget_message(exc)
            self.message.value = _message_html("error", text)
            self._action_callbacks(action, False, text)
            self.update_record()
            return False
        if isinstance(result, dict):  # a service answer: the badge and line of the magics
            text = repr(Result(result))
            self.message.value = Result(result)._repr_html_()
        else:
            text = str(result)
            self.message.value = _message_html("success", text)
        self._action_callbacks(action, True, text)
        self.update_record()
        return True

    def _name(self) -> str:
        return str(self.topic.value).strip()

    def reload(self) -> None:
        """Re-read your topics and their offsets into the table and the topic box."""
        self.infos = topics.describe(client=self.client)
        names = [i.topic for i in self.infos]
        self.sharing = {n: s for n, s in self.sharing.items() if n in names}
        self.sharing.update(sharing(self.client, [n for n in names if n not in self.sharing]))
        self.table.value = self.table_html()
        self.topic.options = tuple(names)
        self.update_record()

    def table_html(self) -> str:
        """Your topics with partitions, offsets, owner and shares (by username)."""
        if not self.infos:
            return topics_html([])
        rows = []
        for info in self.infos:
            row = info.as_row()
            shared = self.sharing.get(info.topic)
            owner, users = shared if shared is not None else ("not yours", ())
            ends = ", ".join(str(o) for o in row["end_offsets"])
            rows.append([info.topic, row["partitions"] if info.on_broker else "not created",
                         row["messages"], ends, owner, ", ".join(users) or "-"])
        return grid(["topic", "partitions", "messages", "end offsets", "owner",
                     "shared with"], rows)

    def record_body(self) -> str:
        explorer = (f"<div><b>{esc(self.explorer.record_title)}</b></div>"
                    f"{self.explorer.record_body()}" if self.explorer is not None else "")
        return self.table.value + self.message.value + explorer

    def record_text(self) -> str:
        lines = [self.record_title]
        for info in self.infos:
            shared = self.sharing.get(info.topic)
            who = (f"owner {shared[0]}, shared with {', '.join(shared[1]) or 'nobody'}"
                   if shared is not None else "not yours")
            lines.append(f"{info.topic}: {info.messages} message(s); {who}")
        return "\n".join(lines)

    # --- actions (what the buttons do) ----------------------------------------------------

    def refresh(self) -> bool:
        """Reload the table (owners and shares too), reporting in the message line."""
        self.sharing = {}
        return self._act("refresh", "Refreshing...", self._reload_summary, reload=False)

    def _reload_summary(self) -> str:
        self.reload()
        return f"{len(self.infos)} topic(s)"

    def register(self) -> bool:
        """Register the topic in the Topic box to you."""
        name = self._name()
        return self._act("register", f"Registering {name}...",
                         lambda: topics.register(name, client=self.client))

    def _confirmed(self, action: str, name: str, question: str) -> bool:
        """True on the second click of ``action`` on ``name``; the first one only asks."""
        if self._armed != (action, name):
            self._armed = (action, name)
            self.message.value = status_line(question, kind="error")
            return False
        self._armed = None
        return True

    def unregister(self) -> bool:
        """Unregister the topic in the Topic box (the service deletes its data too); the first
        call only asks for a second one."""
        name = self._name()
        if not self._confirmed("unregister", name,
                               f"Click Unregister again to unregister {name}: this deletes "
                               "the topic and all its messages too."):
            return False
        return self._act("unregister", f"Unregistering {name}...",
                         lambda: topics.unregister(name, client=self.client))

    def create(self) -> bool:
        """Create the topic on the brokers with the Partitions box's count."""
        name, parts = self._name(), int(self.partitions.value)
        return self._act("create", f"Creating {name}...",
                         lambda: topics.create(name, partitions=parts, client=self.client))

    def delete(self) -> bool:
        """Delete the topic from the brokers; the first call only asks for a second one."""
        name = self._name()
        if not self._confirmed("delete", name,
                               f"Click Delete again to delete {name} and all its messages."):
            return False
        return self._act("delete", f"Deleting {name}...",
                         lambda: topics.delete(name, client=self.client))

    def grant(self) -> bool:
        """Let the identity in the User box produce to and consume from the topic (only
        consume when the read-only box is ticked); its groups are ``<topic>/<its id>/...``."""
        name, user = self._name(), str(self.user.value).strip()
        read_only = bool(self.read_only.value)
        what = "read-only access" if read_only else "access"

        def call() -> Any:
            answer = self._changing_sharing(
                name, lambda: self.client.grant_user_access(name, user, read_only=read_only))
            return _by_name(answer, user)

        return self._act("grant", f"Granting {user} {what} to {name}...", call, reload=False)

    def revoke(self) -> bool:
        """Take the User box's identity's access to the topic back."""
        name, user = self._name(), str(self.user.value).strip()
        return self._act("revoke", f"Revoking {user}'s access to {name}...",
                         lambda: self._changing_sharing(
                             name, lambda: self.client.revoke_user_access(name, user)),
                         reload=False)

    def list_users(self) -> bool:
        """Show the topic's owner and the identities it is shared with."""
        name = self._name()
        return self._act("users", f"Listing users of {name}...",
                         lambda: self._users_text(name), reload=False)

    def _changing_sharing(self, name: str, call: Callable[[], Any]) -> Any:
        """``call()``, then the topic's shares asked again for the table."""
        try:
            return call()
        finally:
            self._share_changed(name)

    def _share_changed(self, name: str) -> None:
        if name in self.sharing or any(i.topic == name for i in self.infos):
            self.sharing.update(sharing(self.client, [name]))
            self.table.value = self.table_html()

    def _users_text(self, name: str) -> str:
        found = sharing(self.client, [name], strict=True)[name]
        assert found is not None
        if any(i.topic == name for i in self.infos):
            self.sharing[name] = found
            self.table.value = self.table_html()
        owner, users = found
        return f"{name}: owner {owner}; shared with: {', '.join(users) or 'nobody else'}"


    def explore(self) -> bool:
        """Open the explorer (``%diaspora_explore``) of the topic in the Topic box below."""
        from diaspora_notebook.notebook.widgets.explorer import Explorer

        name = self._name()
        if self.explorer is not None:
            self.explorer.close()
        self.explorer = Explorer(name, client=self.client)
        self.explorer_box.children = (self.explorer.widget,)
        # the explorer lives inside this widget: its page goes into this record (throttled)
        self.explorer.state.on_change(
            lambda what: self.update_record() if what in ("page", "error") else None)
        self.message.value = status_line(f"Opening the explorer of {name}...", kind="busy")
        report = self._explore_reporter(self.explorer, name)
        self.explorer.state.on_change(report)
        if self.explorer.state.error is not None:  # done before the listener was added
            report("error")
        elif self.explorer.state.page is not None:
            report("page")
        return True

    def _explore_reporter(self, explorer: Any, name: str) -> Callable[[str], None]:
        """A listener that reports the explorer's first page (success) or error, once."""
        once = threading.Lock()

        def report(what: str) -> None:
            if what not in ("page", "error") or self.explorer is not explorer:
                return
            if not once.acquire(blocking=False):  # reported already
                return
            explorer.state.on_change(report, remove=True)
            error = explorer.state.error if what == "error" else None
            if error is not None:
                text = widget_message(error)
                self.message.value = _message_html("error", text)
            else:
                text = f"exploring {name}"
                self.message.value = _message_html("success", text)
            self._action_callbacks("explore", error is None, text)
            self.update_record()

        return report


def _by_name(answer: Any, user: str) -> Any:
    """The service's answer with the grantee's identity id replaced by the name it was given
    as: the widget shows people by name, and its record is saved in the notebook."""
    if not isinstance(answer, dict) or not isinstance(answer.get("user"), str):
        return answer
    ident = answer["user"]
    return {k: v.replace(ident, user) if isinstance(v, str) else v for k, v in answer.items()}


def _message_html(status: str, text: str) -> str:
    """The magics' badge and one line of text that wraps at spaces."""
    return (f'<div style="white-space:normal;overflow-wrap:anywhere;line-height:1.5">'
            f"{badge(status)} {esc(text)}</div>")


def sharing(client: Client, names: list[str], *, strict: bool = False) -> dict[str, Sharing]:
    """Owner and grantees of each topic, by username (one lookup of names for all).

    A topic you may not ask about (not yours) maps to None; ``strict``: raise instead.
    """
    answers: dict[str, dict[str, Any] | None] = {}
    for name in names:
        try:
            answers[name] = client.list_topic_users(name)
        except DiasporaError:  # not your topic (the service says so), or gone meanwhile
            if strict:
                raise
            answers[name] = None
    ids = {str(i) for a in answers.values() if a for i in [a.get("owner"), *a.get("users", [])]
           if i}
    usernames = client.usernames(ids) if ids else {}
    found: dict[str, Sharing] = {}
    for name, answer in answers.items():
        if answer is None:
            found[name] = None
            continue
        owner = str(answer.get("owner") or "")
        readers = {str(u) for u in answer.get("read_only") or ()}
        users = tuple(usernames.get(str(u), str(u)) + (" (read-only)" if str(u) in readers
                                                        else "")
                      for u in answer.get("users", []))
        found[name] = (usernames.get(owner, owner), users)
    return found


_BUTTONS = (  # name, label, tooltip, Font Awesome icon
    ("register", "Register", "register the topic to you (ACLs)", "key"),
    ("create", "Create", "create the topic on the brokers", "plus"),
    ("delete", "Delete", "delete the topic and its messages from the brokers", "trash"),
    ("unregister", "Unregister", "remove the topic's ACLs", "unlock"),
    ("refresh", "Refresh", "reload topics and offsets", "refresh"),
    ("grant", "Grant", "let the user produce and consume (only consume if read-only is "
     "ticked); the user's consumer groups are <topic>/<user id>/...", "user-plus"),
    ("revoke", "Revoke", "take the user's access back", "user-times"),
    ("users", "Users", "who may use this topic", "users"),
    ("explore", "Explore", "browse the topic's messages, schema and groups", "search"),
)

__all__ = ["TopicManager"]
