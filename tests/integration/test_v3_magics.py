"""The magics and widgets on a v3 environment (``local-v3``), in a real IPython shell against the
REAL local fabric: headless login, the topic manager, the key (masked; Rotate gives a NEW IAM
key and the old one stops authenticating), peek, stream and explore on a v3 topic named without
its namespace; and the same magics reading through the consumer REST API when the brokers
cannot be reached. Widgets talk to the recording comm (``dummy_comm``), as in test_widgets.py.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from diaspora_notebook.client import Client
from diaspora_notebook.kafka import source as sources
from diaspora_notebook.login.iam import IamTokens
from diaspora_notebook.notebook.html import MASK, IdentityView, KeyView
from diaspora_notebook.notebook.widgets.explorer import Explorer
from diaspora_notebook.notebook.widgets.key import KeyWidget
from diaspora_notebook.notebook.widgets.login import LoginWidget
from diaspora_notebook.notebook.widgets.topics import TopicManager
from diaspora_notebook.stream import LiveDataFrame
from diaspora_notebook.testing.identities import Identity

from .test_magics import ok, use_identity

pytestmark = pytest.mark.usefixtures("dummy_comm")


def _topic() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def _wait_for(condition: Any, timeout: float = 30.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout} s"
        time.sleep(0.1)


def widget_state(view: Any) -> str:
    from ipywidgets.embed import dependency_state

    return json.dumps(dependency_state(view, drop_defaults=False))


@pytest.fixture
def v3_shell(monkeypatch: pytest.MonkeyPatch, sdk_identity: Any
             ) -> Iterator[tuple[InteractiveShell, Identity]]:
    """A shell of a fresh identity logged in headless with ``%diaspora_login --env local-v3``."""
    identity = sdk_identity("v3nb")
    use_identity(monkeypatch, identity)
    monkeypatch.setenv("DIASPORA_ENVIRONMENT", "local-v3")  # Client() in the test: the same
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "diaspora_notebook")
    sh.run_cell("%config Diaspora.widget = False")
    try:
        shown = ok(sh, "%diaspora_login --env local-v3")
        assert isinstance(shown, IdentityView) and shown.details["id"] == identity.id
        yield sh, identity
    finally:
        client = Client()
        try:
            if client.api == "v3" and client.logged_in_identity() is not None:
                client.delete_user()
        finally:
            client.close()
            sh.run_cell("%diaspora_logout")
            sh.run_line_magic("unload_ext", "diaspora_notebook")
            sh.config.pop("Diaspora", None)


def _fill(topic: str, n: int, first: int = 0) -> None:
    """``n`` JSON events over HTTPS (the v3 produce route; no Kafka port)."""
    with Client() as client:
        done = client.produce_batch(topic, [{"value": {"i": i}, "key": "k"}
                                            for i in range(first, first + n)])
    assert not done["failures"] and len(done["successes"]) == n


def _connects(client: Client, access_key: str, secret: str, timeout: float = 8.0) -> bool:
    """Whether a NEW Kafka connection authenticates with this IAM key (metadata answers)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    conf = client.connection_config("confluent-kafka")
    conf["oauth_cb"] = IamTokens(access_key, secret).oauth_cb
    admin = AdminClient(conf)
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def test_v3_topics_peek_stream_and_explore_magics(v3_shell: Any) -> None:
    sh, _identity = v3_shell
    topic = _topic()
    assert ok(sh, f"%diaspora_register {topic}")["status"] == "success"
    ok(sh, "%diaspora_topics -o topics_df")
    frame = sh.user_ns["topics_df"]
    assert topic in set(frame.topic)  # named without the namespace, as the SDK does
    assert not [t for t in frame.topic if str(t).startswith("ns-")]
    _fill(topic, 12)
    peeked = ok(sh, f"%diaspora_peek {topic} -n 3")
    assert peeked["i"].tolist() == [9, 10, 11] and set(peeked["topic"]) == {topic}
    ok(sh, f"%diaspora_peek {topic} -n 2 --from-beginning -o first")
    assert sh.user_ns["first"]["i"].tolist() == [0, 1]
    ok(sh, f"%diaspora_stream {topic} --from-beginning --max-rows 50 -o live")
    live = sh.user_ns["live"]
    try:
        assert sorted(live.wait(12, timeout=60).df["i"].astype(int)) == list(range(12))
    finally:
        live.stop()
    page = ok(sh, f"%diaspora_explore {topic} --page-size 5")
    assert sorted(page.frame["value.i"].tolist()) == [7, 8, 9, 10, 11]
    assert ok(sh, f"%diaspora_unregister {topic}")["status"] == "success"
    ok(sh, "%diaspora_topics -o topics_df")
    assert topic not in set(sh.user_ns["topics_df"].topic)


def test_v3_key_magic_masks_and_rotates_to_a_new_iam_key(v3_shell: Any) -> None:
    sh, _identity = v3_shell
    key = ok(sh, "%diaspora_key")
    assert isinstance(key, KeyView) and not key.reveal
    old_access, old_secret = key.username, key.password
    assert old_access.startswith("AKIA") and old_secret
    assert old_secret not in key._repr_html_() + repr(key)
    details = ok(sh, "%diaspora_connection --library confluent-kafka")
    assert old_secret not in repr(details) + details._repr_html_() and MASK in repr(details)
    with Client() as client:
        assert _connects(client, old_access, old_secret)
        rotated = ok(sh, "%diaspora_key --rotate")
        new_access, new_secret = rotated.username, rotated.password
        assert new_access != old_access and new_secret != old_secret
        assert new_secret not in rotated._repr_html_() + repr(rotated)
        # the old key stops authenticating new connections; the new one works
        assert not _connects(client, old_access, old_secret)
        _wait_for(lambda: _connects(client, new_access, new_secret), 60, "the new key")
    shown = ok(sh, "%diaspora_key")
    assert shown.username == new_access  # what the kernel now uses
    ok(sh, "%diaspora_connection --library confluent-kafka -o conf")
    assert sh.user_ns["conf"]["sasl.mechanisms"] == "OAUTHBEARER"


