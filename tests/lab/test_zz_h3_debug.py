import time, uuid
from tests.lab.conftest import screenshot
from tests.lab.test_grids_lab import feed_notebook, grids_with_rows, widget_errors, cleanup


def test_debug_mixed(lab, lab_browser, lab_page):
    topic = f"lab-mixed-{uuid.uuid4().hex[:8]}"
    name = feed_notebook(lab, "mixed-debug.ipynb", topic, [
        f"%diaspora_stream {topic} --from-beginning -o a",
        f"%diaspora_stream {topic} --from-beginning -o b",
        "a.plot(['celsius'])",
        "b.plot(['seq'])",
        f"%diaspora_explore {topic}",
    ])
    try:
        lab_page.open(name)
        ok = lab_page.run_all()
        for i in range(30):
            if grids_with_rows(lab_page) >= 2:
                break
            time.sleep(1)
        screenshot(lab_page, "h3-debug-mixed", "cells")
        print("OK", ok, lab_page.errors(), grids_with_rows(lab_page), widget_errors(lab_page))
        print("\n".join(lab_page.console[-40:]))
        lab_page.run_cell_code("stop_feed.set()\nfor v in (a, b): v.stop()")
    finally:
        cleanup(lab_browser, name, topic)
