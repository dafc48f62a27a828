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
from pathlib import Path
from typing import Any

from diaspora_notebook.fabric.broker.config import ADMIN_USER
from diaspora_notebook.fabric.home import FabricHome, read_json, write_private, write_public
from diaspora_notebook.fabric.launcher import ManagedProcess

START_TIMEOUT = 60.0
# The hosted Diaspora service's client id, which diaspora-event-sdk 0.5.1 hard-codes as the
# resource server of its scope: the local service registers under it so the SDK runs unchanged.
DIASPORA_SERVICE_CLIENT_ID = "2b9d2f5c-fa32-45b5-875b-b24cd343b917"
IAM_KEY_STORE = "iam-keys.json"  # in secrets/: the v3 keys the broker's IAM callback reads


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
    service_id, secret = admin.add_client(home.idp_dir, "diaspora-service", confidential=True,
                                          client_id=DIASPORA_SERVICE_CLIENT_ID)
    assert secret is not None
    scope = admin.register_scope(home.idp_dir, service_id, "action_all")
    write_private(home.service_client_file,
                  json.dumps({"client_id": service_id, "client_secret": secret}) + "\n")
    return Registration(native_id, service_id, scope)


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}/"


def user_limits_file(home: FabricHome) -> Path:
    """Per-user topic caps set with ``diaspora-fabric user limits`` (read by the service)."""
    return home.service_dir / "user-limits.json"


def write_service_config(home: FabricHome, reg: Registration, bootstrap: list[str],
                         idp_port: int, *, broker: dict[str, Any] | None = None) -> None:
    """Write the service config; ``broker`` adds what the brokers decide (the IAM listeners'
    ``iam_bootstrap_servers``, the topic limits' ``max_partitions_per_topic``)."""
    from diaspora_notebook.fabric.service import limits
    from diaspora_notebook.fabric.service.partition_budget import DEFAULT_MAX_PARTITIONS_PER_USER

    # per-user limits (Kafka user quotas at a user's first key, topics per user): written with
    # their defaults at the first `up`; an operator's edits of these keys survive later `up`s
    path = home.service_dir / "config.json"
    previous = read_json(path) if path.exists() else {}
    defaults = {"producer_byte_rate": limits.DEFAULT_PRODUCER_BYTE_RATE,
                "consumer_byte_rate": limits.DEFAULT_CONSUMER_BYTE_RATE,
                "request_percentage": limits.DEFAULT_REQUEST_PERCENTAGE,
                "controller_mutation_rate": limits.DEFAULT_CONTROLLER_MUTATION_RATE,
                "max_topics_per_user": limits.DEFAULT_MAX_TOPICS_PER_USER,
                "max_partitions_per_user": DEFAULT_MAX_PARTITIONS_PER_USER}
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
        "iam_key_store": str(home.secrets_dir / IAM_KEY_STORE),
        **{key: previous.get(key, value) for key, value in defaults.items()},
        "user_limits_file": str(user_limits_file(home)),
        **(broker or {}),
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
