"""The explorer widget driven by clicks and value changes (dummy comm), against the real fabric.

Every click starts background work; ``state.wait()`` stands in for a person waiting for it.
"""

from __future__ import annotations

import time

import pytest

from diaspora_notebook import topics
from diaspora_notebook.kafka.clients import KafkaProducer
from diaspora_notebook.notebook.widgets.explorer import Explorer
from diaspora_notebook.notebook.widgets.topics import TopicManager
from diaspora_notebook.testing.identities import login

pytestmark = pytest.mark.usefixtures("dummy_comm")


def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the explorer did not get there in time"
        time.sleep(0.1)


@pytest.fixture
def owner(sdk_identity):
    return login(sdk_identity("explorer-ui"))


@pytest.fixture
def explored(owner, topic_name):
    topics.register(topic_name, create=True, partitions=2, client=owner)
    topics.produce(topic_name, [{"n": i, "temp": i % 10} for i in range(30)], key="a",
                   client=owner)
    producer = KafkaProducer(client=owner, value_serializer=None)
    producer.send(topic_name, b"\x00\xffbinary", key=b"b", headers=[("h", b"1")])
    producer.flush(timeout=30)
    producer.close()
    yield topic_name
    topics.unregister(topic_name, client=owner)


def test_pages_filter_detail_and_panels(owner, explored, tmp_path):
    stored = []
    ui = Explorer(explored, client=owner, page_size=10, store=stored.append)
    ui.state.wait()
    page = ui.state.page
    assert page is not None and len(page.frame) == 10
    assert ui.partitions.options == (0, 1) and "value.n" in ui.fields.options
    assert "binary" in ui.table.value or "00ff" in ui.table.value  # the newest, non-JSON one
    assert list(page.frame["offset"]) == sorted(page.frame["offset"], reverse=True)  # newest first
    newest = list(page.frame["value.n"].dropna())
    ui.buttons["previous"].click()
    ui.state.wait()
    older = list(ui.state.page.frame["value.n"])
    assert max(older) < min(newest) and len(older) == 10
    ui.buttons["next"].click()
    ui.state.wait()
    assert list(ui.state.page.frame["value.n"].dropna()) == newest
    # a bad filter: an inline error with the position, nothing read
    ui.filter.value = "value.temp >"
    assert "position" in ui.filter_error.value and "^" in ui.filter_error.value
    ui.filter.value = "value.temp == 3"
    assert ui.filter_error.value == ""
    ui.start.value = "oldest"
    ui.buttons["load"].click()
    ui.state.wait()
    assert sorted(ui.state.page.frame["value.n"]) == [3, 13, 23]
    assert "3 row(s)" in ui.message.value and ui.progress.value == ui.progress.max
    # fields and the offset start
    ui.filter.value = ""
    ui.fields.value = ("value.n",)
    ui.start.value, ui.offset.value = "offset", 5
    ui.partitions.value = (0,)
    ui.buttons["load"].click()
    ui.state.wait()
    frame = ui.state.page.frame
    assert set(frame["partition"]) == {0} and frame["offset"].iloc[-1] == 5  # newest first
    assert "value.temp" not in frame.columns and "value.n" in frame.columns
    # detail of a message: key, headers, JSON, text and hex
    ui.partitions.value = ()
    ui.fields.value = ()
    ui.start.value = "newest"
    ui.buttons["load"].click()
    ui.state.wait()
    binary = next(i for i, k in enumerate(ui.state.page.frame["key"]) if k == "b")
    ui.row.value = binary
    ui.state.wait()
    assert "00 ff 62 69 6e" in ui.detail.value and "h=1" in ui.detail.value
    ui.row.value = binary + 1  # newest first: the JSON message before the binary one
    ui.state.wait()
    assert "JSON" in ui.detail.value and "&quot;n&quot;" in ui.detail.value
    # panels, DataFrame and export
    ui.buttons["schema"].click()
    ui.buttons["groups"].click()
    ui.state.wait()
    assert "value.temp" in ui.schema_box.value and "no consumer groups" in ui.groups_box.value
    ui.buttons["frame"].click()
    assert len(stored) == 1 and len(stored[0]) == 10
    ui.export_path.value = str(tmp_path / "page.parquet")
    ui.buttons["export"].click()
    assert "wrote" in ui.message.value
    again = topics.read(snapshot=tmp_path / "page.parquet", client=owner)
    assert list(again.frame["offset"]) == list(ui.state.page.frame["offset"])
    ui.close()


