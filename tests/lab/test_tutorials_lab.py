"""Run All of every tutorial in a live JupyterLab: no error output, every widget displayed."""

from __future__ import annotations

import time

import nbformat
import pytest

from diaspora_notebook.fabric.demo import tutorial_paths
from tests.lab.conftest import ROOT, screenshot


def error_outputs(path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.mark.parametrize("name", [p.name for p in tutorial_paths(ROOT / "notebooks")])
def test_run_all(lab_page, name):
    started = time.monotonic()
    lab_page.open(name)
    assert lab_page.run_all(), f"{name}: a cell failed"
    saved = lab_page.save()
    print(f"{name}: Run All + save in {time.monotonic() - started:.1f} s")
    assert error_outputs(saved) == [], name
    screenshot(lab_page, f"tutorial-{name.split('-')[0]}")
    text = lab_page.text()
    if "\u25cf running" in text:  # streams stopped at the end (stop_all) must say so
        time.sleep(3)
        text = lab_page.text()
    assert "\u25cf running" not in text, f"{name}: a stopped stream still says running"
    assert "Error displaying widget" not in text, name
    assert "Traceback" not in text, name
