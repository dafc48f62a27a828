"""Environments as data: TOML parsing, fabric.json, resolution order, globus-sdk registration."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest
from globus_sdk.config import get_service_url

from diaspora_notebook import environments as envs
from diaspora_notebook.client import Client
from diaspora_notebook.errors import (
    DiasporaUsageError,
    EnvironmentConfigError,
    EnvironmentNotFoundError,
)

RS = "b51fdd4b-9c18-4bde-9a31-20b540994ab7"
SCOPE = f"https://auth.globus.org/scopes/{RS}/action_all"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("DIASPORA_ENVIRONMENT", "DIASPORA_ENVIRONMENTS_FILE", "DIASPORA_FABRIC_HOME",
                 "DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET",
                 "DIASPORA_LOGIN_USERNAME", "DIASPORA_LOGIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIASPORA_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("DIASPORA_FABRIC_HOME", str(tmp_path / "no-fabric"))


class _Health(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/healthz"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}' if ok else b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def write_fabric_json(home: Path, service_url: str, *, with_auth: bool = True) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "tls").mkdir(exist_ok=True)
    (home / "tls" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    doc = {"version": 1, "home": str(home),
           "kafka": {"version": "4.3.1", "bootstrap_servers": ["127.0.0.1:9093"],
                     "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                     "ca_file": str(home / "tls" / "ca.pem")}}
    if with_auth:
        doc["auth"] = {"url": "http://127.0.0.1:1/", "native_client_id": "nc-1"}
        doc["service"] = {"url": service_url, "resource_server": RS, "scope": SCOPE}
    (home / "fabric.json").write_text(json.dumps(doc))
    return home


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


PROD = f"""
[environments.prod]
auth_url = "https://auth.globus.org"
native_client_id = "nc-prod"
service_url = "https://diaspora.example.org/"
scope = "{SCOPE}"
bootstrap_servers = ["b-1.example.com:9096", "b-2.example.com:9096"]
ca_file = "system"
"""


def test_shipped_example_parses_as_msk_on_globus_auth():
    text = resources.files("diaspora_notebook").joinpath("environments.example.toml").read_text()
    path = Path(__file__).parent / "_example.toml"
    try:
        path.write_text(text)
        found = envs.load_environments_file(path)
    finally:
        path.unlink()
    prod = found["production"]
    assert prod.auth_url == "https://auth.globus.org/"
    assert prod.security_protocol == "SASL_SSL" and prod.sasl_mechanism == "SCRAM-SHA-512"
    assert all(s.endswith(":9096") for s in prod.bootstrap_servers)
    assert prod.ca_file is None  # system trust
    assert prod.resource_server == "11111111-1111-1111-1111-111111111111"


def test_toml_fields_and_trailing_slashes(tmp_path):
    prod = envs.load_environments_file(write_toml(tmp_path / "e.toml", PROD))["prod"]
    assert prod.auth_url == "https://auth.globus.org/"  # "/" added (pitfall 1)
    assert prod.service_url == "https://diaspora.example.org/"
    assert prod.bootstrap_servers == ("b-1.example.com:9096", "b-2.example.com:9096")
    assert prod.resource_server == RS
    assert prod.ca_file is None


def test_toml_relative_ca_file_and_missing_ca(tmp_path):
    (tmp_path / "ca.pem").write_text("pem")
    text = PROD.replace('ca_file = "system"', 'ca_file = "ca.pem"')
    prod = envs.load_environments_file(write_toml(tmp_path / "e.toml", text))["prod"]
    assert prod.ca_file == tmp_path / "ca.pem"
    text = PROD.replace('ca_file = "system"', 'ca_file = "missing.pem"')
    with pytest.raises(EnvironmentConfigError, match=r"missing\.pem"):
        envs.load_environments_file(write_toml(tmp_path / "e.toml", text))


@pytest.mark.parametrize(("old", "new", "match"), [
    ('native_client_id = "nc-prod"\n', "", "native_client_id"),
    ('["b-1.example.com:9096", "b-2.example.com:9096"]', '["nohost"]', "host:port"),
    ('ca_file = "system"', 'security_protocol = "PLAINTEXT"', "SASL_SSL"),
    (f'scope = "{SCOPE}"', 'scope = "urn:other"', "resource_server"),
    ("[environments.prod]", "[environments.local]", "reserved"),
])
def test_toml_errors_name_the_problem(tmp_path, old, new, match):
    path = write_toml(tmp_path / "e.toml", PROD.replace(old, new))
    with pytest.raises(EnvironmentConfigError, match=match) as info:
        envs.load_environments_file(path)
    assert isinstance(info.value, DiasporaUsageError)


def test_bad_toml_syntax_is_an_error_with_the_path(tmp_path):
    path = write_toml(tmp_path / "e.toml", "[environments.prod\n")
    with pytest.raises(EnvironmentConfigError, match=str(path)):
        envs.load_environments_file(path)


def test_missing_file_means_no_environments(tmp_path):
    assert envs.load_environments_file(tmp_path / "absent.toml") == {}


def test_local_from_fabric_json(tmp_path):
    home = write_fabric_json(tmp_path / "fab", "http://127.0.0.1:2")
    local = envs.load_local(home)
    assert local.name == "local"
    assert local.service_url == "http://127.0.0.1:2/"
    assert local.native_client_id == "nc-1"
    assert local.ca_file == home / "tls" / "ca.pem"
    assert local.scope == SCOPE and local.resource_server == RS


def test_local_without_auth_section_says_restart(tmp_path):
    home = write_fabric_json(tmp_path / "fab", "http://x/", with_auth=False)
    with pytest.raises(EnvironmentConfigError, match="identity provider"):
        envs.load_local(home)


def test_resolution_argument_beats_variable(monkeypatch, tmp_path):
    path = write_toml(tmp_path / "e.toml", PROD + PROD.replace("prod]", "other]"))
    monkeypatch.setenv("DIASPORA_ENVIRONMENTS_FILE", str(path))
    monkeypatch.setenv("DIASPORA_ENVIRONMENT", "other")
    assert envs.resolve_environment("prod").name == "prod"
    assert envs.resolve_environment().name == "other"


def test_resolution_variable_beats_running_local(monkeypatch, tmp_path, health_server):
    home = write_fabric_json(tmp_path / "fab", health_server)
    monkeypatch.setenv("DIASPORA_FABRIC_HOME", str(home))
    path = write_toml(tmp_path / "e.toml", PROD)
    monkeypatch.setenv("DIASPORA_ENVIRONMENTS_FILE", str(path))
    monkeypatch.setenv("DIASPORA_ENVIRONMENT", "prod")
    assert envs.resolve_environment().name == "prod"
    monkeypatch.delenv("DIASPORA_ENVIRONMENT")
    assert envs.resolve_environment().name == "local"


def test_resolution_skips_a_local_fabric_that_does_not_answer(monkeypatch, tmp_path):
    home = write_fabric_json(tmp_path / "fab", "http://127.0.0.1:1/")  # nothing listens
    monkeypatch.setenv("DIASPORA_FABRIC_HOME", str(home))
    path = write_toml(tmp_path / "e.toml", PROD)
    monkeypatch.setenv("DIASPORA_ENVIRONMENTS_FILE", str(path))
    with pytest.raises(EnvironmentNotFoundError) as info:
        envs.resolve_environment()
    text = f"{info.value.message} {info.value.hint}"
    assert "does not answer" in text
    assert "diaspora-fabric up" in text and "DIASPORA_ENVIRONMENT" in text and "prod" in text


def test_resolution_error_without_any_fabric(tmp_path):
    with pytest.raises(EnvironmentNotFoundError, match=r"no usable fabric\.json"):
        envs.resolve_environment()


def test_unknown_name_lists_the_known_ones(monkeypatch, tmp_path):
    monkeypatch.setenv("DIASPORA_ENVIRONMENTS_FILE", str(write_toml(tmp_path / "e.toml", PROD)))
    with pytest.raises(EnvironmentNotFoundError, match="local, prod"):
        envs.resolve_environment("staging")


def test_local_by_name_without_fabric_says_how_to_start(tmp_path):
    with pytest.raises(EnvironmentNotFoundError) as info:
        envs.resolve_environment("local")
    assert "diaspora-fabric up" in info.value.hint


def test_registered_with_globus_sdk(tmp_path):
    prod = envs.load_environments_file(write_toml(tmp_path / "e.toml", PROD))["prod"]
    name = prod.register()
    assert name.startswith("diaspora-prod-")
    assert get_service_url("auth", name) == "https://auth.globus.org/"
    assert get_service_url("diaspora", name) == "https://diaspora.example.org/"
    # a second environment of the same name with other endpoints does not clobber the first
    other = envs.environment_from_mapping("prod", {
        "auth_url": "http://127.0.0.1:5/", "native_client_id": "x", "service_url":
        "http://127.0.0.1:6/", "scope": SCOPE, "bootstrap_servers": "h:1"}, source="test")
    assert other.register() != name
    assert get_service_url("diaspora", name) == "https://diaspora.example.org/"


def test_client_repr_shows_environment_identity_and_endpoints(tmp_path):
    prod = envs.load_environments_file(write_toml(tmp_path / "e.toml", PROD))["prod"]
    text = repr(Client(prod))
    for part in ("environment='prod'", "identity='not logged in'",
                 "https://auth.globus.org/", "https://diaspora.example.org/",
                 "b-1.example.com:9096"):
        assert part in text
