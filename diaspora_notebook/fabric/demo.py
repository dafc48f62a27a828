"""``diaspora-fabric demo``: execute the tutorial notebooks headless against the local fabric.

The tutorials log in as a demo account of the local identity provider (created at the first
run, password in ``secrets/demo-users.json``, 0600) through the programmatic login flow that
``DIASPORA_LOGIN_USERNAME``/``DIASPORA_LOGIN_PASSWORD`` select; ``04-sharing-topics`` plays a
second account, ``demo-friend``, from ``DIASPORA_DEMO_FRIEND_*``. These variables go to the
kernel only (the runner's own environment is not changed).

Executed notebooks and their HTML land in the output directory; a failing cell stops the run
with the cell and its error, and the partial notebook is still written so nothing of the run is
lost. Every executed notebook (and its HTML, widget state included) is checked for secrets: the
demo passwords, every Kafka key password and every token the run's user dir held while the
notebook ran, found by their shapes (:class:`SecretWatch`). A leak fails the run.

``python -m diaspora_notebook.fabric.demo login-info`` prints how a person logs in to the local
fabric in JupyterLab (``make lab``): the demo username and where its password is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from diaspora_notebook.fabric.errors import FabricError, FabricUsageError
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.home import FabricHome, random_secret, write_private

DEMO_USERS = ("demo", "demo-friend")
CELL_TIMEOUT = 300
DEMO_USERS_FILE = "demo-users.json"
#: the kernel variables that hold a password (for the leak check)
SECRET_VARIABLES = ("DIASPORA_LOGIN_PASSWORD", "DIASPORA_DEMO_FRIEND_PASSWORD")


class TutorialFailedError(FabricError):
    """A tutorial notebook raised an error in one of its cells."""


class SecretLeakError(TutorialFailedError):
    """An executed tutorial holds a password, a key or a token in its outputs."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    identity_id: str

    def __repr__(self) -> str:  # never show the password
        return f"DemoUser(username={self.username!r}, identity_id={self.identity_id!r})"


def demo_users_file(home: FabricHome) -> Path:
    return home.secrets_dir / DEMO_USERS_FILE


def demo_users(home: FabricHome) -> dict[str, DemoUser]:
    """The demo accounts, created in the identity provider the first time."""
    from diaspora_notebook.fabric.idp import admin

    path = demo_users_file(home)
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
        # 04-sharing-topics plays the second identity with a Client of its own
        "DIASPORA_DEMO_FRIEND_USERNAME": friend.username,
        "DIASPORA_DEMO_FRIEND_PASSWORD": friend.password,
    }


def login_info(fabric: Fabric) -> str:
    """How a person logs in to this fabric from JupyterLab (no password in the text)."""
    users = demo_users(fabric.home)
    path = demo_users_file(fabric.home)
    python = Path(sys.executable).name
    show = (f"{python} -c \"import json; print(json.load(open('{path}'))['demo']['password'])\"")
    return "\n".join([
        "Log in with the widget of %diaspora_login (open the link, log in, paste the code):",
        f"  username: {users['demo'].username}   (04-sharing-topics also uses "
        f"{users['demo-friend'].username})",
        f"  password: in {path} (readable by you only); to print it:",
        f"    {show}",
        "Or log every kernel in headless as the demo account (Run All just works):",
        "  eval \"$(.venv/bin/diaspora-fabric demo-env)\" && make lab",
    ])


# --- the leak check ---------------------------------------------------------------------------


def secrets_in_user_dir(user_dir: Path) -> set[str]:
    """Every key password and token of the local fabric in a file under ``user_dir``.

    The fabric issued them, so it knows their shapes (:func:`secret_shaped`); every file (the
    token store, its journal, the key cache, whatever the kernels wrote) is searched as plain
    bytes, so the check follows no on-disk layout of the toolkit's and misses no file.
    """
    found: set[str] = set()
    if not user_dir.is_dir():
        return found
    for path in user_dir.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_size <= _MAX_SCANNED_BYTES:
                text = path.read_bytes().decode("latin-1")
                found.update(_KEY_SHAPE.findall(text) + _TOKEN_SHAPE.findall(text))
    return found


@dataclass
class SecretWatch:
    """Collects the secrets a user dir holds while notebooks run (keys rotate, logout deletes).

    A background thread reads ``user_dir`` every ``interval`` seconds; :meth:`check` then looks
    for every secret seen so far (plus ``extra``) in a text.
    """

    user_dir: Path
    extra: Iterable[str] = ()
    interval: float = 0.1
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.seen |= {s for s in self.extra if s}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def collect(self) -> None:
        self.seen |= secrets_in_user_dir(self.user_dir)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.collect()

    def __enter__(self) -> SecretWatch:
        self.collect()
        self._thread = threading.Thread(target=self._run, name="secret-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.collect()

    def leaks(self, text: str) -> list[str]:
        """The secrets found in ``text``, each shortened to a hint (never the whole secret).

        Besides every secret seen, anything shaped like a key or token of the local fabric
        counts: a key created and deleted between two reads of the watch is still caught.
        """
        found = {s for s in self.seen if s in text} | set(secret_shaped(text))
        return sorted(f"{s[:3]}...({len(s)} chars)" for s in found)


# the local fabric's secrets: keys are 48 letters and digits (service/provisioning.py), tokens
# "AT."/"RT." + token_urlsafe(32) (idp/hashing.py)
_MAX_SCANNED_BYTES = 20_000_000
_KEY_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{48}(?![A-Za-z0-9])")
_TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_.-])(?:AT|RT)\.[A-Za-z0-9_-]{40,}")
# base64 images, widget-state buffers (a chart's arrays) and anywidget front-end code in the
# widget state (``_esm``/``_css``: the live grid's 6 MB of minified JavaScript), where long runs
# of letters and digits are no secret (the exact secrets are still searched for everywhere)
_IMAGES = re.compile(r'data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+|"image/[\w+.-]+": "[^"]*"'
                     r'|"_(?:esm|css)":\s*"[^"\\]*(?:\\.[^"\\]*)*"'
                     # (in HTML the JSON escapes "/" as "\/")
                     r'|"data":\s*"[A-Za-z0-9+/=\\]*"(?=,\s*"encoding":\s*"base64")'
                     r'|(?<="encoding":\s"base64",\s)"data":\s*"[A-Za-z0-9+/=\\]*"'
                     r'|(?<="encoding":"base64",)"data":"[A-Za-z0-9+/=\\]*"')


