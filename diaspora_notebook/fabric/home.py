"""The fabric home: where every file of the local fabric lives, and how secrets are written.

Layout (``FabricHome.root`` defaults to ``~/.diaspora/fabric``, or ``DIASPORA_FABRIC_HOME``)::

    fabric.json            endpoints for clients; never a secret
    state.json             ports, cluster id, node count: chosen at the first ``up``, then kept
    tls/ca.pem             the fabric CA certificate (public)
    tls/ca.key             CA private key (0600)
    tls/server.pem         broker key + certificate chain (0600)
    secrets/               0700; admin.password, controller.password, service-client.json (0600)
    broker/n<id>/          server.properties, data/, logs/
    idp/                   identity provider SQLite state and signing key
    service/               web service config (paths to secrets, not secrets)
    run/                   <name>.pid and <name>.log of each detached process
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diaspora_notebook.errors import FabricHomeError

FABRIC_JSON_VERSION = 1
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
    path.parent.mkdir(parents=True, exist_ok=True)
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
    """Atomically write a non-secret file (0644)."""
    _write_atomically(path, data.encode(), 0o644)


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
        """Create the directory skeleton with private permissions where secrets live."""
        self.root.mkdir(parents=True, exist_ok=True)
        for directory in (self.tls_dir, self.broker_dir, self.idp_dir, self.service_dir,
                          self.run_dir):
            directory.mkdir(exist_ok=True)
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.secrets_dir, 0o700)
        os.chmod(self.idp_dir, 0o700)

    def admin_password(self) -> str:
        try:
            return self.admin_password_file.read_text().strip()
        except FileNotFoundError as exc:
            raise FabricHomeError(
                f"the admin password file {self.admin_password_file} is missing",
                hint="this home was never brought up, or was damaged; run `diaspora-fabric up`",
            ) from exc
