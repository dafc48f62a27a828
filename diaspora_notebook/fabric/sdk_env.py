"""What diaspora-event-sdk 0.5.1 needs to run against this fabric (``diaspora-fabric sdk-env``).

The SDK's ``local`` environment calls the web service at ``http://localhost:8000`` (fixed in
the SDK), Auth wherever ``GLOBUS_SDK_SERVICE_URL_AUTH`` says, logs in with client credentials
when ``DIASPORA_SDK_CLIENT_ID`` / ``_SECRET`` are set (its identity, and so its namespace, is
the client's id), and its Kafka clients trust the CA in ``SSL_CERT_FILE``. The confidential
client is created once per home and its secret kept in ``secrets/sdk-client.json`` (0600).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from diaspora_notebook.fabric.errors import FabricHomeError
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.home import read_json, write_private

SDK_SERVICE_PORT = 8000  # diaspora_event_sdk/sdk/_environments.py: local = http://localhost:8000
SDK_CLIENT_FILE = "sdk-client.json"
SDK_CLIENT_NAME = "diaspora-event-sdk"


def sdk_client(fabric: Fabric, *, new: bool = False) -> tuple[str, str]:
    """``(client_id, secret)`` of the home's SDK client, created (again) when missing."""
    from diaspora_notebook.fabric.idp import admin

    path = fabric.home.secrets_dir / SDK_CLIENT_FILE
    if not new and path.exists():
        saved = read_json(path)
        known = {c["client_id"] for c in admin.list_clients(fabric.home.idp_dir)}
        if saved.get("client_id") in known and saved.get("client_secret"):
            return str(saved["client_id"]), str(saved["client_secret"])
    client_id, secret = admin.add_client(fabric.home.idp_dir, SDK_CLIENT_NAME, confidential=True)
    assert secret is not None
    write_private(path, json.dumps({"client_id": client_id, "client_secret": secret}) + "\n")
    return client_id, secret


def sdk_environment(fabric: Fabric, *, new_client: bool = False, user_dir: Path | None = None,
                    warn: Callable[[str], None] = lambda _m: None) -> dict[str, str]:
    """The environment variables of an SDK 0.5.1 process using this fabric."""
    state = fabric.state()
    if state is None or not fabric.home.fabric_json.exists():
        raise FabricHomeError(f"no fabric has been started in {fabric.home.root}",
                              hint=f"run `diaspora-fabric up --home {fabric.home.root} "
                                   f"--service-port {SDK_SERVICE_PORT}`")
    doc = fabric.describe()
    if state.service_port != SDK_SERVICE_PORT:
        warn(f"warning: the SDK's local environment calls http://localhost:{SDK_SERVICE_PORT}, "
             f"but this fabric's web service is on port {state.service_port}; run "
             f"`diaspora-fabric down` and `diaspora-fabric up --service-port "
             f"{SDK_SERVICE_PORT}` (it fails, naming the port, if another program holds "
             f"{SDK_SERVICE_PORT})")
    client_id, secret = sdk_client(fabric, new=new_client)
    env = {
        "DIASPORA_SDK_ENVIRONMENT": "local",
        "GLOBUS_SDK_SERVICE_URL_AUTH": str(doc["auth"]["url"]),
        "DIASPORA_SDK_CLIENT_ID": client_id,
        "DIASPORA_SDK_CLIENT_SECRET": secret,
        "SSL_CERT_FILE": str(fabric.home.ca_cert),
    }
    if user_dir is not None:
        env["DIASPORA_USER_DIR"] = str(user_dir)
    return env
