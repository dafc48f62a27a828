"""A real JupyterLab server and a real Chromium for browser tests (``tests/lab/``).

:class:`LabServer` starts ``jupyter lab`` on its own free port with its own token, config,
data, runtime, settings and workspaces directories (nothing of the user's own Jupyter setup is
read), notebooks copied into a temporary root, and kernels whose environment points at one
fabric (:func:`diaspora_notebook.fabric.demo.kernel_environment`: the demo account logs in
headless, as in ``make lab`` with ``demo-env``). The JupyterLab settings the tests need are
written as user settings: widget state saved with the notebook (``saveState``), no news or
update checks (nothing leaves 127.0.0.1).

:class:`LabBrowser` drives it with Playwright for Python and the system's Chromium (browser
downloads are not possible here: ``apt-get install chromium``). :class:`LabPage` wraps one
notebook tab: open, Run All, save, read the saved file back, screenshots.

The server exposes ``window.jupyterapp`` so commands run by id (``notebook:run-all-cells``),
which is how JupyterLab's own Galata tests drive it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from diaspora_notebook.fabric.testing import free_port

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps",
    # nothing leaves the machine: every host but 127.0.0.1 fails to resolve
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
#: user settings of the test server, per plugin (JupyterLab's settings directory layout)
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    # "Save Widget State Automatically": the case where a secret in widget state would leak
    "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
    # every cell in the DOM, drawn at once: what is checked is what a reader scrolls through
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}
#: variables of the user's own setup that must not reach the server or its kernels
DROPPED_VARIABLES = ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET", "DIASPORA_WIDGETS",
                     "DIASPORA_ENVIRONMENT", "DIASPORA_ENVIRONMENTS_FILE",
                     "JUPYTERHUB_SERVICE_PREFIX", "DIASPORA_VERBOSE_ERRORS")


class LabError(RuntimeError):
    """The JupyterLab server or the browser did not come up; the message has the log tail."""


def chromium_path() -> str:
    """The system Chromium (Playwright cannot download its own here)."""
    for path in CHROMIUM_CANDIDATES:
        if Path(path).is_file():
            return path
    raise LabError("no Chromium found: install it with `apt-get install -y chromium`")


def write_settings(settings_dir: Path, settings: Mapping[str, Mapping[str, Any]]) -> None:
    """Write JupyterLab user settings: ``<dir>/<package>/<plugin>.jupyterlab-settings``."""
    for plugin, values in settings.items():
        target = settings_dir / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values, indent=2))


@dataclass
class LabServer:
    """``jupyter lab`` in ``root`` (a directory of its own) with kernels that see ``env``.

    :param root: the server's root directory (notebooks live here).
    :param state: where config, data, runtime, settings and the log go.
    :param env: extra variables for the server and so for every kernel it starts.
    """

    root: Path
    state: Path
    env: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: LAB_SETTINGS)
    port: int = 0
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state / "jupyter.log"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("JUPYTER") and k not in DROPPED_VARIABLES}
        dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
                "JUPYTER_RUNTIME_DIR": "runtime", "JUPYTERLAB_SETTINGS_DIR": "settings",
                "JUPYTERLAB_WORKSPACES_DIR": "workspaces", "IPYTHONDIR": "ipython"}
        for name, sub in dirs.items():
            (self.state / sub).mkdir(parents=True, exist_ok=True)
            env[name] = str(self.state / sub)
        env.update(self.env)
        return env

    def start(self, timeout: float = 90.0) -> LabServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        write_settings(self.state / "settings", self.settings)
        self.port = self.port or free_port()
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class="
            "jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "--ServerApp.terminals_enabled=False",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=self.root, env=self.environment(),
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LabError(f"jupyter lab exited with {self.process.returncode}:\n"
                               f"{self.log_tail()}")
            try:
                if self.api("GET", "status").ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise LabError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call to the server's REST API (``/api/<path>``) with the token."""
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}/api/{path}", headers=headers, timeout=30,
                                **kwargs)

    def shutdown_kernels(self) -> None:
        """End every session and kernel (between tests: a kernel per notebook is enough)."""
        for session in self.api("GET", "sessions").json():
            self.api("DELETE", f"sessions/{session['id']}")
        for kernel in self.api("GET", "kernels").json():
            self.api("DELETE", f"kernels/{kernel['id']}")

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def lab_server(root: Path, state: Path, env: Mapping[str, str]) -> Iterator[LabServer]:
    """A started :class:`LabServer`, stopped at the end."""
    with LabServer(root=root, state=state, env=env) as server:
        yield server


