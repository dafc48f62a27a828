"""The widgets render in a real browser, and a saved notebook holds no password.

A small notebook runs with nbclient against the local fabric (headless login), is exported by
nbconvert with its widget state embedded, and is loaded in headless Chromium with the
@jupyter-widgets/html-manager bundle served from local files (the network stays closed: every
host name is made unresolvable). We assert on the rendered DOM (``--dump-dom``) and on a
screenshot that is not blank.

Needs ``chromium`` (``apt-get install -y chromium``) and, once, npm to fetch the widget JS
(``npm pack @jupyter-widgets/html-manager@1 requirejs@2`` into the cache directory
``DIASPORA_TEST_WIDGET_JS`` or ``~/.cache/diaspora-notebook/widget-js``). Set
``DIASPORA_UPDATE_SCREENSHOT=1`` to keep the picture in ``build/widgets-export.png`` (the
docs' picture comes from the live JupyterLab of ``tests/lab``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import nbformat
import pytest

from diaspora_notebook.testing.identities import login

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"html-manager": "@jupyter-widgets/html-manager@1", "requirejs": "requirejs@2"}
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--hide-scrollbars", "--allow-file-access-from-files",
    # nothing leaves the machine: every host name fails to resolve
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=20000",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no Chromium found: install it with `apt-get install -y chromium`")


def widget_js() -> Path:
    """A directory with ``embed-amd.js`` (+ its fonts) and ``require.js`` from npm."""
    cache = Path(os.environ.get("DIASPORA_TEST_WIDGET_JS")
                 or Path.home() / ".cache" / "diaspora-notebook" / "widget-js")
    out = cache / "unpacked"
    if (out / "embed-amd.js").is_file() and (out / "require.js").is_file():
        return out
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the widget JS is not cached and npm is missing: install npm, or put "
                    "embed-amd.js and require.js in $DIASPORA_TEST_WIDGET_JS/unpacked")
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(exist_ok=True)
    for spec in PACKAGES.values():
        done = subprocess.run([npm, "pack", spec, "--silent"], cwd=cache, capture_output=True,
                              text=True, timeout=300, check=True)
        archive = cache / done.stdout.strip().splitlines()[-1]
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = member.name
                if name.startswith("package/dist/") or name == "package/require.js":
                    member.name = Path(name).name
                    tar.extract(member, out, filter="data")
    return out


def run_chromium(url: str, *args: str, profile: Path) -> str:
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


NOTEBOOK = [
    "%load_ext diaspora_notebook",
    "%diaspora_login",
    "%diaspora_register {topic} --create --partitions 2",
    "%%diaspora_produce {topic}\n"
    '{{"sensor": "t1", "celsius": 21.5}}\n{{"sensor": "t2", "celsius": 19.0}}',
    "%diaspora_topics",
    "%diaspora_key",
]


def test_widgets_render_in_chromium(monkeypatch, sdk_identity, topic_name, tmp_path):
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    person = sdk_identity("browser")
    for name, value in person.subprocess_env({}).items():
        monkeypatch.setenv(name, value)
    for name in ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET", "DIASPORA_WIDGETS",
                 "JUPYTERHUB_SERVICE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src.format(topic=topic_name)) for src in NOTEBOOK]
    NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert "widgets" in nb.metadata

    # the saved notebook holds no password, neither in outputs nor in the widget state
    password = login(person).retrieve_key()["password"]
    saved = nbformat.writes(nb)
    assert password and password not in saved
    assert "Diaspora Kafka key" in saved

    js = widget_js()
    site = tmp_path / "site"
    shutil.copytree(js, site)
    exporter = HTMLExporter(require_js_url="require.js", widget_renderer_url="embed-amd.js")
    body, _ = exporter.from_notebook_node(nb)
    assert password not in body
    page = site / "widgets.html"
    page.write_text(body)

    dom = run_chromium(page.as_uri(), "--dump-dom", profile=tmp_path / "profile-dom")
    rendered = re.sub(r'<script type="application/vnd\.jupyter\.widget-state\+json">.*?'
                      r"</script>", "", dom, flags=re.S)  # only what the manager drew counts
    assert "widget-html-content" in rendered and "jupyter-widgets" in rendered
    assert f"Logged in as {person.username}" in rendered
    assert topic_name in rendered and "Diaspora topics" in rendered
    assert "Diaspora Kafka key" in rendered and "Reveal" in rendered
    assert password not in dom

    shot = tmp_path / "widgets.png"
    run_chromium(page.as_uri(), f"--screenshot={shot}", "--window-size=1100,1200",
                 profile=tmp_path / "profile-shot")
    from PIL import Image, ImageStat

    image = Image.open(shot).convert("L")
    assert image.size == (1100, 1200)
    assert ImageStat.Stat(image).stddev[0] > 10, "the screenshot is blank"
    if os.environ.get("DIASPORA_UPDATE_SCREENSHOT"):
        target = ROOT / "build" / "widgets-export.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    (tmp_path / "result.json").write_text(json.dumps({"dom_bytes": len(dom)}))
