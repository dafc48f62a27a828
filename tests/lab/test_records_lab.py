"""Companion records in a live JupyterLab, in the notebook reopened without its kernel, and in
an offline nbconvert export (issue 15, item 5).

The key, the topic manager and the explorer never end, so each is displayed with a record of
its last state right after it: hidden while the live widget is drawn, shown (and the widget's
"Error displaying widget" hidden) when no widget model exists. Widget-state saving is turned
off for this test (JupyterLab's default), so the saved file has no widget state at all.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import nbformat

from diaspora_notebook.keys import cached_passwords
from tests.lab.conftest import SHOTS, screenshot
from tests.lab.test_widgets_lab import outputs, set_save_widget_state, write_notebook

WIDGET_CELLS = {"key": 2, "topics": 3, "explore": 4}  # cell index of each widget
VISIBLE_TEXT = ("() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
                ".jp-Notebook').innerText")


def _cell(page, index):
    return page.page.locator(".jp-Notebook .jp-Cell").nth(index)


def test_records_hidden_live_shown_reopened_and_exported(lab, lab_browser, lab_page):
    topic = f"records-{uuid.uuid4().hex[:8]}"
    set_save_widget_state(lab, False)  # JupyterLab's default: no widget model in the file
    try:
        name = write_notebook(lab, "records-lab.ipynb", [
            "%load_ext diaspora_notebook\n%diaspora_login",
            "from diaspora_notebook import topics\n"
            f"topics.register({topic!r}, create=True)\n"
            f"topics.produce({topic!r}, [{{'sensor': 's1', 'temp': 20 + i}} for i in range(7)])",
            "%diaspora_key", "%diaspora_topics", f"%diaspora_explore {topic}"])
        lab_page.open(name)
        assert lab_page.run_all(), lab_page.errors()
        page = lab_page.page
        explore = _cell(lab_page, WIDGET_CELLS["explore"])
        explore.locator(".widget-html-content td", has_text="s1").first.wait_for()
        # live: each widget is drawn with its root marked live, and its record is hidden
        for label, index in WIDGET_CELLS.items():
            cell = _cell(lab_page, index)
            assert cell.locator(".diaspora-live").first.is_visible(), label
            record = cell.locator(".diaspora-record")
            assert record.count() == 1, label
            assert not record.is_visible(), f"the {label} record shows next to its widget"
        passwords = cached_passwords(Path(lab.env["DIASPORA_USER_DIR"]))
        assert passwords, "the key widget did not load a key"
        # the explorer's record follows its page (throttled to one update per 2 s)
        page.wait_for_function(
            """(topic) => [...document.querySelectorAll('.diaspora-record')].some(r =>
                 r.textContent.includes('Explore ' + topic) && r.textContent.includes('26'))""",
            arg=topic, timeout=30_000)
        assert lab_page.run_cell_code(f"topics.unregister({topic!r})"), lab_page.errors()
        saved = lab_page.save()
        text = saved.read_text()
        nb = nbformat.reads(text, as_version=4)
        assert "widgets" not in nb.metadata
        for secret in passwords:
            assert secret not in text, "a password reached the saved notebook"
        records = [o["data"]["text/html"] for o in outputs(saved)
                   if "diaspora-record" in str(o.get("data", {}).get("text/html", ""))]
        assert len(records) == 3, records
        key_record, topics_record, explore_record = (str(r) for r in records)
        assert "Username" in key_record and "\u2022" * 8 in key_record
        assert topic in topics_record and "shared with" in topics_record
        assert "demo" in topics_record  # the owner, by username
        assert f"Explore {topic}" in explore_record and "s1" in explore_record
        lab_page.page.close()
        lab.shutdown_kernels()

        reopened = lab_browser.new_page()
        try:
            reopened.open(name, kernel=False)
            # the widget manager has given up on every widget (no model): its error is drawn
            reopened.page.wait_for_function(
                "() => [...document.querySelectorAll('.jupyter-widgets')].filter("
                "e => e.textContent.startsWith('Error displaying widget')).length === 3",
                timeout=60_000)
            visible = reopened.page.evaluate(VISIBLE_TEXT)
            assert "Error displaying widget" not in visible
            assert "model not found" not in visible
            assert "Loading widget" not in visible
            for label, index in WIDGET_CELLS.items():
                record = _cell(reopened, index).locator(".diaspora-record")
                assert record.is_visible(), f"the {label} record is hidden in the reopened file"
            assert "Diaspora Kafka key" in visible and topic in visible
            assert "Explore " + topic in visible and "s1" in visible
            html = reopened.page.content()
            assert not any(secret in html for secret in passwords)
            screenshot(reopened, "records-reopened", "cells")
        finally:
            reopened.close()

        # an nbconvert export without widget state, read offline: the records, no widget text
        export = subprocess.run(
            [sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir",
             str(saved.parent), str(saved)], capture_output=True, text=True, timeout=120)
        assert export.returncode == 0, export.stderr
        exported = saved.with_suffix(".html")
        offline = lab_browser.context.new_page()
        try:
            offline.goto(exported.as_uri())
            body = offline.locator("body").inner_text()
            assert "Diaspora Kafka key" in body and "Explore " + topic in body
            assert "(live widget)" not in body, "the widget's text/plain shows in the export"
            assert all(r.is_visible() for r in offline.locator(".diaspora-record").all())
            offline.screenshot(path=str(SHOTS / "records-exported.png"), full_page=True)
        finally:
            offline.close()
    finally:
        set_save_widget_state(lab, True)
