"""Several live views in one page of a live JupyterLab (issue 24, defect 1).

Perspective's bundle defines custom elements; run twice in one page (one run per widget model,
as anywidget loads it) the second run failed with "NotSupportedError: ... 'regular-layout' has
already been used". Two grids in one notebook, the older models a reloaded page restores from a
running kernel, and a page with grids, plots and an explorer at once must all draw without a
widget error.
"""

from __future__ import annotations

import time
import uuid

from tests.lab.conftest import screenshot
from tests.lab.test_live_lab import wait_until
from tests.lab.test_widgets_lab import write_notebook

#: what a widget that failed to draw leaves in the page (anywidget's and JupyterLab's texts)
WIDGET_ERRORS = ("javascript error", "NotSupportedError", "has already been used",
                 "Error displaying widget", "Error rendering", "Failed to load model",
                 "Model not found", "[anywidget] Failed")

FEED = """import threading, time
from diaspora_notebook import KafkaProducer

stop_feed = threading.Event()

def feed():
    with KafkaProducer(linger_ms=5) as producer:
        for seq in range(1500):  # bounded: 60 s at most
            if stop_feed.is_set():
                break
            producer.send(topic, {"seq": seq, "celsius": 20 + seq % 7},
                          key=f"s{seq % 3}".encode())
            time.sleep(0.04)

threading.Thread(target=feed, daemon=True).start()"""


def widget_errors(page) -> list[str]:
    """Widget failures in the page's text and in the browser console."""
    text = page.text()
    found = [marker for marker in WIDGET_ERRORS if marker in text]
    found += [line for line in page.console
              if "already been used" in line or "NotSupportedError" in line]
    return found


def grids_with_rows(page) -> int:
    """How many live grids in the page draw at least one row of data."""
    return int(page.page.evaluate("""() => {
      let drawn = 0;
      for (const grid of document.querySelectorAll(
          '.jp-NotebookPanel:not(.lm-mod-hidden) perspective-viewer-datagrid')) {
        const table = (grid.shadowRoot || grid).querySelector('regular-table');
        const cells = table ? [...table.querySelectorAll('tbody tr td')] : [];
        if (cells.some(td => td.textContent.trim() !== '')) drawn += 1;
      }
      return drawn;
    }"""))


def feed_notebook(lab, name: str, topic: str, views: list[str]) -> str:
    return write_notebook(lab, name, [
        "%load_ext diaspora_notebook\n%diaspora_login",
        f"topic = {topic!r}\n%diaspora_register {{topic}} --create",
        FEED,
        "import time\ntime.sleep(1.5)  # some events first: the grids start with rows",
        *views,
    ])


def cleanup(lab_browser, name: str, topic: str) -> None:
    page = lab_browser.new_page()
    try:
        page.open(name)
        page.run_cell_code(f"%load_ext diaspora_notebook\n%diaspora_unregister {topic}")
    finally:
        page.close()


def test_two_grids_in_one_page(lab, lab_browser, lab_page):
    topic = f"lab-grids-{uuid.uuid4().hex[:8]}"
    name = feed_notebook(lab, "two-grids-lab.ipynb", topic, [
        f"%diaspora_stream {topic} --from-beginning -o a",
        f"%diaspora_stream {topic} --from-beginning -o b",
    ])
    try:
        lab_page.open(name)
        assert lab_page.run_all(), lab_page.errors()
        try:
            wait_until(lambda: grids_with_rows(lab_page) == 2 or widget_errors(lab_page),
                       timeout=60, what="two grids with rows")
        finally:
            screenshot(lab_page, "two-grids", "cells")
        assert widget_errors(lab_page) == []
        assert grids_with_rows(lab_page) == 2
        # a third grid, made once the page holds two, draws too
        assert lab_page.run_cell_code(f"%diaspora_stream {topic} --from-beginning -o c")
        wait_until(lambda: grids_with_rows(lab_page) == 3 or widget_errors(lab_page),
                   timeout=60, what="a third grid")
        assert widget_errors(lab_page) == []
        lab_page.run_cell_code("stop_feed.set()\nfor v in (a, b, c): v.stop()")
    finally:
        cleanup(lab_browser, name, topic)


def test_reopened_notebook_with_a_running_stream_shows_its_grids(lab, lab_browser, lab_page):
    """A page reloaded while the kernel runs the streams restores every model, the old grids
    included, and each view of a grid shows its table again (not a blank grid)."""
    topic = f"lab-reopen-{uuid.uuid4().hex[:8]}"
    name = feed_notebook(lab, "reopen-grid-lab.ipynb", topic, [
        f"%diaspora_stream {topic} --from-beginning -o a",
        f"%diaspora_stream {topic} --from-beginning -o b",
    ])
    try:
        lab_page.open(name)
        assert lab_page.run_all(), lab_page.errors()
        wait_until(lambda: grids_with_rows(lab_page) == 2 or widget_errors(lab_page),
                   timeout=60, what="two grids with rows")
        lab_page.save()
        # the same notebook in a new tab, its kernel still running both streams
        lab_page.page.close()
        reopened = lab_browser.new_page()
        try:
            reopened.open(name)
            wait_until(lambda: grids_with_rows(reopened) == 2 or widget_errors(reopened),
                       timeout=60, what="the reopened grids to show rows")
            screenshot(reopened, "reopened-grids", "cells")
            assert widget_errors(reopened) == []
            assert grids_with_rows(reopened) == 2
            # still live: new rows reach a grid drawn after the reload
            assert "\u25cf running" in reopened.text()
            reopened.run_cell_code("stop_feed.set()\nfor v in (a, b): v.stop()")
        finally:
            reopened.close()
    finally:
        cleanup(lab_browser, name, topic)


def test_grids_plots_and_an_explorer_in_one_page(lab, lab_browser, lab_page):
    """Two grids, two plots and an explorer at once: every widget draws, none fails."""
    topic = f"lab-mixed-{uuid.uuid4().hex[:8]}"
    name = feed_notebook(lab, "mixed-views-lab.ipynb", topic, [
        f"%diaspora_stream {topic} --from-beginning -o a",
        f"%diaspora_stream {topic} --from-beginning -o b",
        "a.plot(['celsius'])",
        "b.plot(['seq'])",
        f"%diaspora_explore {topic}",
    ])
    try:
        lab_page.open(name)
        assert lab_page.run_all(), lab_page.errors()
        wait_until(lambda: grids_with_rows(lab_page) >= 2 or widget_errors(lab_page),
                   timeout=60, what="the grids with rows")
        time.sleep(3)  # the plots and the explorer draw meanwhile; a failure shows by now
        screenshot(lab_page, "mixed-views", "cells")
        assert widget_errors(lab_page) == []
        assert lab_page.errors() == []
        assert grids_with_rows(lab_page) >= 2
        # both plots draw their lines (one per key) and the explorer its page (issue 24, c)
        from tests.lab.test_plot_lab import LINES
        wait_until(lambda: lab_page.page.evaluate(LINES) >= 6, timeout=30,
                   what="three lines in each plot")
        assert lab_page.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                                     ".diaspora-page-grid regular-table tbody tr").count() > 0
        lab_page.run_cell_code("stop_feed.set()\nfor v in (a, b): v.stop()")
    finally:
        cleanup(lab_browser, name, topic)
