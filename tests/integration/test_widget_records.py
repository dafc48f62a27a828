"""Companion records of the key, the topic manager and the explorer against the real fabric,
and the SVG plot's record: what a notebook reopened without its kernel shows (issue 15, 5).

Displayed through IPython's capturing publisher (what a kernel would send), with a dummy comm.
"""

from __future__ import annotations

import json
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from diaspora_notebook import topics
from diaspora_notebook.notebook.html import MASK
from diaspora_notebook.notebook.widgets.explorer import RECORD_ROWS, Explorer
from diaspora_notebook.notebook.widgets.key import KeyWidget
from diaspora_notebook.notebook.widgets.record import RECORD_CLASS
from diaspora_notebook.notebook.widgets.topics import TopicManager
from diaspora_notebook.testing.identities import login

pytestmark = pytest.mark.usefixtures("dummy_comm")


def record_outputs(captured) -> list[str]:
    return [o.data["text/html"] for o in captured.outputs
            if RECORD_CLASS in o.data.get("text/html", "")]


def everything(captured) -> str:
    return json.dumps([o.data for o in captured.outputs])


def test_key_record_has_the_details_and_never_the_password(sdk_identity, dummy_comm):
    InteractiveShell.instance()
    client = login(sdk_identity("record-key"))
    w = KeyWidget(client)
    w.record_interval = 0
    first = w.key.password
    with capture_output() as captured:
        w._ipython_display_()
        w.show_password(True)  # the secret goes to the browser in a custom message only
        assert w.rotate_key()
    second = w.key.password
    assert first != second
    sent = record_outputs(captured)
    assert len(sent) >= 2 and captured.outputs[-1].update  # shown, then updated on rotation
    assert w.key.username in sent[-1] and MASK in sent[-1] and "New key created" in sent[-1]
    assert client.environment.bootstrap_servers[0] in sent[-1]
    text = everything(captured) + w.record_text()
    assert first not in text and second not in text
    # nor anything a widget model would save
    for comm in dummy_comm:
        assert first not in json.dumps(comm.messages, default=str)


def test_topic_manager_record_names_owner_and_shares(sdk_identity, topic_name):
    InteractiveShell.instance()
    owner, friend = sdk_identity("record-owner"), sdk_identity("record-friend")
    client, friend_client = login(owner), login(friend)
    topics.register(topic_name, create=True, client=client)
    try:
        m = TopicManager(client)
        m.record_interval = 0
        with capture_output() as captured:
            m._ipython_display_()
            m.topic.value, m.user.value = topic_name, friend.username
            m.buttons["grant"].click()
        last = record_outputs(captured)[-1]
        assert topic_name in last and "shared with" in last
        assert owner.username in last and friend.username in last  # usernames, not ids
        assert friend.id not in last
        assert "success" in last  # the last message line
        assert f"owner {owner.username}, shared with {friend.username}" in m.record_text()
        assert friend.username in m.table.value  # the widget's own table says it too
        with capture_output() as captured:  # the Explore button's explorer: in this record
            m._ipython_display_()
            topics.produce(topic_name, [{"probe": "p-41"}], client=client)
            m.buttons["explore"].click()
            m.explorer.state.wait()
            deadline = time.monotonic() + 10
            while "p-41" not in (record_outputs(captured) or [""])[-1]:
                assert time.monotonic() < deadline, record_outputs(captured)
                time.sleep(0.1)
        assert f"Explore {topic_name}" in record_outputs(captured)[-1]
        m.explorer.close()
        # the friend may use the topic but not ask who else may: said so, nothing raised
        theirs = TopicManager(friend_client)
        assert topic_name in theirs.table.value and "not yours" in theirs.table.value
        assert theirs.sharing[topic_name] is None
    finally:
        topics.unregister(topic_name, client=client)


def test_explorer_record_keeps_the_query_and_a_bounded_page(sdk_identity, topic_name):
    InteractiveShell.instance()
    client = login(sdk_identity("record-explore"))
    topics.register(topic_name, create=True, client=client)
    try:
        topics.produce(topic_name, [{"n": i, "tag": "<b>x</b>"} for i in range(30)],
                       client=client)
        ui = Explorer(topic_name, client=client, page_size=30, load=False)
        ui.record_interval = 0.2
        with capture_output() as captured:
            ui._ipython_display_()
            ui.filter.value = "`value.n` >= 0"
            ui.load()
            ui.state.wait()
            deadline = time.monotonic() + 10
            while "the first" not in (record_outputs(captured) or [""])[-1]:
                assert time.monotonic() < deadline, record_outputs(captured)
                time.sleep(0.1)
        last = record_outputs(captured)[-1]
        assert f"the first {RECORD_ROWS} of 30 rows" in last
        assert "`value.n` &gt;= 0" in last and "newest" in last
        assert last.count("<tr>") == 3 + 1 + RECORD_ROWS  # topic/start/filter, header, rows
        assert "<b>x</b>" not in last and "&lt;b&gt;x&lt;/b&gt;" in last  # payloads escaped
        ui.close()
    finally:
        topics.unregister(topic_name, client=client)


def test_svg_plot_leaves_its_last_svg_as_a_record(sdk_identity, topic_name):
    """The plot used where bqplot is not installed ends as a record, as the bqplot chart does."""
    from diaspora_notebook.notebook.widgets.chart import RecordedPlot
    from diaspora_notebook.stream import LiveDataFrame

    InteractiveShell.instance()
    client = login(sdk_identity("record-plot"))
    topics.register(topic_name, create=True, client=client)
    try:
        topics.produce(topic_name, [{"t": i * 1.5} for i in range(20)], client=client)
        live = LiveDataFrame(topic_name, start="earliest", client=client)
        plot = RecordedPlot(live, y=["t"])
        with capture_output() as captured:
            plot._ipython_display_()
            live.wait(n=20, timeout=30)
            assert plot.finished_html is None  # running: the live widget
            live.stop(timeout=10)
            plot.refresher.thread.join(10)
        assert plot.finished_html is not None and "<polyline" in plot.finished_html
        assert "stopped" in plot.finished_html
        last = captured.outputs[-1]
        assert last.update and last.data["text/html"] == plot.finished_html
    finally:
        topics.unregister(topic_name, client=client)
