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

from diaspora_notebook.login.key_cache import cached_passwords
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
                 r.textContent.includes('Explore ' + topic)
                 && r.textContent.includes('7 row(s)'))""",
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
        assert f"Explore {topic}" in explore_record and "value.temp" in explore_record
        assert ">26<" in explore_record  # the newest row's temperature
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
            assert "Explore " + topic in visible and "value.temp" in visible
            html = reopened.page.content()
            assert not any(secret in html for secret in passwords)
            screenshot(reopened, "records-reopened", "cells")
        finally:
            reopened.close()

        # an untrusted copy (never signed by this server): JupyterLab's sanitizer drops the
        # record's <style>, so the widget's error shows too, but the record is still there
        copy = nbformat.read(saved, as_version=4)
        copy.metadata["copied"] = True  # another hash: no signature of this server matches
        nbformat.write(copy, lab.root / "records-untrusted.ipynb")
        untrusted = lab_browser.new_page()
        try:
            untrusted.open("records-untrusted.ipynb", kernel=False)
            for label, index in WIDGET_CELLS.items():
                record = _cell(untrusted, index).locator(".diaspora-record")
                record.wait_for()
                assert record.is_visible(), f"the {label} record is hidden when untrusted"
            visible = untrusted.page.evaluate(VISIBLE_TEXT)
            assert "Diaspora Kafka key" in visible and "value.temp" in visible
            # no widget is drawn in an untrusted output: its short text line, not an error
            assert "Error displaying widget" not in visible and "VBox(" not in visible
            assert f"Explore {topic} (interactive widget" in visible
            screenshot(untrusted, "records-untrusted", "cells")
        finally:
            untrusted.close()

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
            assert "interactive widget" not in body, "the widget's text/plain shows in the export"
            assert all(r.is_visible() for r in offline.locator(".diaspora-record").all())
            offline.screenshot(path=str(SHOTS / "records-exported.png"), full_page=True)
        finally:
            offline.close()
    finally:
        set_save_widget_state(lab, True)


def export_offline(lab_browser, notebook: Path, shot: str) -> str:
    """``nbconvert --to html`` of ``notebook``, opened with no network: its visible text."""
    export = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir",
         str(notebook.parent), "--output", notebook.stem + "-" + shot, str(notebook)],
        capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    page = lab_browser.context.new_page()
    try:
        page.goto((notebook.parent / f"{notebook.stem}-{shot}.html").as_uri())
        page.wait_for_timeout(1500)  # whatever scripts it has get their chance (offline)
        page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        return str(page.locator("body").inner_text())
    finally:
        page.close()


def test_running_chart_export_is_readable_offline(lab, lab_browser, lab_page):
    """A notebook saved while its bqplot chart runs, exported with and without widget state."""
    from tests.lab.test_live_lab import FEED

    topic = f"records-chart-{uuid.uuid4().hex[:8]}"
    name = write_notebook(lab, "records-chart.ipynb", [
        "%load_ext diaspora_notebook\n%diaspora_login",
        f"topic = {topic!r}\n%diaspora_register {{topic}} --create", FEED,
        "from diaspora_notebook import Client\n"
        "from diaspora_notebook.stream import LiveDataFrame\n"
        "live = LiveDataFrame(topic, start='earliest', client=Client())\n"
        "live.plot(['celsius', 'seq'])"])
    lab_page.open(name)
    try:
        assert lab_page.run_all(), lab_page.errors()
        page = lab_page.page
        chart = _cell(lab_page, 3)
        chart.locator(".bqplot").first.wait_for()
        page.wait_for_function(  # the record has caught up with a drawn chart (throttled)
            "() => [...document.querySelectorAll('.jp-Cell:last-child .diaspora-record "
            "polyline')].length >= 2", timeout=30_000)
        assert not chart.locator(".diaspora-record").is_visible()
        saved = lab_page.save()  # widget state saved: the lab session's setting
        nb = nbformat.read(saved, as_version=4)
        assert "widgets" in nb.metadata
        with_state = export_offline(lab_browser, saved, "records-chart-export-state")
        del nb.metadata["widgets"]
        bare = saved.with_name("records-chart-bare.ipynb")
        nbformat.write(nb, bare)
        without_state = export_offline(lab_browser, bare, "records-chart-export-bare")
        print("WITH STATE:\n", with_state[-600:], "\nWITHOUT STATE:\n", without_state[-600:])
        for text in (with_state, without_state):
            assert "Live plot" in text and "events" in text, text[-800:]
            assert "VBox(" not in text and "interactive widget" not in text
    finally:
        lab_page.run_cell_code(f"stop_feed.set()\n%diaspora_unregister {topic}")
