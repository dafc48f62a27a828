import time, uuid
import pytest
from tests.lab.conftest import screenshot
from tests.lab.test_grids_lab import feed_notebook, grids_with_rows, widget_errors, cleanup


@pytest.mark.parametrize("views", [
    ["%diaspora_stream {t} --from-beginning -o a", "%diaspora_stream {t} --from-beginning -o b",
     "%diaspora_explore {t}"],
    ["%diaspora_stream {t} --from-beginning -o a", "a.plot(['celsius'])", "a.plot(['seq'])"],
])
def test_debug_mixed(lab, lab_browser, lab_page, views):
    topic = f"lab-mixed-{uuid.uuid4().hex[:8]}"
    name = feed_notebook(lab, f"mixed-debug-{len(views)}-{uuid.uuid4().hex[:4]}.ipynb", topic,
                         [v.format(t=topic) for v in views])
    try:
        lab_page.open(name)
        ok = lab_page.run_all()
        for i in range(30):
            if grids_with_rows(lab_page) >= 1 + ("b" in views[1]):
                break
            time.sleep(1)
        screenshot(lab_page, f"h3-debug-{'plots' if 'plot' in views[1] else 'grids'}", "cells")
        print("OK", views, ok, lab_page.errors(), grids_with_rows(lab_page), widget_errors(lab_page))
        print("\n".join(lab_page.console[-40:]))
        lab_page.run_cell_code("stop_feed.set()\na.stop()")
    finally:
        cleanup(lab_browser, name, topic)