def copy_notebooks(source: Path, root: Path) -> list[Path]:
    """Copy the tutorial notebooks (``NN-*.ipynb``) into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(source.glob("[0-9][0-9]-*.ipynb")):
        copied.append(Path(shutil.copy2(path, root / path.name)))
    return copied


# --- the browser -------------------------------------------------------------------------------

RUN_ALL = """async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.sessionContext.ready;
  return await app.commands.execute('notebook:run-all-cells');
}"""
SAVE = """async () => {
  const app = window.jupyterapp;
  await app.commands.execute('docmanager:save');
  return app.shell.currentWidget.context.path;
}"""
KERNEL_READY = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.sessionContext) return false;
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}"""
HAS_KERNEL = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return !!(panel && panel.sessionContext && panel.sessionContext.session
            && panel.sessionContext.session.kernel);
}"""


class LabPage:
    """One browser tab on one notebook of a :class:`LabServer`."""

    def __init__(self, server: LabServer, page: Any) -> None:
        self.server, self.page = server, page
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))

    def open(self, path: str, *, kernel: bool = True, timeout: float = 90.0) -> LabPage:
        """Open ``path`` (relative to the server root); wait for its kernel to be idle."""
        self.page.goto(f"{self.server.url}/lab/tree/{path}?token={self.server.token}&reset")
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell"
                                    " && window.jupyterapp.shell.currentWidget"
                                    " && window.jupyterapp.shell.currentWidget.context",
                                    timeout=timeout * 1000)
        self.page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000)
        # the notebook gets the whole width (the file browser is not what the tests look at)
        self.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        if kernel:
            self.page.wait_for_function(KERNEL_READY, timeout=timeout * 1000, polling=200)
        return self

    def run_all(self) -> bool:
        """Run All and wait until every cell has run; True if none failed."""
        return bool(self.page.evaluate(RUN_ALL))

    def run_cell_code(self, code: str) -> bool:
        """Append a cell with ``code`` at the end and run it (as a user typing it would)."""
        return bool(self.page.evaluate("""async (code) => {
          const app = window.jupyterapp;
          const panel = app.shell.currentWidget;
          const nb = panel.content;
          nb.activeCellIndex = nb.widgets.length - 1;
          await app.commands.execute('notebook:insert-cell-below');
          nb.activeCell.model.sharedModel.setSource(code);
          return await app.commands.execute('notebook:run-cell');
        }""", code))

    def errors(self) -> list[str]:
        """``ename: evalue`` of every error output, and every stderr text, in the notebook."""
        return list(self.page.evaluate("""() => {
          const nb = window.jupyterapp.shell.currentWidget.content.model;
          const found = [];
          for (const cell of nb.cells) {
            if (cell.type !== 'code') continue;
            for (const o of cell.toJSON().outputs || []) {
              if (o.output_type === 'error') found.push(`${o.ename}: ${o.evalue}`);
              if (o.output_type === 'stream' && o.name === 'stderr') found.push(String(o.text));
            }
          }
          return found;
        }"""))

    def save(self) -> Path:
        """Save (with widget state, as the settings say) and return the file on disk."""
        relative = self.page.evaluate(SAVE)
        return self.server.root / str(relative)

    def has_kernel(self) -> bool:
        return bool(self.page.evaluate(HAS_KERNEL))

    def text(self) -> str:
        """The notebook's text (every cell, scrolled into view or not)."""
        return str(self.page.evaluate(
            "() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook')"
            ".textContent"))

    def screenshot(self, target: Path, selector: str | None = None) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        if selector:
            # a live view redraws itself: the element picked may be replaced before the
            # picture is taken; pick it again
            for attempt in range(3):
                try:
                    self.page.locator(selector).first.screenshot(path=str(target))
                    break
                except Exception as exc:  # playwright's Error: "not attached to the DOM"
                    if "not attached" not in str(exc) or attempt == 2:
                        raise
                    self.page.wait_for_timeout(200)
        else:
            self.page.screenshot(path=str(target), full_page=False)
        return target

    def screenshot_cells(self, target: Path, margin: int = 8) -> Path:
        """A picture of every cell of the notebook, top to bottom (nothing below the last)."""
        cells = self.page.locator(".jp-Notebook .jp-Cell")
        cells.last.scroll_into_view_if_needed()
        top = cells.first.bounding_box()
        bottom = cells.last.bounding_box()
        assert top is not None and bottom is not None, "no cells to picture"
        target.parent.mkdir(parents=True, exist_ok=True)
        clip = {"x": max(top["x"] - margin, 0), "y": max(top["y"] - margin, 0),
                "width": top["width"] + 2 * margin,
                "height": bottom["y"] + bottom["height"] - top["y"] + 2 * margin}
        self.page.screenshot(path=str(target), clip=clip)
        return target

    def close(self) -> None:
        self.page.close()


class LabBrowser:
    """One headless Chromium for a test session; :meth:`new_page` per test."""

    def __init__(self, server: LabServer, *, width: int = 1280, height: int = 1000) -> None:
        from playwright.sync_api import sync_playwright

        self.server = server
        self._playwright = sync_playwright().start()
        try:
            self.browser = self._playwright.chromium.launch(executable_path=chromium_path(),
                                                            args=CHROMIUM_ARGS)
        except Exception:
            self._playwright.stop()
            raise
        self.context = self.browser.new_context(viewport={"width": width, "height": height})
        self.context.set_default_timeout(60_000)

    def new_page(self) -> LabPage:
        return LabPage(self.server, self.context.new_page())

    def close(self) -> None:
        try:
            self.context.close()
            self.browser.close()
        finally:
            self._playwright.stop()

    def __enter__(self) -> LabBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
