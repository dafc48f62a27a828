"""The live plot and the explorer's row click in a live JupyterLab (issue 24, defects 7 and 4).

A stream of four sensors at a few hundred events/s: the plot draws one line per sensor over its
time window with clock-time labels, and a stopped plot leaves a chart with axes, a legend and
the window. In the explorer, a click on a row of the message table opens its detail beside it.
"""

from __future__ import annotations

import re
import time
import uuid

from tests.lab.conftest import screenshot
from tests.lab.test_grids_lab import cleanup, widget_errors
from tests.lab.test_live_lab import wait_until
from tests.lab.test_widgets_lab import write_notebook

FEED = """import threading, time
from diaspora_notebook import KafkaProducer

stop_feed = threading.Event()

def feed():
    with KafkaProducer(linger_ms=20) as producer:
        for seq in range(12_000):  # 400 events/s, 30 s at most
            if stop_feed.is_set():
                break
            sensor = seq % 4
            producer.send(topic, {"seq": seq, "celsius": 10 * sensor + (seq // 4) % 50 / 10},
                          key=f"sensor-{sensor}".encode())
            if seq % 40 == 39:
                time.sleep(0.1)

threading.Thread(target=feed, daemon=True).start()"""

#: lines the bqplot charts of the page draw (a path with more than a few points)
LINES = """() => [...document.querySelectorAll(
  '.jp-NotebookPanel:not(.lm-mod-hidden) .bqplot path.line')]
  .filter(p => (p.getAttribute('d') || '').length > 50).length"""
TICKS = """() => [...document.querySelectorAll(
  '.jp-NotebookPanel:not(.lm-mod-hidden) .bqplot .axis text')].map(t => t.textContent)"""


def test_the_live_plot_shows_a_stream_and_leaves_a_chart(lab, lab_browser, lab_page):
    topic = f"lab-plot-{uuid.uuid4().hex[:8]}"
    name = write_notebook(lab, "live-plot-lab.ipynb", [
        "%load_ext diaspora_notebook\n%diaspora_login",
        f"topic = {topic!r}\n%diaspora_register {{topic}} --create",
        FEED,
        f"%diaspora_stream {topic} -o live --from-beginning",
        "plot = live.plot('celsius', window='20s')\nplot",
    ])
    try:
        lab_page.open(name)
        assert lab_page.run_all(), lab_page.errors()
        time.sleep(8)  # 8 s of a 20 s window
        wait_until(lambda: lab_page.page.evaluate(LINES) >= 4 or widget_errors(lab_page),
                   timeout=60, what="four lines in the plot")
        assert widget_errors(lab_page) == []
        legend = lab_page.text()
        assert all(f"sensor-{k}" in legend for k in range(4))
        ticks = lab_page.page.evaluate(TICKS)
        clock = [t for t in ticks if re.fullmatch(r"\d\d:\d\d:\d\d", t)]
        assert len(clock) >= 3, ticks  # clock times, not d3's ".780 .800"
        assert not [t for t in ticks if re.fullmatch(r"\.\d+", t)], ticks
        for attempt in range(3):  # the figure may be laid out again while it is pictured
            try:
                screenshot(lab_page, "live-plot",
                           ".jp-NotebookPanel:not(.lm-mod-hidden) .diaspora-live:has(.bqplot)")
                break
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(1)
        lab_page.run_cell_code("stop_feed.set()\nlive.stop()")
        wait_until(lambda: lab_page.page.evaluate(
            "() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
            "svg.diaspora-chart polyline').length") >= 4, timeout=30,
            what="the stopped plot's chart")
        record = lab_page.page.locator(
            ".jp-NotebookPanel:not(.lm-mod-hidden) svg.diaspora-chart").first
        text = record.text_content() or ""
        assert "event time (UTC)" in text and "sensor-3" in text and "window 20 s" in text
        assert len(re.findall(r"\d\d:\d\d:\d\d", text)) >= 3
        screenshot(lab_page, "live-plot-stopped",
                   ".jp-NotebookPanel:not(.lm-mod-hidden) svg.diaspora-chart")
        assert lab_page.errors() == []
    finally:
        cleanup(lab_browser, name, topic)


def test_a_click_on_a_message_opens_its_detail(lab, lab_browser, lab_page):
    topic = f"lab-click-{uuid.uuid4().hex[:8]}"
    name = write_notebook(lab, "explorer-click-lab.ipynb", [
        "%load_ext diaspora_notebook\n%diaspora_login",
        f"topic = {topic!r}\n%diaspora_register {{topic}} --create",
        "from diaspora_notebook import KafkaProducer\n"
        "with KafkaProducer() as producer:\n"
        "    for seq in range(30):\n"
        "        producer.send(topic, {'seq': seq, 'label': f'message-{seq}'})",
        f"%diaspora_explore {topic}",
    ])
    try:
        lab_page.open(name)
        assert lab_page.run_all(), lab_page.errors()
        rows = lab_page.page.locator(
            ".jp-NotebookPanel:not(.lm-mod-hidden) .diaspora-page-grid regular-table tbody tr")
        wait_until(lambda: rows.count() >= 5, timeout=60, what="the explorer's rows")
        assert "partition / offset" not in lab_page.text()  # no detail yet
        cell = rows.nth(3).locator("td").first
        shown = cell.text_content()
        cell.click()
        wait_until(lambda: "partition / offset" in lab_page.text(), timeout=30,
                   what="the detail of the clicked row")
        text = lab_page.text()
        # newest first: the fourth row is message 26, and its detail is what opened
        assert "0 / 26" in text and "message-26" in text, shown
        screenshot(lab_page, "explorer-click", "cells")
        assert widget_errors(lab_page) == [] and lab_page.errors() == []
    finally:
        cleanup(lab_browser, name, topic)
