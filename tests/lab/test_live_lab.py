"""The live table in a live JupyterLab: counters grow, Pause holds them, Stop says stopped, and
the stopped stream leaves a static record that a reopened notebook shows."""

from __future__ import annotations

import re
import time
import uuid

from tests.lab.conftest import screenshot
from tests.lab.test_widgets_lab import outputs, set_save_widget_state, write_notebook

FEED = """import threading, time
from diaspora_notebook import KafkaProducer

stop_feed = threading.Event()

def feed():
    with KafkaProducer(linger_ms=5) as producer:
        for seq in range(3000):  # bounded: 60 s at most
            if stop_feed.is_set():
                break
            producer.send(topic, {"seq": seq, "celsius": 20 + seq % 7}, key=f"s{seq % 3}".encode())
            time.sleep(0.02)

threading.Thread(target=feed, daemon=True).start()"""


def events(page) -> int:
    """The events counter of the last live view on the page."""
    text = page.locator(".jp-Cell:last-child").inner_text()
    found = re.search(r"([\d,]+) events", text)
    assert found, text
    return int(found.group(1).replace(",", ""))


def state(page) -> str:
    text = page.locator(".jp-Cell:last-child").inner_text()
    found = re.search(r"\u25cf (\w+)", text)
    return found.group(1) if found else ""


def wait_until(check, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_live_table_counts_pauses_and_stops(lab, lab_browser, lab_page):
    set_save_widget_state(lab, False)  # the default: a reopened notebook has no widget models
    topic = f"lab-live-{uuid.uuid4().hex[:8]}"
    name = write_notebook(lab, "live-lab.ipynb", [
        "%load_ext diaspora_notebook\n%diaspora_login",
        f"topic = {topic!r}\n%diaspora_register {{topic}} --create",
        FEED,
        "from diaspora_notebook import Client\n"
        "from diaspora_notebook.stream import LiveDataFrame\n"
        "live = LiveDataFrame(topic, start='earliest', client=Client())\nlive",
    ])
    lab_page.open(name)
    try:
        assert lab_page.run_all(), lab_page.errors()
        page = lab_page.page
        wait_until(lambda: events(page) > 20, what="events to arrive")
        first = events(page)
        wait_until(lambda: events(page) > first, what="the counter to grow")
        # the grid draws the rows (Playwright's CSS pierces Perspective's shadow roots)
        first_row = page.locator(".jp-Cell:last-child regular-table tbody tr").first
        first_row.wait_for(timeout=30_000)
        wait_until(lambda: "celsius" in page.locator(
            ".jp-Cell:last-child regular-table thead").inner_text(), what="the grid's columns")
        screenshot(lab_page, "live-table", ".jp-Cell:last-child")
        cell = page.locator(".jp-Cell:last-child")
        cell.locator("button", has_text="Pause").click()
        wait_until(lambda: state(page) == "paused", what="paused")
        held = events(page)
        time.sleep(2.0)
        assert events(page) == held, "the counter moved while paused"
        cell.locator("button", has_text="Resume").click()
        wait_until(lambda: events(page) > held, what="the counter to grow after Resume")
        cell.locator("button", has_text="Stop").click()
        wait_until(lambda: "stopped" in cell.inner_text(), timeout=15, what="stopped")
        time.sleep(1.5)  # no late refresh turns it back to running
        text = cell.inner_text()
        assert "stopped" in text and "running" not in text, text
        assert "Error displaying widget" not in lab_page.text()
        saved = lab_page.save()
        views = [o for o in outputs(saved)
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert views == [], "the stopped stream left a widget view, not a record"
        lab_page.page.close()
        lab.shutdown_kernels()
        reopened = lab_browser.new_page()
        try:
            reopened.open(name)
            text = reopened.text()
            assert "Error displaying widget" not in text
            assert "stopped" in text and topic in text
            screenshot(reopened, "live-record", ".jp-Cell:last-child")
        finally:
            reopened.close()
    finally:
        set_save_widget_state(lab, True)
        cleanup = lab_browser.new_page()
        try:
            cleanup.open(name)
            cleanup.run_cell_code("%load_ext diaspora_notebook\n"
                                  f"%diaspora_unregister {topic}")
        finally:
            cleanup.close()


def test_live_chart_draws_and_leaves_a_record(lab, lab_page):
    topic = f"lab-chart-{uuid.uuid4().hex[:8]}"
    name = write_notebook(lab, "chart-lab.ipynb", [
        "%load_ext diaspora_notebook\n%diaspora_login",
        f"topic = {topic!r}\n%diaspora_register {{topic}} --create",
        FEED,
        "from diaspora_notebook import Client\n"
        "from diaspora_notebook.stream import LiveDataFrame\n"
        "live = LiveDataFrame(topic, start='earliest', client=Client())\n"
        "live.plot(['celsius', 'seq'])",
    ])
    lab_page.open(name)
    try:
        assert lab_page.run_all(), lab_page.errors()
        page = lab_page.page
        cell = page.locator(".jp-Cell:last-child")
        cell.locator(".bqplot").first.wait_for()
        wait_until(lambda: page.evaluate(
            "() => [...document.querySelectorAll('.jp-Cell:last-child .bqplot path.line')]"
            ".filter(p => (p.getAttribute('d') || '').length > 50).length") >= 2,
            what="two lines drawn")
        wait_until(lambda: events(page) > 50, what="events")
        screenshot(lab_page, "live-chart", ".jp-Cell:last-child")
        assert lab_page.run_cell_code("stop_feed.set()\nlive.stop()")
        chart = page.locator(".jp-Cell").nth(3)
        wait_until(lambda: chart.locator(".bqplot").count() == 0, timeout=15,
                   what="the chart to become a record")
        assert chart.locator("svg").count() >= 1 and "stopped" in chart.inner_text()
        assert lab_page.errors() == []
    finally:
        lab_page.run_cell_code(f"stop_feed.set()\n%diaspora_unregister {topic}")
