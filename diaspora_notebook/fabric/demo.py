"""``diaspora-fabric demo``: execute the tutorial notebooks headless against the local fabric.

The tutorials log in as a demo account of the local identity provider (created at the first
run, password in ``secrets/demo-users.json``, 0600) through the programmatic login flow that
``DIASPORA_LOGIN_USERNAME``/``DIASPORA_LOGIN_PASSWORD`` select. Executed notebooks and their HTML
land in the output directory; a failing cell stops the run with the cell and its error, and the
partial notebook is still written so nothing of the run is lost.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from diaspora_notebook.errors import DiasporaError, DiasporaUsageError
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.home import FabricHome, random_secret, write_private

DEMO_USERS = ("demo", "demo-friend")
CELL_TIMEOUT = 300


class TutorialFailedError(DiasporaError):
    """A tutorial notebook raised an error in one of its cells."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    identity_id: str


def demo_users(home: FabricHome) -> dict[str, DemoUser]:
    """The demo accounts, created in the identity provider the first time."""
    from diaspora_notebook.fabric.idp import admin

    path = home.secrets_dir / "demo-users.json"
    known: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    existing = {u["username"]: u["id"] for u in admin.list_users(home.idp_dir)}
    changed = False
    for name in DEMO_USERS:
        if name in known and existing.get(name) == known[name]["identity_id"]:
            continue
        password = random_secret(24)
        if name in existing:
            admin.set_password(home.idp_dir, name, password)
            identity = existing[name]
        else:
            identity = admin.add_user(home.idp_dir, name, password,
                                      name=name.replace("-", " ").title())
        known[name] = {"username": name, "password": password, "identity_id": identity}
        changed = True
    if changed:
        write_private(path, json.dumps(known, indent=2) + "\n")
    return {name: DemoUser(**known[name]) for name in DEMO_USERS}


def kernel_environment(fabric: Fabric, user_dir: Path) -> dict[str, str]:
    """Variables the tutorial kernels need: where the fabric is and how to log in headless."""
    users = demo_users(fabric.home)
    friend = users["demo-friend"]
    return {
        "DIASPORA_FABRIC_HOME": str(fabric.home.root),
        "DIASPORA_USER_DIR": str(user_dir),
        "DIASPORA_LOGIN_USERNAME": users["demo"].username,
        "DIASPORA_LOGIN_PASSWORD": users["demo"].password,
        # 04-sharing-topics plays the second identity in a subprocess of its own
        "DIASPORA_DEMO_FRIEND_USERNAME": friend.username,
        "DIASPORA_DEMO_FRIEND_PASSWORD": friend.password,
    }


def run_tutorials(
    notebooks: Path,
    out: Path,
    *,
    fabric: Fabric,
    user_dir: Path | None = None,
    only: list[str] | None = None,
    progress: Callable[[str], None] = print,
) -> list[Path]:
    """Execute every ``NN-*.ipynb`` in order; write executed notebooks and HTML to ``out``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    paths = sorted(notebooks.glob("[0-9][0-9]-*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) for o in only)]
    if not paths:
        raise DiasporaUsageError(f"no tutorial notebooks (NN-*.ipynb) in {notebooks}",
                                 hint="run from the repository root, or pass --notebooks DIR")
    out.mkdir(parents=True, exist_ok=True)
    env = kernel_environment(fabric, user_dir or out / ".diaspora-user")
    written = []
    for index, path in enumerate(paths, 1):
        progress(f"[{index}/{len(paths)}] {path.name} ...")
        started = time.monotonic()
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(notebooks)}})
        failure: CellExecutionError | None = None
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the kernel inherits the runner's environment
        try:
            client.execute()
        except CellExecutionError as exc:
            failure = exc
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        target = out / path.name
        nbformat.write(nb, target)
        html, _ = HTMLExporter().from_notebook_node(nb)
        target.with_suffix(".html").write_text(html)
        written.append(target)
        if failure is not None:
            raise TutorialFailedError(
                f"{path.name} failed:\n{_short(str(failure))}",
                hint=f"the partial result is in {target}; fix the notebook or the fabric and "
                "run again",
            )
        progress(f"      done in {time.monotonic() - started:.1f} s -> {target}")
    return written


def _short(text: str, lines: int = 25) -> str:
    rows = text.strip().splitlines()
    return "\n".join(rows[-lines:])
