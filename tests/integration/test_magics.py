"""The magics in a real IPython shell against the local fabric (headless login)."""

from __future__ import annotations

import json

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell

from diaspora_notebook.login import complete_login_form
from diaspora_notebook.notebook.html import MASK, IdentityView, KeyView
from diaspora_notebook.testing.identities import login


def use_identity(monkeypatch, identity):
    """Point the toolkit at the fixture fabric and log in headless as ``identity``."""
    for name in ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET",
                 "DIASPORA_ENVIRONMENTS_FILE", "JUPYTERHUB_SERVICE_PREFIX",
                 "DIASPORA_VERBOSE_ERRORS", "DIASPORA_WIDGETS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in identity.subprocess_env({}).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def shell(monkeypatch, sdk_identity):
    identity = sdk_identity("nb")
    use_identity(monkeypatch, identity)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "diaspora_notebook")
    sh.run_cell("%config Diaspora.widget = False")
    sh.identity = identity
    yield sh
    sh.run_cell("%diaspora_logout")
    sh.run_line_magic("unload_ext", "diaspora_notebook")
    sh.config.pop("Diaspora", None)  # %config settings outlive the extension in a session


def ok(sh, code):
    result = sh.run_cell(code)
    assert result.success, f"{code!r} failed: {result.error_in_exec!r}"
    return result.result


def fails_with_one_line(sh, capsys, code, name):
    capsys.readouterr()
    result = sh.run_cell(code)
    out = capsys.readouterr()
    assert result.success is False
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1, out.err
    assert lines[0].startswith(f"{name}: ") and " - " in lines[0]
    assert "Traceback" not in out.err + out.out
    return lines[0]


def test_login_whoami_logout(shell, capsys):
    shown = ok(shell, "%diaspora_login")
    assert isinstance(shown, IdentityView)
    assert shown.details["username"] == shell.identity.username
    assert shown.details["id"] == shell.identity.id
    assert shell.identity.username in shown._repr_html_()
    assert repr(ok(shell, "%diaspora_whoami")).startswith(
        f"Logged in as {shell.identity.username} ({shell.identity.id})")
    assert "logged out" in repr(ok(shell, "%diaspora_logout"))
    fails_with_one_line(shell, capsys, "%diaspora_whoami", "NotLoggedInError")
    assert isinstance(ok(shell, "%diaspora_login --force"), IdentityView)


def test_login_without_widget_reads_the_code_with_input(monkeypatch, sdk_identity, capsys):
    person = sdk_identity("typist")
    use_identity(monkeypatch, person)
    monkeypatch.delenv("DIASPORA_LOGIN_USERNAME")
    monkeypatch.delenv("DIASPORA_LOGIN_PASSWORD")

    def fake_input(prompt=""):  # the person opens the printed link and types the code
        url = capsys.readouterr().out.split("below:\n", 1)[1].split()[0]
        return complete_login_form(url, person.username, person.password)

    monkeypatch.setattr("builtins.input", fake_input)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "diaspora_notebook")
    try:
        shown = ok(sh, "%diaspora_login --no-widget")
        assert isinstance(shown, IdentityView) and shown.details["id"] == person.id
        assert ok(sh, "%diaspora_whoami").details["username"] == person.username
    finally:
        sh.run_cell("%diaspora_logout")
        sh.run_line_magic("unload_ext", "diaspora_notebook")


def test_register_topics_unregister(shell, topic_name):
    ok(shell, "%diaspora_login")
    result = ok(shell, f"%diaspora_register {topic_name} --create --partitions 2")
    assert result["status"] == "success" and "2 partition" in result["message"]
    assert ok(shell, f"%diaspora_register {topic_name} --create")["status"] == "no-op"
    ok(shell, "%diaspora_topics -o topics_df")
    frame = shell.user_ns["topics_df"]
    row = frame[frame.topic == topic_name].iloc[0]
    assert row.on_broker and row.partitions == 2 and row.messages == 0
    ok(shell, "topic = " + repr(topic_name))
    assert ok(shell, "%diaspora unregister $topic")["status"] == "success"
    ok(shell, "%diaspora_topics -o topics_df")
    assert topic_name not in set(shell.user_ns["topics_df"].topic)


def test_produce_and_peek_round_trip(shell, topic_name):
    ok(shell, "%diaspora_login")
    ok(shell, f"%diaspora_register {topic_name} --create")
    one = ok(shell, f'%diaspora_produce {topic_name} {{"n": 0, "nested": {{"x": "a b"}}}}')
    assert one["count"] == 1 and one["offsets"] == [(0, 0)]
    many = ok(shell, f'%%diaspora_produce {topic_name} --key k1\n{{"n": 1}}\n\n{{"n": 2}}\n'
                     '{"n": 3}\n')
    assert many["count"] == 3 and "offsets 1-3" in many["message"]
    frame = ok(shell, f"%diaspora_peek {topic_name} -n 2")
    assert list(frame["n"]) == [2, 3] and list(frame["key"]) == ["k1", "k1"]
    ok(shell, f"%diaspora_peek {topic_name} -n 2 --from-beginning -o first")
    first = shell.user_ns["first"]
    assert list(first["n"]) == [0, 1] and first["nested.x"].iloc[0] == "a b"
    assert list(first.columns[:5]) == ["topic", "partition", "offset", "timestamp", "key"]
    ok(shell, f"%diaspora_unregister {topic_name}")