def secret_shaped(text: str) -> list[str]:
    """Strings in ``text`` (images left out) shaped like a local fabric's key or token."""
    text = _IMAGES.sub("", text)
    return _KEY_SHAPE.findall(text) + _TOKEN_SHAPE.findall(text)


# --- running the tutorials --------------------------------------------------------------------


def tutorial_paths(notebooks: Path, only: Sequence[str] | None = None) -> list[Path]:
    paths = sorted(notebooks.glob("[0-9][0-9]-*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) for o in only)]
    if not paths:
        raise FabricUsageError(f"no tutorial notebooks (NN-*.ipynb) in {notebooks}",
                                 hint="run from the repository root, or pass --notebooks DIR")
    return paths


def run_tutorials(
    notebooks: Path,
    out: Path,
    *,
    fabric: Fabric,
    user_dir: Path | None = None,
    only: list[str] | None = None,
    progress: Callable[[str], None] = print,
    timings: dict[str, float] | None = None,
    kernel_name: str = "python3",
) -> list[Path]:
    """Execute every ``NN-*.ipynb`` in order; write executed notebooks and HTML to ``out``.

    :param user_dir: the kernels' ``DIASPORA_USER_DIR`` (default ``out/.diaspora-user``)
    :param only: run only notebooks whose name starts with one of these
    :param timings: filled with seconds per notebook name
    :param kernel_name: the kernelspec; ``python3`` is the runner's own Python
    :raises TutorialFailedError: a cell failed (the partial notebook is written)
    :raises SecretLeakError: an executed notebook holds a password, key or token
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    paths = tutorial_paths(notebooks, only)
    out.mkdir(parents=True, exist_ok=True)
    user_dir = (user_dir or out / ".diaspora-user").resolve()
    env = kernel_environment(fabric, user_dir)
    kernel_env = {**os.environ, **env}
    written = []
    for index, path in enumerate(paths, 1):
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        cells = sum(1 for c in nb.cells if c.cell_type == "code")
        progress(f"[{index}/{len(paths)}] {path.name} ({cells} code cells) ...")
        started = time.monotonic()
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=kernel_name,
                                resources={"metadata": {"path": str(notebooks.resolve())}},
                                # quiet: the kernel's "running over TCP" warning, per notebook
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        failure: CellExecutionError | None = None
        with SecretWatch(user_dir, extra=[env[k] for k in SECRET_VARIABLES]) as watch:
            try:
                client.execute(env=kernel_env)
            except CellExecutionError as exc:
                failure = exc
        elapsed = time.monotonic() - started
        if timings is not None:
            timings[path.name] = elapsed
        target = out / path.name
        nbformat.write(nb, target)  # type: ignore[no-untyped-call]
        html, _ = HTMLExporter().from_notebook_node(nb)  # type: ignore[no-untyped-call]
        target.with_suffix(".html").write_text(html)
        written.append(target)
        if failure is not None:
            raise TutorialFailedError(
                f"{path.name} failed:\n{_short(str(failure))}",
                hint=f"the partial result is in {target}; fix the notebook or the fabric and "
                "run again",
            )
        leaked = watch.leaks(target.read_text()) + watch.leaks(html)
        if leaked:
            raise SecretLeakError(
                f"{path.name} shows secrets in its outputs: {', '.join(sorted(set(leaked)))}",
                hint=f"remove the output that prints them (see {target}); never print keys, "
                "tokens or passwords")
        progress(f"      done in {elapsed:.1f} s -> {target}")
    return written


def _short(text: str, lines: int = 25) -> str:
    rows = text.strip().splitlines()
    return "\n".join(rows[-lines:])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m diaspora_notebook.fabric.demo login-info [--home H]``."""
    parser = argparse.ArgumentParser(prog="python -m diaspora_notebook.fabric.demo")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("login-info", help="how to log in to the local fabric from JupyterLab")
    info.add_argument("--home", help="fabric home (default: $DIASPORA_FABRIC_HOME or "
                      "~/.diaspora/fabric)")
    args = parser.parse_args(argv)
    try:
        print(login_info(Fabric.at(args.home)))
    except FabricError as err:
        print(err.one_line(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
