"""Toolkit settings, login selection, error mapping and the kafka-python-free import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import globus_sdk
import pytest
import requests

from diaspora_notebook import config
from diaspora_notebook.environments import environment_from_mapping
from diaspora_notebook.errors import (
    AccessDeniedError,
    CredentialsConfigError,
    DiasporaAPIError,
    DiasporaError,
    DiasporaUsageError,
    InvalidTopicNameError,
    NotLoggedInError,
    ServiceUnavailableError,
    TopicOwnedByAnotherError,
)
from diaspora_notebook.kafka.clients import NewTopic
from diaspora_notebook.login import AuthSession
from diaspora_notebook.web import WebClient, to_diaspora_error

RS = "b51fdd4b-9c18-4bde-9a31-20b540994ab7"
SCOPE = f"https://auth.globus.org/scopes/{RS}/action_all"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET",
                 "DIASPORA_LOGIN_USERNAME", "DIASPORA_LOGIN_PASSWORD", "DIASPORA_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIASPORA_USER_DIR", str(tmp_path / "user"))


def env():
    return environment_from_mapping("unit", {
        "auth_url": "http://127.0.0.1:1/", "native_client_id": "nc-1",
        "service_url": "http://127.0.0.1:2/", "scope": SCOPE,
        "bootstrap_servers": ["127.0.0.1:3"]}, source="test")


@pytest.mark.parametrize(("present", "missing"), [
    ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET"),
    ("DIASPORA_SDK_CLIENT_SECRET", "DIASPORA_SDK_CLIENT_ID"),
])
def test_client_credentials_half_set_is_a_clear_error(monkeypatch, present, missing):
    monkeypatch.setenv(present, "value")
    with pytest.raises(CredentialsConfigError) as info:
        AuthSession(env())
    assert missing in info.value.message and present in info.value.hint


def test_login_credentials_half_set_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DIASPORA_LOGIN_USERNAME", "alice")
    with pytest.raises(CredentialsConfigError, match="DIASPORA_LOGIN_PASSWORD"):
        config.current()


def test_client_credentials_select_a_client_app(monkeypatch):
    monkeypatch.setenv("DIASPORA_SDK_CLIENT_ID", "cid")
    monkeypatch.setenv("DIASPORA_SDK_CLIENT_SECRET", "secret")
    session = AuthSession(env())
    assert session.kind == "client"
    assert isinstance(session.app, globus_sdk.ClientApp)
    assert session.identity_if_known() == "cid"


def test_login_variables_select_the_programmatic_flow(monkeypatch):
    monkeypatch.setenv("DIASPORA_LOGIN_USERNAME", "alice")
    monkeypatch.setenv("DIASPORA_LOGIN_PASSWORD", "pw-123456")
    session = AuthSession(env())
    assert session.kind == "programmatic"
    app = session.app
    assert isinstance(app, globus_sdk.UserApp)
    assert app.config.request_refresh_tokens is True
    assert isinstance(app.token_storage.token_storage, globus_sdk.token_storage.SQLiteTokenStorage)


def test_default_is_the_interactive_notebook_flow():
    session = AuthSession(env())
    assert session.kind == "interactive"
    assert session.app.config.environment == env().globus_environment


def test_config_snapshot(monkeypatch, tmp_path):
    monkeypatch.setenv("DIASPORA_FABRIC_HOME", str(tmp_path / "fab"))
    monkeypatch.setenv("DIASPORA_LOGIN_LINK", " Proxy ")
    monkeypatch.setenv("DIASPORA_WIDGETS", "off")
    monkeypatch.setenv("DIASPORA_KAFKA_TIMEOUT", "12.5")
    monkeypatch.setenv("DIASPORA_LOGIN_USERNAME", "alice")
    monkeypatch.setenv("DIASPORA_LOGIN_PASSWORD", "pw-secret-123")
    snap = config.DiasporaConfig.from_env()
    assert snap.user_dir == tmp_path / "user"
    assert snap.fabric_home == tmp_path / "fab"
    assert snap.environments_file == tmp_path / "user" / "environments.toml"
    assert (snap.login_link, snap.widgets, snap.kafka_timeout) == ("proxy", False, 12.5)
    assert snap.login_credentials == ("alice", "pw-secret-123")
    assert "pw-secret-123" not in repr(snap)  # a snapshot may be printed; never the password
    with pytest.raises(AttributeError):
        snap.login_link = "direct"  # frozen


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("DIASPORA_LOGIN_LINK", "sometimes", "auto, proxy, direct"),
    ("DIASPORA_WIDGETS", "maybe", "1, true"),
    ("DIASPORA_PEEK_TIMEOUT", "-3", "number of seconds"),
    ("DIASPORA_KAFKA_TIMEOUT", "soon", "number of seconds"),
])
def test_a_malformed_variable_is_an_error_naming_it_and_the_allowed_values(
        monkeypatch, name, value, allowed):
    monkeypatch.setenv(name, value)
    with pytest.raises(DiasporaUsageError) as info:
        config.DiasporaConfig.from_env()
    assert name in info.value.message and repr(value) in info.value.message
    assert allowed in info.value.hint


def test_notebook_settings_read_their_defaults_from_the_config(monkeypatch):
    from diaspora_notebook.notebook.configurable import Diaspora

    monkeypatch.setenv("DIASPORA_LOGIN_LINK", "direct")
    monkeypatch.setenv("DIASPORA_PROXY_BASE_URL", "/user/ann/")
    settings = Diaspora()
    assert (settings.login_link, settings.proxy_base_url) == ("direct", "/user/ann/")
    monkeypatch.setenv("DIASPORA_LOGIN_LINK", "bogus")
    with pytest.raises(DiasporaUsageError, match="DIASPORA_LOGIN_LINK"):
        Diaspora().login_link  # noqa: B018 - reading the trait computes its default


def test_web_client_uses_the_environment_and_dynamic_scope():
    e = env()
    web = WebClient(resource_server=e.resource_server, scope=e.scope, environment=e.register())
    assert web.base_url == "http://127.0.0.1:2/"
    assert web.resource_server == RS
    assert [str(s) for s in web.default_scope_requirements] == [SCOPE]


def _api_error(status, body):
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    response.request = requests.Request("POST", "http://127.0.0.1:2/v1/x").prepare()
    response.url = response.request.url
    return globus_sdk.GlobusAPIError(response)


@pytest.mark.parametrize(("status", "code", "cls"), [
    (403, "topic_owned_by_another", TopicOwnedByAnotherError),
    (403, "missing_scope", AccessDeniedError),
    (400, "invalid_topic_name", InvalidTopicNameError),
    (503, "kafka_unavailable", ServiceUnavailableError),
    (409, "registration_conflict", DiasporaAPIError),
    (401, "invalid_token", NotLoggedInError),
])
def test_service_errors_become_typed_errors(status, code, cls):
    body = {"status": "error", "code": code, "message": "the message", "hint": "the hint"}
    err = to_diaspora_error(_api_error(status, body), "do it")
    assert type(err) is cls
    assert isinstance(err, DiasporaError)
    if isinstance(err, DiasporaAPIError):
        assert (err.http_status, err.code) == (status, code)
        assert err.hint == "the hint" and "the message" in err.message


def test_network_error_is_service_unavailable():
    exc = globus_sdk.GlobusConnectionError("refused", requests.ConnectionError("x"))
    err = to_diaspora_error(exc, "list topics")
    assert isinstance(err, ServiceUnavailableError) and err.hint


def test_new_topic_has_the_seed_signature():
    topic = NewTopic(name="t", num_partitions=1, replication_factor=1)
    assert topic.as_options()["num_partitions"] == 1
    assert "t" in repr(topic)


def test_import_works_without_kafka_python(tmp_path):
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "kafka" or name.startswith("kafka."):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import diaspora_notebook
        from diaspora_notebook import Client, KafkaProducer, NewTopic, DiasporaError
        NewTopic(name="t", num_partitions=1, replication_factor=1)
        try:
            KafkaProducer()
        except DiasporaError as exc:
            print(type(exc).__name__, "|", exc.hint)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.startswith("KafkaClientMissingError")
    assert "pip install 'diaspora-notebook[kafka-python]'" in out


def test_toolkit_never_imports_the_fabric():
    code = ("import sys, diaspora_notebook as d\n"
            "from diaspora_notebook import client, kafka, login, web, environments\n"
            "print([m for m in sys.modules if m.startswith('diaspora_notebook.fabric')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_begin_login_builds_a_pkce_url_without_network():
    from diaspora_notebook.client import Client

    with Client(env()) as client:
        url = client.begin_login()
    assert url.startswith("http://127.0.0.1:1/v2/oauth2/authorize?")
    assert "code_challenge_method=S256" in url and "access_type=offline" in url
    assert "action_all" in url  # the service scope is requested from the start


def test_finish_login_before_begin_login_says_what_to_do():
    from diaspora_notebook.client import Client

    with Client(env()) as client, pytest.raises(DiasporaUsageError) as info:
        client.finish_login("some-code")
    assert "begin_login()" in info.value.hint


def test_closing_a_client_releases_its_sessions_and_the_default_slot(monkeypatch):
    from diaspora_notebook import client as client_module

    monkeypatch.setattr(client_module, "resolve_environment", lambda *a, **k: env())
    first = client_module.default_client()
    first.begin_login()  # opens the web client's HTTP session
    web = first._web
    assert web is not None
    closed = []
    monkeypatch.setattr(web, "close", lambda: closed.append(True))
    with first:
        pass
    assert closed == [True] and first._web is None
    assert client_module.default_client() is not first  # a closed default is replaced
    client_module.set_default_client(None)


def test_one_settings_object_rebuilt_only_when_a_variable_changes(monkeypatch, tmp_path):
    from diaspora_notebook.notebook.configurable import Diaspora

    first = config.current()
    assert config.current() is first  # nothing changed: the same object
    monkeypatch.setenv("DIASPORA_PEEK_TIMEOUT", "4")
    monkeypatch.setenv("DIASPORA_WIDGETS", "0")
    second = config.current()
    assert second is not first and second.peek_timeout == 4.0
    settings = Diaspora()  # the traits' defaults are read from the same object
    assert (settings.peek_timeout, settings.widget) == (second.peek_timeout, False)
    assert settings.kafka_timeout == second.kafka_timeout == 30.0


def _environments_file(tmp_path):
    file = tmp_path / "environments.toml"
    file.write_text(textwrap.dedent(f"""
        [environments.unit]
        auth_url = "http://127.0.0.1:1/"
        native_client_id = "nc-1"
        service_url = "http://127.0.0.1:2/"
        scope = "{SCOPE}"
        bootstrap_servers = ["127.0.0.1:3"]
        """))
    return file


def test_the_settings_own_one_client_per_environment_and_close_them(monkeypatch, tmp_path):
    from diaspora_notebook.client import Client
    from diaspora_notebook.notebook.configurable import Diaspora

    monkeypatch.setenv("DIASPORA_ENVIRONMENTS_FILE", str(_environments_file(tmp_path)))
    settings = Diaspora()
    client = settings.client("unit")
    assert client is settings.client("unit")  # one per environment, not one per magic
    closed = []
    monkeypatch.setattr(Client, "close", lambda self: closed.append(self))
    settings.close()
    assert closed == [client]
    assert settings.client("unit") is not client  # a new one after close


def test_unloading_the_extension_closes_the_clients_it_made(monkeypatch, tmp_path):
    from IPython.core.interactiveshell import InteractiveShell

    from diaspora_notebook.client import Client
    from diaspora_notebook.notebook import settings

    monkeypatch.setenv("DIASPORA_ENVIRONMENTS_FILE", str(_environments_file(tmp_path)))
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "diaspora_notebook")
    try:
        client = settings(shell).client("unit")
    finally:
        closed = []
        monkeypatch.setattr(Client, "close", lambda self: closed.append(self))
        shell.run_line_magic("unload_ext", "diaspora_notebook")
    assert closed == [client]


def test_the_default_client_is_replaced_and_closed_when_its_settings_change(monkeypatch,
                                                                            tmp_path):
    from diaspora_notebook import client as client_module

    monkeypatch.setattr(client_module, "resolve_environment", lambda *a, **k: env())
    closed = []
    monkeypatch.setattr(client_module.Client, "close", lambda self: closed.append(self))
    client_module.set_default_client(None)
    first = client_module.default_client()
    assert client_module.default_client() is first
    monkeypatch.setenv("DIASPORA_USER_DIR", str(tmp_path / "other"))
    second = client_module.default_client()
    assert second is not first and closed == [first]
    mine = client_module.Client(env())
    client_module.set_default_client(mine)
    assert client_module.default_client() is mine and closed == [first, second]
    client_module.set_default_client(None)
    assert closed == [first, second]  # a client passed in stays its caller's to close
