"""Companion records without a fabric: what is displayed, the hiding rules, the throttle."""

from __future__ import annotations

import time

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from diaspora_notebook.notebook.widgets.record import (
    LIVE_CLASS,
    RECORD_CLASS,
    Companion,
    record_document,
)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
pytestmark = pytest.mark.usefixtures("dummy_comm")


class Counter(Companion):
    record_title = "Counter <b>"

    def __init__(self) -> None:
        import ipywidgets

        self.widget = ipywidgets.HTML("live")
        self.count = 0
        self.built = 0

    def record_body(self) -> str:
        self.built += 1
        return f"<p>count {self.count}</p>"


def records(outputs):
    return [o for o in outputs if RECORD_CLASS in o.data.get("text/html", "")]


def test_displayed_as_a_live_widget_then_its_record():
    InteractiveShell.instance()
    skin = Counter()
    with capture_output() as captured:
        skin._ipython_display_()
    widget, record = captured.outputs
    assert WIDGET_VIEW in widget.data
    assert widget.data["text/plain"].startswith("Counter <b> (interactive widget")
    assert LIVE_CLASS in skin.widget._dom_classes
    assert "count 0" in record.data["text/html"] and record.transient["display_id"]
    assert "Counter &lt;b&gt;" in record.data["text/html"]  # the title is escaped
    assert widget.transient["display_id"] != record.transient["display_id"]  # two outputs


def test_style_hides_the_record_next_to_a_live_view_and_the_dead_widget_otherwise():
    html = record_document("t", "")
    style = html[html.index("<style>"):html.index("</style>")]
    # record hidden when the output child before it holds a live view
    assert ".jp-OutputArea-child:has(.diaspora-live)+.jp-OutputArea-child:has(.diaspora-record)" \
           "{display:none}" in style
    # the widget's own output hidden when it has no live view ("Error displaying widget")
    assert (".jp-OutputArea-child:not(:has(.diaspora-live,.diaspora-record))"
            ":has(+.jp-OutputArea-child .diaspora-record){display:none}") in style


def test_updates_are_throttled_and_the_last_change_lands():
    InteractiveShell.instance()
    skin = Counter()
    skin.record_interval = 0.3
    with capture_output() as captured:
        skin._ipython_display_()
        for _ in range(50):  # a burst of changes: no update now, one when the timer fires
            skin.count += 1
            skin.update_record()
        assert len(records(captured.outputs)) == 1
        time.sleep(0.6)
        sent = records(captured.outputs)
        assert len(sent) == 2 and sent[1].update and "count 50" in sent[1].data["text/html"]
        time.sleep(0.4)
        skin.update_record()  # nothing changed since: nothing sent
        assert len(records(captured.outputs)) == 2
    assert skin.built <= 4  # built once per send or check, not once per change


def test_nothing_is_built_before_it_is_displayed():
    skin = Counter()
    skin.update_record()
    skin.record_now()
    assert skin.built == 0


def test_finish_replaces_the_widget_and_empties_the_record():
    InteractiveShell.instance()
    skin = Counter()
    skin.record_interval = 0.2
    with capture_output() as captured:
        skin._ipython_display_()
        skin.count = 7
        skin.update_record()  # pending in a timer
        skin.finish("<p>final</p>")
        time.sleep(0.4)  # the timer, had it not been cancelled, would have fired by now
    widget_id = captured.outputs[0].transient["display_id"]
    updates = [o for o in captured.outputs if o.update]
    assert [o.transient["display_id"] == widget_id for o in updates] == [True, False]
    assert "<p>final</p>" in updates[0].data["text/html"]
    assert RECORD_CLASS not in updates[1].data["text/html"]  # the record output is emptied
    with capture_output() as again:
        skin._ipython_display_()  # shown again later: the final HTML only
    assert len(again.outputs) == 1 and "final" in again.outputs[0].data["text/html"]


def test_shown_twice_one_update_reaches_both_records():
    InteractiveShell.instance()
    skin = Counter()
    skin.record_interval = 0
    with capture_output() as captured:
        skin._ipython_display_()
        skin._ipython_display_()  # e.g. the skin's variable shown again in another cell
        skin.count = 3
        skin.update_record()
    first, second, update = records(captured.outputs)
    assert first.transient["display_id"] == second.transient["display_id"] \
        == update.transient["display_id"]
    assert update.update and "count 3" in update.data["text/html"]
