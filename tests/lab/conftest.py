"""One JupyterLab server, one fabric and one Chromium for the whole lab suite.

Kernels log in headless as the fabric's demo account (``diaspora-fabric demo-env``), exactly as
in ``make lab`` after ``eval "$(diaspora-fabric demo-env)"``; ``04-sharing-topics`` plays the
second demo account. Screenshots land in ``build/lab-screenshots``; with
``DIASPORA_SCREENSHOTS=1`` the ones the docs show are copied to ``docs/img``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from diaspora_notebook.fabric.demo import demo_users, kernel_environment
from tests.lab.driver import LabBrowser, LabPage, LabServer, copy_notebooks

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "lab-screenshots"
#: the screenshots the docs show (README: widgets.png), copied with DIASPORA_SCREENSHOTS=1
DOC_SHOTS = {"widgets", "live-table"}


@pytest.fixture(scope="session")
def lab(fabric, tmp_path_factory) -> Iterator[LabServer]:
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    copy_notebooks(ROOT / "notebooks", root)
    env = kernel_environment(fabric, base / "diaspora-user")
    with LabServer(root=root, state=base / "state", env=env) as server:
        yield server


@pytest.fixture(scope="session")
def demo_account(fabric):
    return demo_users(fabric.home)["demo"]


@pytest.fixture(scope="session")
def lab_browser(lab) -> Iterator[LabBrowser]:
    with LabBrowser(lab) as browser:
        yield browser


@pytest.fixture
def lab_page(lab, lab_browser) -> Iterator[LabPage]:
    """A fresh tab; its kernels are shut down afterwards."""
    page = lab_browser.new_page()
    yield page
    page.close()
    lab.shutdown_kernels()


def screenshot(page: LabPage, name: str, selector: str | None = None) -> Path:
    """Write ``build/lab-screenshots/<name>.png``; also ``docs/img`` with DIASPORA_SCREENSHOTS.

    ``selector``: a CSS selector to picture one element, ``"cells"`` for every cell.
    """
    target = SHOTS / f"{name}.png"
    shot = (page.screenshot_cells(target) if selector == "cells"
            else page.screenshot(target, selector))
    if name in DOC_SHOTS and os.environ.get("DIASPORA_SCREENSHOTS"):
        shutil.copyfile(shot, ROOT / "docs" / "img" / f"{name}.png")
    return shot