def test_stream_magic_returns_a_live_dataframe(shell, topic_name):
    ok(shell, "%diaspora_login")
    ok(shell, f"%diaspora_register {topic_name} --create")
    ok(shell, f'%%diaspora_produce {topic_name}\n{{"v": 1}}\n{{"v": 2}}')
    ok(shell, f"%diaspora_stream {topic_name} --from-beginning --max-rows 5 -o live")
    live = shell.user_ns["live"]
    try:
        assert list(live.wait(2, timeout=30).df["v"]) == [1, 2]
    finally:
        live.stop()
    ok(shell, f"%diaspora_unregister {topic_name}")


def test_key_rotation_and_masking(shell):
    ok(shell, "%diaspora_login")
    key = ok(shell, "%diaspora_key")
    assert isinstance(key, KeyView) and not key.reveal
    old = key.password
    assert old and old not in key._repr_html_() and old not in repr(key)
    rotated = ok(shell, "%diaspora_key --rotate")
    assert rotated.password != old and rotated.password not in rotated._repr_html_()
    shown = ok(shell, "%diaspora_key --reveal")
    assert shown.password == rotated.password and rotated.password in shown._repr_html_()
    details = ok(shell, "%diaspora_connection --library confluent-kafka")
    assert rotated.password not in repr(details) + details._repr_html_()
    assert MASK in repr(details)
    ok(shell, "%diaspora_connection -o conf")
    assert shell.user_ns["conf"]["sasl_plain_password"] == rotated.password


def test_errors_fail_the_cell_with_one_line(shell, capsys, sdk_identity, topic_name):
    ok(shell, "%diaspora_login")
    line = fails_with_one_line(shell, capsys, f"%diaspora_produce {topic_name} {{}}",
                               "KafkaAccessDeniedError")
    assert topic_name in line
    ok(shell, f"%diaspora_register {topic_name}")
    fails_with_one_line(shell, capsys, f"%diaspora_peek {topic_name}", "TopicMissingError")
    fails_with_one_line(shell, capsys, f"%diaspora_produce {topic_name} {{oops",
                        "DiasporaUsageError")
    other = login(sdk_identity("other"))
    taken = f"{topic_name}-taken"
    other.register_topic(taken)
    fails_with_one_line(shell, capsys, f"%diaspora_register {taken}",
                        "TopicOwnedByAnotherError")
    shell.run_cell("%config Diaspora.verbose_errors = True")
    capsys.readouterr()
    result = shell.run_cell(f"%diaspora_register {taken}")
    out = capsys.readouterr()
    assert result.success is False and "TopicOwnedByAnotherError" in out.out + out.err
    ok(shell, f"%diaspora_unregister {topic_name}")


def test_magics_need_an_interactive_login_first(monkeypatch, sdk_identity, capsys):
    """Without headless credentials, magics say "log in first" instead of prompting."""
    use_identity(monkeypatch, sdk_identity("person"))
    monkeypatch.delenv("DIASPORA_LOGIN_USERNAME")
    monkeypatch.delenv("DIASPORA_LOGIN_PASSWORD")
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "diaspora_notebook")
    try:
        for magic in ("%diaspora_topics", "%diaspora_key", "%diaspora_peek t",
                      "%diaspora_register t", "%diaspora_produce t {}"):
            line = fails_with_one_line(sh, capsys, magic, "NotLoggedInError")
            assert "run %diaspora_login" in line
    finally:
        sh.run_line_magic("unload_ext", "diaspora_notebook")


def test_run_all_stops_at_a_failing_magic(monkeypatch, sdk_identity, topic_name, tmp_path):
    """nbclient (what papermill runs) stops at the failing cell; later cells never run."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    use_identity(monkeypatch, sdk_identity("papermill"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "%load_ext diaspora_notebook",
        "%diaspora_login",
        f"%diaspora_produce {topic_name} {json.dumps({'never': 'registered'})}",
        "print('this cell must not run')",
    )]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert "KafkaAccessDeniedError" in str(info.value)
    failed = nb.cells[2].outputs  # the one line, on stderr; no traceback output
    text = "".join(o.get("text", "") for o in failed if o.get("output_type") == "stream")
    assert "KafkaAccessDeniedError" in text and "Traceback" not in text
    assert not nb.cells[3].outputs
