"""Pure logic of the notebook layer: link rewriting, line parsing, HTML escaping, error display,
settings, and magic argument handling in a real IPython shell (no fabric needed)."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from diaspora_notebook import topics
from diaspora_notebook.errors import DiasporaUsageError, TopicOwnedByAnotherError
from diaspora_notebook.notebook import errors as nb_errors
from diaspora_notebook.notebook.commands.produce import split_line
from diaspora_notebook.notebook.configurable import Diaspora
from diaspora_notebook.notebook.html import (
    MASK,
    KeyView,
    Result,
    client_html,
    snippet,
    topics_html,
)
from diaspora_notebook.notebook.links import browser_url, is_loopback, proxied_url

AUTH = "http://127.0.0.1:8765/v2/oauth2/authorize?client_id=abc&redirect_uri=http%3A%2F%2F127"


# --- login link through jupyter-server-proxy ------------------------------------------------


@pytest.mark.parametrize(("base", "expected"), [
    ("/", "/proxy/8765/v2/oauth2/authorize?client_id=abc&redirect_uri=http%3A%2F%2F127"),
    ("/user/ann/", "/user/ann/proxy/8765/v2/oauth2/authorize?client_id=abc&redirect_uri="
                   "http%3A%2F%2F127"),
    ("/user/ann", "/user/ann/proxy/8765/v2/oauth2/authorize?client_id=abc&redirect_uri="
                  "http%3A%2F%2F127"),
    ("user/ann/", "/user/ann/proxy/8765/v2/oauth2/authorize?client_id=abc&redirect_uri="
                  "http%3A%2F%2F127"),
    ("https://hub.example.org/user/ann/", "https://hub.example.org/user/ann/proxy/8765/v2/"
                                          "oauth2/authorize?client_id=abc&redirect_uri="
                                          "http%3A%2F%2F127"),
])
def test_proxied_url_maps_host_port_to_proxy_prefix(base, expected):
    assert proxied_url(AUTH, base) == expected


@pytest.mark.parametrize("url", [
    "https://auth.globus.org/v2/oauth2/authorize?x=1",   # not loopback
    "http://127.0.0.1/v2/oauth2/authorize",              # no port
    "http://10.0.0.5:8765/v2/oauth2/authorize",          # not loopback
    "not a url",
])
def test_proxied_url_leaves_other_urls_alone(url):
    assert proxied_url(url, "/user/ann/") == url


def test_proxied_url_keeps_fragment_and_localhost():
    assert proxied_url("http://localhost:9/a/b#frag", "/x/") == "/x/proxy/9/a/b#frag"
    assert proxied_url("http://[::1]:9/a", "/") == "/proxy/9/a"


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("example.org") and not is_loopback(None) and not is_loopback("")


def test_browser_url_modes():
    hub = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ann/"}
    assert browser_url(AUTH, mode="direct", environ=hub, proxy_available=True) == AUTH
    assert browser_url(AUTH, mode="auto", environ={}, proxy_available=True) == AUTH
    assert browser_url(AUTH, mode="auto", environ=hub, proxy_available=False) == AUTH
    assert browser_url(AUTH, mode="auto", environ=hub, proxy_available=True).startswith(
        "/user/ann/proxy/8765/v2/oauth2/authorize?")
    assert browser_url(AUTH, mode="auto", base_url="/lab/", environ={},
                       proxy_available=True).startswith("/lab/proxy/8765/")
    assert browser_url(AUTH, mode="proxy", environ={}).startswith("/proxy/8765/")
    remote = "https://auth.globus.org/v2/oauth2/authorize"
    assert browser_url(remote, mode="proxy", environ=hub) == remote


# --- produce line and documents ----------------------------------------------------------------


@pytest.mark.parametrize(("line", "tokens", "text"), [
    ('t1 {"a": 1}', ["t1"], '{"a": 1}'),
    ('  t1   {"a": {"b": [1, 2]}}  ', ["t1"], '{"a": {"b": [1, 2]}}'),
    ('--key k1 t1 {"a": 1}', ["--key", "k1", "t1"], '{"a": 1}'),
    ('-k k1 --timeout 3 t1 [1, 2]', ["-k", "k1", "--timeout", "3", "t1"], "[1, 2]"),
    ("t1", ["t1"], ""),
    ("", [], ""),
    ('t1 "a string with  spaces"', ["t1"], '"a string with  spaces"'),
])
def test_split_line(line, tokens, text):
    assert split_line(line) == (tokens, text)


def test_parse_documents():
    assert topics.parse_documents('{"a": 1}\n\n# comment\n[1]\n"x"\n') == [{"a": 1}, [1], "x"]
    with pytest.raises(DiasporaUsageError, match="line 2 is not JSON"):
        topics.parse_documents('{"a": 1}\n{a: 1}')
    with pytest.raises(DiasporaUsageError, match="nothing to produce"):
        topics.parse_documents("\n# only a comment\n")


def test_describe_offsets():
    assert topics.describe_offsets([(0, 5), (0, 6), (0, 7), (1, 2)]) == \
        "partition 0: offsets 5-7; partition 1: offset 2"


# --- HTML: escaped, masked ---------------------------------------------------------------------


def test_key_view_masks_unless_revealed():
    key = {"username": "u-1", "password": "s3cret-pw", "endpoint": "127.0.0.1:9093"}
    masked = KeyView(key)
    assert "s3cret-pw" not in masked._repr_html_() and "s3cret-pw" not in repr(masked)
    assert MASK in masked._repr_html_()
    shown = KeyView(key, reveal=True)
    assert "s3cret-pw" in shown._repr_html_() and "s3cret-pw" in repr(shown)


def test_snippets_hold_the_password_only_when_revealed():
    class Env:
        bootstrap_servers = ("127.0.0.1:9093",)
        security_protocol, sasl_mechanism, ca_file = "SASL_SSL", "SCRAM-SHA-512", "/ca.pem"

    key = {"username": "u-1", "password": "s3cret-pw"}
    for lib in ("kafka-python", "confluent-kafka", "aiokafka"):
        hidden = snippet(lib, Env(), KeyView(key))
        assert "s3cret-pw" not in hidden and "connection_config" in hidden
        shown = snippet(lib, Env(), KeyView(key, reveal=True))
        assert "s3cret-pw" in shown
        compile(shown, lib, "exec")  # the snippet is valid Python


def test_server_text_is_escaped():
    evil = "<script>alert(1)</script>"
    assert "<script>" not in topics_html([evil])
    assert "<script>" not in topics_html([{"topic": evil, "on_broker": False}])
    assert "<script>" not in Result({"status": "success", "message": evil,
                                     "topic": evil})._repr_html_()
    assert "<script>" not in KeyView({"username": evil, "password": "p"})._repr_html_()


def test_client_html_escapes_identity():
    class Env:
        name, auth_url, service_url = "local", "http://a/", "http://s/"
        bootstrap_servers, ca_file = ("h:1",), None
        security_protocol, sasl_mechanism = "SASL_SSL", "SCRAM-SHA-512"

    class FakeClient:
        environment = Env()

    html = client_html(FakeClient(), {"id": "i-1", "username": "<b>x</b>"})
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "i-1" in html


# --- errors ---------------------------------------------------------------------------------


def test_reported_turns_diaspora_errors_into_one_line_usage_errors():
    with pytest.raises(UsageError) as info, nb_errors.reported():
        raise TopicOwnedByAnotherError("topic 't' is registered to someone else",
                                       hint="pick another name")
    assert type(info.value) is UsageError  # exactly: IPython shows it without a traceback
    assert str(info.value) == ("TopicOwnedByAnotherError: topic 't' is registered to someone "
                               "else - pick another name")
    with pytest.raises(TopicOwnedByAnotherError), nb_errors.reported(verbose=True):
        raise TopicOwnedByAnotherError("x")
    with pytest.raises(KeyError), nb_errors.reported():  # bugs keep their traceback
        raise KeyError("x")


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("DIASPORA_VERBOSE_ERRORS", "1")
    monkeypatch.setenv("DIASPORA_WIDGETS", "0")
    monkeypatch.setenv("DIASPORA_PEEK_TIMEOUT", "2.5")
    monkeypatch.setenv("DIASPORA_LOGIN_LINK", "proxy")
    settings = Diaspora()
    assert settings.verbose_errors and not settings.widget
    assert settings.peek_timeout == 2.5 and settings.login_link == "proxy"
    monkeypatch.setenv("DIASPORA_PEEK_TIMEOUT", "soon")
    with pytest.raises(DiasporaUsageError, match="DIASPORA_PEEK_TIMEOUT"):
        Diaspora().peek_timeout  # noqa: B018


# --- the magics in a real shell (argument errors need no fabric) --------------------------------


@pytest.fixture
def shell(monkeypatch, tmp_path):
    monkeypatch.setenv("DIASPORA_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("DIASPORA_FABRIC_HOME", str(tmp_path / "no-fabric"))
    monkeypatch.delenv("DIASPORA_ENVIRONMENT", raising=False)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "diaspora_notebook")
    yield sh
    sh.run_line_magic("unload_ext", "diaspora_notebook")
    sh.config.pop("Diaspora", None)  # %config settings outlive the extension in a session


def test_load_registers_magics_config_and_is_idempotent(shell):
    shell.run_line_magic("load_ext", "diaspora_notebook")
    names = shell.magics_manager.magics["line"]
    for magic in ("diaspora", "diaspora_login", "diaspora_logout", "diaspora_whoami",
                  "diaspora_topics", "diaspora_register", "diaspora_unregister",
                  "diaspora_key", "diaspora_connection", "diaspora_produce", "diaspora_peek",
                  "diaspora_stream"):
        assert magic in names
    assert "diaspora_produce" in shell.magics_manager.magics["cell"]
    assert sum(type(c).__name__ == "Diaspora" for c in shell.configurables) == 1


def test_unload_removes_everything(shell):
    shell.run_line_magic("unload_ext", "diaspora_notebook")
    assert "diaspora_login" not in shell.magics_manager.magics["line"]
    assert not any(type(c).__name__ == "Diaspora" for c in shell.configurables)
    shell.run_line_magic("load_ext", "diaspora_notebook")
    assert "diaspora_login" in shell.magics_manager.magics["line"]


def test_help_comes_from_magic_arguments(shell):
    doc = shell.find_line_magic("diaspora_login").__doc__
    assert "--no-widget" in doc and "--force" in doc and "--env" in doc
    assert "-n N" in shell.find_line_magic("diaspora_peek").__doc__


def test_config_magic_sets_traits(shell):
    shell.run_cell("%config Diaspora.peek_timeout = 3.5")
    from diaspora_notebook.notebook import settings

    assert settings(shell).peek_timeout == 3.5


def test_bad_arguments_fail_the_cell_without_traceback(shell, capsys):
    result = shell.run_cell("%diaspora_peek some-topic -n notanumber")
    assert result.success is False
    err = capsys.readouterr()
    assert "UsageError" in err.err and "Traceback" not in err.err + err.out


def test_unknown_subcommand_lists_choices(shell, capsys):
    result = shell.run_cell("%diaspora frobnicate")
    assert result.success is False
    err = capsys.readouterr().err
    assert "login" in err and "peek" in err and "Traceback" not in err


def test_diaspora_error_is_one_line_and_fails_the_cell(shell, capsys):
    # no fabric at DIASPORA_FABRIC_HOME: the environment cannot be resolved
    result = shell.run_cell("%diaspora_whoami")
    assert result.success is False
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("EnvironmentNotFoundError: ")
    assert " - " in lines[0] and "Traceback" not in out.err + out.out


def test_verbose_errors_show_the_traceback_and_still_fail(shell, capsys):
    shell.run_cell("%config Diaspora.verbose_errors = True")
    result = shell.run_cell("%diaspora_whoami")
    assert result.success is False
    out = capsys.readouterr()
    assert "EnvironmentNotFoundError" in out.out + out.err
    assert "Traceback" in out.out + out.err or "----> " in out.out + out.err


def test_output_variable_must_be_an_identifier(shell, capsys):
    assert shell.run_cell("%diaspora_peek t -o not-a-name").success is False
    assert "variable name" in capsys.readouterr().err


def test_login_env_that_does_not_exist_fails_and_is_not_kept(shell, capsys):
    result = shell.run_cell("%diaspora_login --env nowhere")
    assert result.success is False
    err = capsys.readouterr().err
    assert err.startswith("EnvironmentNotFoundError: unknown environment 'nowhere'")
    from diaspora_notebook.notebook import settings

    assert settings(shell).environment is None


def test_client_gets_an_html_view_from_the_extension(shell, tmp_path):
    from diaspora_notebook.client import Client
    from diaspora_notebook.environments import Environment

    env = Environment(name="demo", auth_url="http://127.0.0.1:1/", native_client_id="n",
                      service_url="http://127.0.0.1:2/", scope="s", resource_server="r",
                      bootstrap_servers=("127.0.0.1:3",))
    client = Client(env, user_dir=tmp_path / "u")
    data, _ = shell.display_formatter.format(client)
    html = data["text/html"]
    assert "Diaspora client" in html and "not logged in" in html and "127.0.0.1:3" in html
    shell.run_line_magic("unload_ext", "diaspora_notebook")
    assert "text/html" not in shell.display_formatter.format(client)[0]
    shell.run_line_magic("load_ext", "diaspora_notebook")


def test_widgets_default_off_only_in_a_terminal(monkeypatch):
    from traitlets.config import Configurable

    class TerminalInteractiveShell(Configurable):
        pass

    monkeypatch.delenv("DIASPORA_WIDGETS", raising=False)
    assert Diaspora().widget is True
    assert Diaspora(parent=TerminalInteractiveShell()).widget is False
    monkeypatch.setenv("DIASPORA_WIDGETS", "1")
    assert Diaspora(parent=TerminalInteractiveShell()).widget is True
