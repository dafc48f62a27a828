"""The fabric home: where every file of the local fabric lives, and how secrets are written.

Layout (``FabricHome.root`` defaults to ``~/.diaspora/fabric``, or ``DIASPORA_FABRIC_HOME``)::

    fabric.json            endpoints for clients; never a secret
    state.json             ports, cluster id, node count: chosen at the first ``up``, then kept
    tls/ca.pem             the fabric CA certificate (not secret)
    tls/ca.key             CA private key
    tls/server.pem         broker key + certificate chain
    secrets/               admin.password, controller.password, service-client.json
    broker/n<id>/          server.properties, data/, logs/
    idp/                   identity provider SQLite state and signing key
    service/               web service config (paths to secrets, not secrets)
    run/                   <name>.pid and <name>.log of each detached process

Everything in a home is owner-only (directories 0700, files 0600), secret or not: the broker's
segment files hold every user's events in plain text, ``__cluster_metadata`` holds SCRAM hashes
and ACLs, and logs name identities, so on a shared login node a single readable directory would
hand another local account all of them. Files are created with explicit modes, the fabric's
processes run with umask 077 (``PRIVATE_UMASK``), and ``up`` repairs an older home
(:func:`repair_modes`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import string
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diaspora_notebook.fabric.errors import FabricHomeError

FABRIC_JSON_VERSION = 1
PRIVATE_UMASK = 0o077
_ALPHANUMERIC = string.ascii_letters + string.digits


def default_home() -> Path:
    """``DIASPORA_FABRIC_HOME`` if set, else ``~/.diaspora/fabric``."""
    env = os.environ.get("DIASPORA_FABRIC_HOME")
    return Path(env).expanduser() if env else Path.home() / ".diaspora" / "fabric"


def random_secret(length: int = 40) -> str:
    """An alphanumeric secret: safe inside Kafka's ``--add-scram`` and JAAS syntax."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write via a temp file in the same directory, chmod before any byte, then rename."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_private(path: Path, data: str | bytes) -> None:
    """Atomically write ``data`` to ``path`` as 0600: never readable by others, even briefly."""
    _write_atomically(path, data.encode() if isinstance(data, str) else data, 0o600)


def write_public(path: Path, data: str) -> None:
    """Atomically write a file that holds no secret; still 0600, as everything in a home."""
    _write_atomically(path, data.encode(), 0o600)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Run the block with umask 077, so files that libraries create (SQLite) are owner-only.

    The umask is per process: the previous one is restored on the way out.
    """
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700; an existing one is made 0700 too."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def repair_modes(root: Path) -> list[Path]:
    """Remove every group/other permission bit under ``root`` (included); return what changed.

    Symbolic links are never followed or changed: one could point outside the home.
    """
    repaired: list[Path] = []

    def fix(path: Path) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return  # a running process removed it meanwhile
        if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
            return
        os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
        repaired.append(path)

    if not root.is_dir():
        return repaired
    fix(root)
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            fix(Path(directory) / name)
    return repaired


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_usable(root: Path) -> None:
    """Refuse, in one line, a home that belongs to another Unix user or cannot be created.

    Nothing is changed. A fabric's files must all belong to the account that runs it (they are
    owner-only, and its processes run as that account), so another account's home is never
    "repaired" or written into, not even by root.
    """
    me = os.geteuid()
    try:
        st = root.stat()
    except FileNotFoundError:
        parent = next((p for p in root.parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            raise FabricHomeError(
                f"cannot create the fabric home {root}: {parent} belongs to "
                f"{_user_name(parent.stat().st_uid)} and is not writable by you "
                f"({_user_name(me)})",
                hint="choose a home of your own with --home (or DIASPORA_FABRIC_HOME), e.g. "
                "~/.diaspora/fabric") from None
        return
    except PermissionError:
        raise FabricHomeError(
            f"cannot read the fabric home {root}: permission denied (you are {_user_name(me)})",
            hint="choose a home of your own with --home (or DIASPORA_FABRIC_HOME), e.g. "
            "~/.diaspora/fabric") from None
    if st.st_uid != me:
        owner = _user_name(st.st_uid)
        raise FabricHomeError(
            f"the fabric home {root} belongs to the Unix user {owner}, not to you "
            f"({_user_name(me)})",
            hint=f"use a home of your own with --home (or DIASPORA_FABRIC_HOME), e.g. "
            f"~/.diaspora/fabric; or ask {owner} to run that fabric (`diaspora-fabric up` as "
            f"{owner}); nothing was changed")


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object, turning a corrupt file into an error that names it and the fix."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FabricHomeError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})",
            hint=f"restore it from a backup, or move the fabric home aside and run "
            f"`diaspora-fabric up --home {path.parent}` again to create a fresh one",
        ) from exc
    if not isinstance(data, dict):
        raise FabricHomeError(f"{path} does not hold a JSON object", hint="see the fabric docs")
    return data


@dataclass(frozen=True)
class FabricHome:
    """Paths inside one fabric home. Creating the object touches nothing on disk."""

    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike[str] | None = None) -> FabricHome:
        return cls(Path(root).expanduser().resolve() if root else default_home().resolve())

    @property
    def fabric_json(self) -> Path:
        return self.root / "fabric.json"

    @property
    def state_json(self) -> Path:
        return self.root / "state.json"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.tls_dir / "ca.key"

    @property
    def server_pem(self) -> Path:
        return self.tls_dir / "server.pem"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def admin_password_file(self) -> Path:
        return self.secrets_dir / "admin.password"

    @property
    def controller_password_file(self) -> Path:
        return self.secrets_dir / "controller.password"

    @property
    def service_client_file(self) -> Path:
        return self.secrets_dir / "service-client.json"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    def node_dir(self, node_id: int) -> Path:
        return self.broker_dir / f"n{node_id}"

    @property
    def idp_dir(self) -> Path:
        return self.root / "idp"

    @property
    def service_dir(self) -> Path:
        return self.root / "service"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    def ensure_dirs(self) -> None:
        """Create the directory skeleton, every directory 0700 (see the module docstring)."""
        for directory in (self.root, self.tls_dir, self.secrets_dir, self.broker_dir,
                          self.idp_dir, self.service_dir, self.run_dir):
            make_private_dir(directory)

    def admin_password(self) -> str:
        try:
            return self.admin_password_file.read_text().strip()
        except FileNotFoundError as exc:
            raise FabricHomeError(
                f"the admin password file {self.admin_password_file} is missing",
                hint="this home was never brought up, or was damaged; run `diaspora-fabric up`",
            ) from exc
