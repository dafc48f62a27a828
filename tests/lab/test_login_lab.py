"""Logging in in a live JupyterLab (issue 24, defects 5 and 6).

* A wrong code, then the right one: the widget keeps the login begun, so the code of the page
  already opened logs in (a silent new login made the right code fail with INVALID_GRANT).
* A logout in one kernel, then another kernel: it does not claim "Logged in as demo" on tokens
  the logout revoked, shows the login widget, and a cell that needs a login fails with a hint
  to use the widget instead of opening an ``input()`` prompt that Run All waits on.
"""

from __future__ import annotations

from tests.lab.conftest import screenshot
from tests.lab.test_live_lab import wait_until
from tests.lab.test_widgets_lab import write_notebook

#: a kernel of a person who logs in by hand (the lab's kernels log in headless by default)
BY_HAND = ("import os\n"
           "for name in ('DIASPORA_LOGIN_USERNAME', 'DIASPORA_LOGIN_PASSWORD'):\n"
           "    os.environ.pop(name, None)\n"
           "%load_ext diaspora_notebook")


def login_code(lab_browser, page, account) -> str:
    """Open the widget's link in a new tab, log in, allow; the code the page shows."""
    link = page.page.locator("a", has_text="Open login page").last
    link.wait_for()
    url = link.get_attribute("href")
    assert url and url.startswith("http://127.0.0.1:")
    idp = lab_browser.context.new_page()
    try:
        idp.goto(url)
        idp.fill("#username", account.username)
        idp.fill("#password", account.password)
        idp.click("button:has-text('Log in')")
        idp.click("button:has-text('Allow')")
        return idp.locator("#auth-code").inner_text().strip()
    finally:
        idp.close()


def submit(page, code: str) -> None:
    page.page.locator("input[placeholder='paste the authorization code here']").last.fill(code)
    page.page.locator("button:has-text('Submit')").last.click()


def start_cell(page, code: str) -> None:
    """Append a cell with ``code`` and run it without waiting for it to finish (a cell that
    waits on ``input()`` never finishes)."""
    page.page.evaluate("""(code) => {
      const app = window.jupyterapp;
      const nb = app.shell.currentWidget.content;
      nb.activeCellIndex = nb.widgets.length - 1;
      app.commands.execute('notebook:insert-cell-below').then(() => {
        nb.activeCell.model.sharedModel.setSource(code);
        app.commands.execute('notebook:run-cell');
      });
    }""", code)


def test_wrong_code_then_the_right_one_logs_in(lab, lab_browser, lab_page, demo_account):
    name = write_notebook(lab, "login-wrong-code-lab.ipynb",
                          [BY_HAND, "%diaspora_logout", "%diaspora_login"])
    lab_page.open(name)
    assert lab_page.run_all(), lab_page.errors()
    cell = lab_page.page.locator(".jp-Cell:last-child")
    cell.locator("a", has_text="Open login page").wait_for()
    link = cell.locator("a", has_text="Open login page").get_attribute("href")
    code = login_code(lab_browser, lab_page, demo_account)
    submit(lab_page, code[:-3] + "xyz")  # a typo
    cell.locator("text=The code was not accepted").wait_for()
    text = cell.inner_text()
    assert "New link" in text and "begin_login" not in text, text
    assert cell.locator("a", has_text="Open login page").get_attribute("href") == link
    screenshot(lab_page, "login-wrong-code", ".jp-Cell:last-child")
    submit(lab_page, code)  # the right code of the same page
    cell.locator("text=Logged in as demo").wait_for(timeout=30_000)
    assert "INVALID_GRANT" not in cell.inner_text().upper()
    assert lab_page.run_cell_code("%diaspora_whoami")


def test_a_second_kernel_after_a_logout(lab, lab_browser, lab_page):
    first = write_notebook(lab, "login-kernel-a-lab.ipynb",
                           ["%load_ext diaspora_notebook\n%diaspora_login"])
    second = write_notebook(lab, "login-kernel-b-lab.ipynb", [BY_HAND + "\n%diaspora_whoami"])
    lab_page.open(first)
    assert lab_page.run_all(), lab_page.errors()  # headless: tokens in the shared store
    other = lab_browser.new_page()
    try:
        other.open(second)
        assert other.run_all(), other.errors()
        assert "demo" in other.text()  # the second kernel uses the stored login
        assert lab_page.run_cell_code("%diaspora_logout")  # the first kernel logs out
        assert other.run_cell_code("%diaspora_login")
        cell = other.page.locator(".jp-Cell:last-child")
        cell.locator("a", has_text="Open login page").wait_for()
        assert "Logged in as" not in cell.inner_text(), "claimed a login the logout revoked"
        # a cell that needs a login: one line that says to use the widget, no input() prompt
        start_cell(other, "from diaspora_notebook.client import default_client\n"
                          "default_client().list_topics()")
        last = other.page.locator(".jp-Cell:last-child")
        wait_until(lambda: "NotLoggedInError" in last.inner_text()
                   or other.page.locator(".jp-Stdin-input").count() > 0,
                   timeout=60, what="the cell to fail or prompt")
        screenshot(other, "login-second-kernel", "cells")
        assert other.page.locator(".jp-Stdin-input").count() == 0, "an input() prompt opened"
        assert "%diaspora_login" in last.inner_text()
    finally:
        other.close()
