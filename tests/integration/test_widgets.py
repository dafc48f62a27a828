"""Widgets without a browser: a dummy comm, ``.click()`` and value changes, the real fabric.

The login widget is driven the way a person would use it: open its link (here: the IdP's real
login and consent forms, filled by ``complete_login_form``), paste the code, click Submit. Once
through jupyter-server-proxy, with a real Jupyter server under a JupyterHub-like base URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from diaspora_notebook import topics
from diaspora_notebook.fabric.testing import free_port
from diaspora_notebook.login import complete_login_form
from diaspora_notebook.notebook.configurable import Diaspora
from diaspora_notebook.notebook.widgets.key import KeyWidget
from diaspora_notebook.notebook.widgets.login import LoginWidget
from diaspora_notebook.notebook.widgets.topics import TopicManager
from diaspora_notebook.testing.identities import login

# every widget here talks to a recording comm (the plugin's dummy_comm), not a front end
pytestmark = pytest.mark.usefixtures("dummy_comm")


def widget_state(view) -> str:
    """Everything the front end would save for ``view`` and its children, as JSON text."""
    from ipywidgets.embed import dependency_state

    return json.dumps(dependency_state(view, drop_defaults=False))


def interactive_env(monkeypatch, identity, tmp_path):
    """The fixture fabric, a fresh user dir, and NO headless credentials (a person logs in)."""
    for name in ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET",
                 "DIASPORA_LOGIN_USERNAME", "DIASPORA_LOGIN_PASSWORD",
                 "DIASPORA_ENVIRONMENTS_FILE", "JUPYTERHUB_SERVICE_PREFIX",
                 "DIASPORA_PROXY_BASE_URL", "DIASPORA_LOGIN_LINK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIASPORA_ENVIRONMENT", "local")
    monkeypatch.setenv("DIASPORA_FABRIC_HOME", str(identity.fabric_home))
    monkeypatch.setenv("DIASPORA_USER_DIR", str(tmp_path / "user"))


def test_login_widget_two_phase(monkeypatch, sdk_identity, tmp_path):
    person = sdk_identity("widget")
    interactive_env(monkeypatch, person, tmp_path)
    settings = Diaspora()
    client = settings.client()
    w = LoginWidget(client, settings)
    assert "Not logged in" in w.status.value and "Open login page" in w.link.value
    assert w.url.startswith(client.environment.auth_url)
    # a wrong code: the error shows inline, in the widget's words; the link and the login
    # begun stay, so the code of the page already opened still works (issue 24, defect 5)
    first_url = w.url
    code = complete_login_form(w.url, person.username, person.password)
    w.code.value = "not-a-code"
    w.submit.click()
    assert "not accepted" in w.message.value and "New link" in w.message.value
    assert "begin_login" not in w.message.value and w.identity is None
    assert w.url == first_url and w.code.value == ""
    # the real thing: the right code from the page opened first, Submit
    logins = []
    w.on_login(logins.append)
    w.code.value = code
    w.submit.click()
    assert w.code.value == ""  # the secret field is cleared once read
    assert [d["id"] for d in logins] == [person.id]  # on_login registers, Submit acts
    assert f"Logged in as {person.username} ({person.id})" in w.status.value
    assert w.logout.layout.display is None and w.code_row.layout.display == "none"
    assert client.list_topics()["status"] == "success"  # the tokens carry the service scope
    # already logged in: %diaspora_login shows the identity at once
    again = LoginWidget(client, settings, identity=w.identity)
    assert person.username in again.status.value
    w.logout.click()
    assert "Logged out" in w.message.value and "Not logged in" in w.status.value
    # New link starts over: a new login, and the code of the old link is refused
    old_url = w.url
    old_code = complete_login_form(old_url, person.username, person.password)
    w.new_link.click()
    assert w.url != old_url and "new login link" in w.message.value
    w.code.value = old_code
    w.submit.click()
    assert "not accepted" in w.message.value and w.identity is None


def test_login_magic_returns_the_widget(monkeypatch, sdk_identity, tmp_path):
    from IPython.core.interactiveshell import InteractiveShell

    person = sdk_identity("magic")
    interactive_env(monkeypatch, person, tmp_path)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "diaspora_notebook")
    try:
        w = shell.run_cell("%diaspora_login").result
        assert isinstance(w, LoginWidget) and w.identity is None
        w.code.value = complete_login_form(w.url, person.username, person.password)
        w.submit.click()
        assert person.username in w.status.value
        shown = shell.run_cell("%diaspora_login").result
        assert isinstance(shown, LoginWidget) and shown.identity["id"] == person.id
    finally:
        shell.run_cell("%diaspora_logout")
        shell.run_line_magic("unload_ext", "diaspora_notebook")


@pytest.fixture
def jupyter_behind_prefix(tmp_path):
    """A real Jupyter server with jupyter-server-proxy under ``/user/tester/`` (no auth)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    with open(tmp_path / "jupyter.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", f"--port={port}", "--ip=127.0.0.1",
             "--no-browser", "--allow-root", "--ServerApp.base_url=/user/tester/",
             "--IdentityProvider.token=", "--ServerApp.password=",
             "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={tmp_path}"],
            stdout=subprocess.DEVNULL, stderr=log, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/user/tester/api/status", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                pytest.fail((tmp_path / "jupyter.log").read_text()[-2000:])
            time.sleep(0.3)
        else:
            pytest.fail("jupyter server did not start: "
                        + (tmp_path / "jupyter.log").read_text()[-2000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_login_link_through_jupyter_server_proxy(monkeypatch, sdk_identity, tmp_path,
                                                 jupyter_behind_prefix):
    person = sdk_identity("binder")
    interactive_env(monkeypatch, person, tmp_path)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/tester/")
    settings = Diaspora()
    w = LoginWidget(settings.client(), settings)
    idp_port = settings.client().environment.auth_url.rstrip("/").rsplit(":", 1)[1]
    assert w.url.startswith(f"/user/tester/proxy/{idp_port}/v2/oauth2/authorize?")
    assert "direct link" in w.link.value
    # the browser resolves the relative link against the Jupyter server it came from
    code = complete_login_form(jupyter_behind_prefix + w.url, person.username, person.password)
    w.code.value = code
    w.submit.click()
    assert f"Logged in as {person.username}" in w.status.value


def test_topic_manager_buttons(monkeypatch, sdk_identity, tmp_path, topic_name):
    owner, friend = sdk_identity("owner"), sdk_identity("friend")
    client, friend_client = login(owner), login(friend)
    m = TopicManager(client)
    assert "No topics yet" in m.table.value and "0 topic(s)" in m.message.value
    heard = []
    m.on_action(lambda action, ok, text: heard.append((action, ok)))
    m.topic.value = topic_name
    m.buttons["register"].click()
    assert "success" in m.message.value and topic_name in m.table.value
    assert "not created" in m.table.value and topic_name in m.topic.options
    m.partitions.value = 3
    m.buttons["create"].click()
    assert "created with 3 partition" in m.message.value
    assert m.infos[0].partitions == 3 and m.infos[0].messages == 0
    topics.produce(topic_name, [{"n": 1}, {"n": 2}], client=client)
    m.buttons["refresh"].click()
    assert m.infos[0].messages == 2 and "1 topic(s)" in m.message.value
    m.user.value = friend.username
    m.buttons["grant"].click()
    assert "success" in m.message.value, m.message.value
    assert topic_name in friend_client.list_topics()["topics"]
    m.buttons["users"].click()
    assert f"shared with: {friend.username}" in m.message.value  # usernames, not ids
    m.buttons["revoke"].click()
    assert topic_name not in friend_client.list_topics()["topics"]
    m.buttons["delete"].click()  # asks first
    assert "Click Delete again" in m.message.value and m.infos[0].on_broker
    m.buttons["delete"].click()
    assert "deleted" in m.message.value and not m.infos[0].on_broker
    m.buttons["unregister"].click()  # asks first: unregistering deletes the events too
    assert "Click Unregister again" in m.message.value and m.infos
    m.buttons["unregister"].click()
    assert "success" in m.message.value and not m.infos
    assert heard[:3] == [("register", True), ("create", True), ("refresh", True)]
    assert heard[-2:] == [("delete", True), ("unregister", True)]  # the arming click is none
    # Explore on a topic that does not exist: no "success" first, then the error
    missing = f"{topic_name}-missing"
    m.topic.value = missing
    m.buttons["explore"].click()
    assert "success" not in m.message.value and f"exploring {missing}" not in m.message.value
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and ("explore", False) not in heard:
        time.sleep(0.1)
    assert ("explore", False) in heard and ("explore", True) not in heard
    assert "success" not in m.message.value and "error" in m.message.value, m.message.value
    m.explorer.close()
    # errors show inline: someone else's topic, an unknown user
    friend_client.register_topic(f"{topic_name}-x")
    m.topic.value = f"{topic_name}-x"
    m.buttons["register"].click()
    assert "TopicOwnedByAnotherError" in m.message.value
    m.topic.value = topic_name
    m.buttons["register"].click()
    m.user.value = "no-such-user-anywhere"
    m.buttons["grant"].click()
    assert "UnknownUserError" in m.message.value and heard[-1] == ("grant", False)
    client.unregister_topic(topic_name)


def test_key_widget_reveal_and_rotate(sdk_identity, dummy_comm):
    """The password reaches the front end only in custom messages, never in widget state."""
    client = login(sdk_identity("key"))
    w = KeyWidget(client)
    rotated = []
    w.on_rotate(rotated.append)
    password = client.retrieve_key()["password"]
    assert password and w.key.password == password
    assert password not in widget_state(w.widget)  # nothing to save in the notebook
    assert password not in repr(w.widget)          # nor in text/plain
    assert "connection_config" in w.snippets["kafka-python"].value
    assert widget_state(w.widget).count(w.key.username) == 1  # each value once
    w.reveal.value = True
    field = w._channel.field
    assert field in w.password_row.children and w.masked not in w.password_row.children
    comm = field.comm
    assert not [m for m in comm.messages if password in json.dumps(m)]  # queued: no view yet
    field._handle_msg({"content": {"data": {"method": "custom",
                                            "content": {"ready": True}}}, "buffers": []})
    custom = [m for m in comm.messages if m.get("method") == "custom"]
    assert custom[-1]["content"] == {"show": password}
    assert password not in widget_state(w.widget)
    assert not [m for m in comm.messages if m.get("method") != "custom"
                and password in json.dumps(m)], "the password went into a state update"
    assert w.reveal.description == "Hide"
    w.reveal.value = False
    assert [m for m in comm.messages if m.get("method") == "custom"][-1]["content"] == \
        {"show": None}
    w.copy.click()
    assert [m for m in comm.messages if m.get("method") == "custom"][-1]["content"] == \
        {"copy": password}
    field._handle_msg({"content": {"data": {"method": "custom",
                                            "content": {"copied": True}}}, "buffers": []})
    assert "copied" in w.message.value
    w.rotate.click()
    assert w.confirm_row.layout.display is None and w.rotate.disabled
    w.cancel.click()
    assert w.confirm_row.layout.display == "none" and client.retrieve_key()["password"] == \
        password
    w.rotate.click()
    w.confirm.click()
    new = client.retrieve_key()["password"]
    assert new != password and w.key.password == new and rotated[0]["password"] == new
    assert "New key created" in w.message.value
    assert new not in widget_state(w.widget) and password not in widget_state(w.widget)
    client.block_until_ready(timeout=60)  # the rotated key works on the broker