def test_live_tail_pause_and_cancel(owner, explored):
    ui = Explorer(explored, client=owner, page_size=5)
    ui.state.wait()
    ui.state.tail_interval = 0.3
    ui.tail_toggle.value = True
    assert not ui.pause_toggle.disabled
    topics.produce(explored, [{"n": 1000}], key="a", client=owner)
    _wait_for(lambda: 1000 in set(ui.state.page.frame["value.n"].dropna()))
    ui.pause_toggle.value = True
    time.sleep(0.5)
    topics.produce(explored, [{"n": 2000}], key="a", client=owner)
    time.sleep(1.0)
    assert 2000 not in set(ui.state.page.frame["value.n"].dropna())  # paused: page kept
    ui.pause_toggle.value = False
    _wait_for(lambda: 2000 in set(ui.state.page.frame["value.n"].dropna()))
    ui.tail_toggle.value = False
    assert ui.pause_toggle.disabled
    # Cancel during a scan: clicked on the first progress report, it stops at the next batch
    ui.state.on_change(lambda what: what == "progress" and ui.buttons["cancel"].click())
    ui.filter.value = "value.n < 0"
    ui.start.value = "oldest"
    ui.buttons["load"].click()
    ui.state.wait()
    assert ui.state.page.stopped_by == "cancelled" and "cancelled" in ui.message.value
    ui.close()


def test_denied_and_missing_are_one_line_and_the_manager_opens_it(owner, sdk_identity,
                                                                    explored, topic_name):
    other = login(sdk_identity("outsider"))
    ui = Explorer(explored, client=other)
    ui.state.wait()
    assert ui.state.page is None and ui.table.value == ""  # nothing of the topic is shown
    assert "no access" in ui.message.value and "<br" not in ui.message.value
    assert "Traceback" not in ui.message.value
    ui.close()
    manager = TopicManager(owner)
    manager.topic.value = explored
    manager.buttons["explore"].click()
    manager.explorer.state.wait()
    assert manager.explorer_box.children == (manager.explorer.widget,)
    assert len(manager.explorer.state.page.frame) == 31
    manager.explorer.close()


def test_the_magic(monkeypatch, sdk_identity, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from tests.integration.test_magics import fails_with_one_line, ok, use_identity

    identity = sdk_identity("explore-magic")
    use_identity(monkeypatch, identity)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "diaspora_notebook")
    client = login(identity)
    name = f"magic-{time.time_ns() % 10**9}"
    try:
        topics.register(name, create=True, client=client)
        topics.produce(name, [{"n": i} for i in range(7)], client=client)
        shown = ok(sh, f"%diaspora_explore {name} --page-size 5 -o page")
        assert isinstance(shown, Explorer)
        shown.state.wait()
        shown.buttons["frame"].click()
        assert list(sh.user_ns["page"]["value.n"]) == [6, 5, 4, 3, 2]  # newest first
        shown.close()
        sh.run_cell("%config Diaspora.widget = False")
        plain = ok(sh, f"%diaspora explore {name} --page-size 3")
        assert list(plain.frame["value.n"]) == [6, 5, 4]
        fails_with_one_line(sh, capsys, "%diaspora_explore not-mine-zz", "KafkaAccessDeniedError")
    finally:
        topics.unregister(name, client=client)
        sh.run_cell("%diaspora_logout")
        sh.run_line_magic("unload_ext", "diaspora_notebook")
        sh.config.pop("Diaspora", None)
