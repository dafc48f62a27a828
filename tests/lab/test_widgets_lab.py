"""The widgets in a live JupyterLab, clicked as a person would.

Login completed in the browser after ``%diaspora_logout`` in a demo-env kernel (defect 1 of
issue 15), the key revealed with "Save Widget State Automatically" on and nothing secret in
the saved file, and a reopened notebook that shows static records instead of "Error
displaying widget".
"""

from __future__ import annotations

import json
import re

import nbformat

from diaspora_notebook.login.key_cache import cached_passwords
from tests.lab.conftest import screenshot


def write_notebook(lab, name, cells) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells],
                                  metadata={"kernelspec": {"name": "python3",
                                                           "display_name": "Python 3",
                                                           "language": "python"}})
    nbformat.write(nb, lab.root / name)
    return name


def set_save_widget_state(lab, on: bool) -> None:
    plugin = "@jupyter-widgets/jupyterlab-manager:plugin"
    response = lab.api("PUT", f"../lab/api/settings/{plugin}",
                       data=json.dumps({"raw": json.dumps({"saveState": on})}))
    assert response.status_code == 204, response.text


def browser_login(lab_browser, page, account) -> None:
    """Open the widget's link in a new tab, log in, allow, paste the code, Submit."""
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
        code = idp.locator("#auth-code").inner_text().strip()
    finally:
        idp.close()
    page.page.locator("input[placeholder='paste the authorization code here']").last.fill(code)
    page.page.locator("button:has-text('Submit')").last.click()


def outputs(path):
    nb = nbformat.read(path, as_version=4)
    return [o for c in nb.cells for o in c.get("outputs", [])]


def test_logout_then_login_shows_the_widget_and_leaves_a_record(lab, lab_browser, lab_page,
                                                                 demo_account):
    set_save_widget_state(lab, False)  # the default: widget models are not saved
    try:
        name = write_notebook(lab, "login-lab.ipynb", [
            "%load_ext diaspora_notebook", "%diaspora_login", "%diaspora_logout",
            "%diaspora_login"])
        lab_page.open(name)
        assert lab_page.run_all()
        text = lab_page.text()
        assert "Open login page" in text, "logout then login did not show the login widget"
        screenshot(lab_page, "login-widget", ".jp-Cell:last-child")
        browser_login(lab_browser, lab_page, demo_account)
        lab_page.page.locator(".jp-Cell:last-child", has_text="Logged in as demo").wait_for()
        assert lab_page.run_cell_code("%diaspora_whoami")
        saved = lab_page.save()
        views = [o for o in outputs(saved)
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert views == [], "a finished login left a widget view in the saved notebook"
        lab_page.page.close()
        lab.shutdown_kernels()

        reopened = lab_browser.new_page()
        try:
            reopened.open(name)
            text = reopened.text()
            assert "Error displaying widget" not in text
            assert text.count("Logged in as demo") == 2, text  # the two login records
            assert "Identitydemo (" in text  # whoami's output
        finally:
            reopened.close()
    finally:
        set_save_widget_state(lab, True)


def test_key_reveal_leaves_no_secret_in_the_saved_notebook(lab, lab_page):
    name = write_notebook(lab, "key-lab.ipynb", [
        "%load_ext diaspora_notebook\n%diaspora_login", "%diaspora_topics", "%diaspora_key"])
    lab_page.open(name)
    assert lab_page.run_all(), lab_page.errors()
    page = lab_page.page
    page.set_viewport_size({"width": 1100, "height": 1000})
    screenshot(lab_page, "widgets", "cells")  # the README's picture (key masked)
    page.locator("button:has-text('Reveal')").last.click()
    secret = page.locator(".diaspora-secret").last
    page.wait_for_function("() => { const e = [...document.querySelectorAll('.diaspora-secret')]"
                           ".pop(); return e && /^[A-Za-z0-9]{48}$/.test(e.textContent); }")
    password = secret.inner_text().strip()
    assert password in cached_passwords(__import__("pathlib").Path(
        lab.env["DIASPORA_USER_DIR"]))
    screenshot(lab_page, "key-widget", ".jp-Cell:last-child")
    saved = lab_page.save()
    text = saved.read_text()
    nb = json.loads(text)
    assert "widgets" in nb["metadata"], "widget state was not saved (saveState setting)"
    assert password not in text
    assert not re.search(r"(?<![A-Za-z0-9])[A-Za-z0-9]{48}(?![A-Za-z0-9])",
                         json.dumps(nb["metadata"]["widgets"]))
    page.locator("button:has-text('Hide')").last.click()
    page.wait_for_function("() => !/^[A-Za-z0-9]{48}$/.test([...document.querySelectorAll("
                           "'.diaspora-secret')].pop().textContent)")
    # Copy: the password goes to the clipboard, and again nowhere in the notebook
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    page.locator("button:has-text('Copy')").last.click()
    page.locator(".jp-Cell:last-child", has_text="Password copied").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == password
    assert password not in lab_page.save().read_text()