def test_v3_widgets_login_topic_manager_key_and_explorer(v3_shell: Any) -> None:
    sh, identity = v3_shell
    sh.run_cell("%config Diaspora.widget = True")
    login = ok(sh, "%diaspora_login")
    assert isinstance(login, LoginWidget) and login.identity["id"] == identity.id
    assert identity.username in login.status.value
    # the topic manager: register (v3: created at once), refresh, delete, unregister
    manager = ok(sh, "%diaspora_topics")
    assert isinstance(manager, TopicManager)
    topic = _topic()
    manager.topic.value = topic
    manager.buttons["register"].click()
    assert "success" in manager.message.value, manager.message.value
    assert topic in manager.table.value and topic in manager.topic.options
    _fill(topic, 6)
    manager.buttons["refresh"].click()
    info = next(i for i in manager.infos if i.topic == topic)
    assert info.on_broker and info.partitions == 1 and info.messages == 6
    # the explorer of a v3 topic (the manager's Explore and the magic open the same widget)
    explorer = ok(sh, f"%diaspora_explore {topic} --page-size 4")
    assert isinstance(explorer, Explorer)
    try:
        explorer.state.wait()
        page = explorer.state.page
        assert page is not None and sorted(page.frame["value.i"].tolist()) == [2, 3, 4, 5]
        assert explorer.partitions.options == (0,)
    finally:
        explorer.close()
    # the key widget: the secret in no widget state; Rotate makes a NEW IAM key
    key = ok(sh, "%diaspora_key")
    assert isinstance(key, KeyWidget)
    old = key.key.password
    assert old and old not in widget_state(key.widget) and old not in repr(key.widget)
    rotated: list[dict[str, Any]] = []
    key.on_rotate(rotated.append)
    key.rotate.click()
    key.confirm.click()
    assert "New key created" in key.message.value, key.message.value
    assert rotated and rotated[0]["password"] != old and key.key.password != old
    assert rotated[0]["access_key"] == key.key.username
    assert key.key.password not in widget_state(key.widget) and old not in widget_state(key.widget)
    manager.buttons["unregister"].click()  # asks first
    manager.buttons["unregister"].click()
    assert "success" in manager.message.value and topic not in [i.topic for i in manager.infos]


def test_v3_magics_read_through_rest_when_the_brokers_are_closed(
        v3_shell: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sh, _identity = v3_shell
    topic = _topic()
    ok(sh, f"%diaspora_register {topic}")
    _fill(topic, 5)
    closed = ("127.0.0.1:9",)  # nothing listens there: engine="auto" picks "rest"
    monkeypatch.setattr(Client, "bootstrap_servers", lambda self: closed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sources.EngineFallbackWarning)
        peeked = ok(sh, f"%diaspora_peek {topic} -n 2")
        assert peeked["i"].tolist() == [3, 4]
        # a stream from "latest" (the default): no timestamps over REST, so it starts at the
        # end offsets when it connects, and then follows
        ok(sh, f"%diaspora_stream {topic} -o live")
        live = sh.user_ns["live"]
        try:
            assert live.engine == "rest"
            _wait_for(lambda: live.state == "running", 60, "the REST stream")
            _fill(topic, 3)
            df = live.wait(3, timeout=60).df
            assert sorted(df["i"].astype(int)) == [0, 1, 2] and live.error is None
        finally:
            live.stop()
        page = ok(sh, f"%diaspora_explore {topic} --page-size 3")
        assert sorted(page.frame["value.i"].tolist()) == [0, 1, 2]  # the newest three
        # a time start needs a Kafka engine: the stream stops and says so
        ok(sh, f"%diaspora_stream {topic} --start 2026-01-01T00:00Z -o timed")
        timed = sh.user_ns["timed"]
        try:
            _wait_for(lambda: timed.state == "failed", 60, "the time-started REST stream")
            assert "needs a Kafka engine" in str(timed.error), timed.error
        finally:
            timed.stop()
    ok(sh, f"%diaspora_unregister {topic}")


def test_a_v3_group_is_one_kafka_group_on_rest_and_kafka_engines(v3_shell: Any) -> None:
    """``<topic>/live`` read over REST, then on confluent: the second continues where the first
    committed (both are the Kafka group ``<namespace>.<topic>.live``)."""
    sh, _identity = v3_shell
    topic = _topic()
    ok(sh, f"%diaspora_register {topic}")
    _fill(topic, 6)
    group = f"{topic}/live"
    with Client() as client:
        first = LiveDataFrame(topic, client=client, engine="rest", group_id=group,
                              start="earliest")
        try:
            assert sorted(first.wait(6, timeout=60).df["i"].astype(int)) == list(range(6))
        finally:
            first.stop()  # commits what it handed over
        _fill(topic, 3, first=100)
        then = LiveDataFrame(topic, client=client, engine="confluent", group_id=group,
                             start="earliest")
        try:
            then.wait(3, timeout=60)
            time.sleep(2)  # anything before the commit would show up by now
            assert sorted(then.df["i"].astype(int)) == [100, 101, 102]
        finally:
            then.stop()
    ok(sh, f"%diaspora_unregister {topic}")
