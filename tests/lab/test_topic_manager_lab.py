"""The topic manager in a live JupyterLab: create, a refused grant, delete (asked twice)."""

from __future__ import annotations

import uuid

from tests.lab.conftest import screenshot
from tests.lab.test_widgets_lab import write_notebook


def test_topic_manager_clicks(lab, lab_page):
    name = write_notebook(lab, "topics-lab.ipynb", [
        "%load_ext diaspora_notebook", "%diaspora_login", "%diaspora_topics"])
    lab_page.open(name)
    assert lab_page.run_all()
    page = lab_page.page
    cell = page.locator(".jp-Cell").last
    topic = f"lab-{uuid.uuid4().hex[:8]}"
    message = cell.locator(".widget-html-content").last  # the message line is the last HTML

    def click(label: str) -> None:
        cell.locator("button", has_text=label).first.click()

    cell.get_by_placeholder("topic name").fill(topic)
    click("Register")
    cell.locator(".widget-html-content", has_text="success").last.wait_for()
    click("Create")
    cell.locator("td", has_text=topic).first.wait_for()
    cell.get_by_placeholder("username or identity id").fill("no-such-user-anywhere")
    click("Grant")
    cell.locator(".widget-html-content", has_text="UnknownUserError").last.wait_for()
    line = message.inner_text()
    assert "__" not in line and "Traceback" not in line
    assert cell.locator("button.mod-danger", has_text="Delete").count() == 1
    screenshot(lab_page, "topic-manager", ".jp-Cell:last-child")
    click("Delete")
    cell.locator(".widget-html-content", has_text="Click Delete again").last.wait_for()
    click("Delete")
    cell.locator(".widget-html-content", has_text="deleted").last.wait_for()
    click("Unregister")  # asks first too: unregistering deletes the topic's events
    cell.locator(".widget-html-content", has_text="Click Unregister again").last.wait_for()
    click("Unregister")
    cell.locator(".widget-html-content", has_text="success").last.wait_for()
    assert "Error displaying widget" not in lab_page.text()
