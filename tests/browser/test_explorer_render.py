"""The explorer widget renders in a real browser (headless Chromium, widget state embedded by
nbconvert; see test_widgets_render.py for the set-up and what it needs)."""

from __future__ import annotations

import re
import shutil

import nbformat

from tests.browser.test_widgets_render import run_chromium, widget_js

NOTEBOOK = [
    "%load_ext diaspora_notebook\n%diaspora_login",
    "%diaspora_register {topic} --create --partitions 2",
    "%%diaspora_produce {topic}\n"
    '{{"sensor": "t1", "celsius": 21.5}}\n{{"sensor": "t2", "celsius": 19.0}}',
    "explorer = %diaspora_explore {topic}\nexplorer",
    "explorer.state.wait(timeout=60)\nexplorer.row.value = 0\nexplorer.state.wait(timeout=60)\n"
    "explorer.buttons['schema'].click()\nexplorer.state.wait(timeout=60)",
]


def test_explorer_renders_in_chromium(monkeypatch, sdk_identity, topic_name, tmp_path):
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    person = sdk_identity("browser-explore")
    for name, value in person.subprocess_env({}).items():
        monkeypatch.setenv(name, value)
    for name in ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET", "DIASPORA_WIDGETS",
                 "JUPYTERHUB_SERVICE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src.format(topic=topic_name)) for src in NOTEBOOK]
    NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors

    site = tmp_path / "site"
    shutil.copytree(widget_js(), site)
    exporter = HTMLExporter(require_js_url="require.js", widget_renderer_url="embed-amd.js")
    body, _ = exporter.from_notebook_node(nb)
    page = site / "explorer.html"
    page.write_text(body)
    dom = run_chromium(page.as_uri(), "--dump-dom", profile=tmp_path / "profile")
    drawn = re.sub(r'<script type="application/vnd\.jupyter\.widget-state\+json">.*?</script>',
                   "", dom, flags=re.S)  # only what the widget manager drew counts
    assert f"Explore {topic_name}" in drawn
    for text in ("Go", "Next &gt;", "Live tail", "Infer schema", "Consumer groups",
                 "to DataFrame", "Export", "value.celsius", "2 row(s)", "hex"):
        assert text in drawn, text
    assert "Traceback" not in drawn
