"""The fabric's two HTTP servers: the identity provider and the Diaspora web service.

Both run as detached ``python -m`` processes on 127.0.0.1, are ready when ``GET /healthz``
answers 200, and are registered with each other at the first ``up``: the toolkit gets a native
(public) client, the service a confidential client that is also the resource server whose
scope users consent to. The service's client secret lives in ``secrets/service-client.json``.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from dataclasses import dataclass
from typing import Any

from diaspora_notebook.fabric.broker.config import ADMIN_USER
from diaspora_notebook.fabric.home import FabricHome, read_json, write_private, write_public
from diaspora_notebook.fabric.launcher import ManagedProcess

START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Registration:
    """The ids the first ``up`` created in the identity provider (kept in state.json)."""

    native_client_id: str
    service_client_id: str
    service_scope: str

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> Registration | None:
        try:
            return cls(extra["native_client_id"], extra["service_client_id"],
                       extra["service_scope"])
        except KeyError:
            return None


def register_clients(home: FabricHome) -> Registration:
    """Create the toolkit's native client and the service's confidential client + scope."""
    from diaspora_notebook.fabric.idp import admin

    native_id, _ = admin.add_client(home.idp_dir, "diaspora-notebook", confidential=False)
    service_id, secret = admin.add_client(home.idp_dir, "diaspora-service", confidential=True)
    assert secret is not None
    scope = admin.register_scope(home.idp_dir, service_id, "action_all")
    write_private(home.service_client_file,
                  json.dumps({"client_id": service_id, "client_secret": secret}) + "\n")
    return Registration(native_id, service_id, scope)


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}/"


def write_service_config(home: FabricHome, reg: Registration, bootstrap: list[str],
                         idp_port: int) -> None:
    config = {
        "bootstrap_servers": bootstrap,
        "admin_username": ADMIN_USER,
        "admin_password_file": str(home.admin_password_file),
        "ca_file": str(home.ca_cert),
        "auth_url": url(idp_port),
        "client_id": reg.service_client_id,
        "client_secret_file": str(home.service_client_file),
        "resource_server": reg.service_client_id,
        "required_scope": reg.service_scope,
    }
    write_public(home.service_dir / "config.json", json.dumps(config, indent=2) + "\n")


def _python_server(home: FabricHome, name: str, module: str, port: int,
                   *args: str) -> ManagedProcess:
    """A ``python -m module`` server of this fabric, bound to 127.0.0.1:port."""
    return ManagedProcess(
        name=name,
        run_dir=home.run_dir,
        tag=str(home.root),
        argv=[sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), *args],
    )


def idp_process(home: FabricHome, port: int) -> ManagedProcess:
    return _python_server(home, "idp", "diaspora_notebook.fabric.idp", port,
                          "--state-dir", str(home.idp_dir), "--issuer", url(port))


def service_process(home: FabricHome, port: int) -> ManagedProcess:
    return _python_server(home, "service", "diaspora_notebook.fabric.service", port,
                          "--config", str(home.service_dir / "config.json"))


def healthy(port: int) -> bool:
    """True when the server on ``port`` answers ``GET /healthz`` with 200."""
    request = urllib.request.Request(f"{url(port)}healthz")  # noqa: S310 - always our loopback URL
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def service_config(home: FabricHome) -> dict[str, Any]:
    return read_json(home.service_dir / "config.json")
