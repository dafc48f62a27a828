"""A kernel started with DIASPORA_LOGIN_* (``demo-env``, Binder) in a real IPython shell.

A logout stays a logout there: ``%diaspora_logout`` then ``%diaspora_login`` (or
``--force``) shows the login widget instead of logging in headless again, and the Python API
says "not logged in" meanwhile. Errors of the Python API show as one line (IPython's custom
exception hook), with the traceback only when ``Diaspora.verbose_errors`` is on.
"""

from __future__ import annotations

import time

import pytest
from IPython.core.interactiveshell import InteractiveShell

from diaspora_notebook.login import complete_login_form
from diaspora_notebook.notebook.widgets.login import LoginWidget

pytestmark = pytest.mark.usefixtures("dummy_comm")


@pytest.fixture
def demo_env_shell(monkeypatch, sdk_identity):
    person = sdk_identity("demoenv")
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "DIASPORA_VERBOSE_ERRORS", "DIASPORA_WIDGETS",
                 "DIASPORA_LOGIN_LINK", "DIASPORA_PROXY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in person.subprocess_env({}).items():
        monkeypatch.setenv(name, value)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "diaspora_notebook")
    sh.run_cell("%config Diaspora.widget = True")
    sh.person = person
    yield sh
    sh.run_cell("%diaspora_logout")
    sh.run_line_magic("unload_ext", "diaspora_notebook")
    sh.config.pop("Diaspora", None)


def result(sh, code):
    run = sh.run_cell(code)
    assert run.success, f"{code!r} failed: {run.error_in_exec!r}"
    return run.result


def one_line_failure(sh, capsys, code) -> str:
    capsys.readouterr()
    run = sh.run_cell(code)
    out = capsys.readouterr()
    assert run.success is False
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out.err + out.out, out.err
    return lines[0]


def test_logout_then_login_shows_the_widget(demo_env_shell, capsys):
    sh, person = demo_env_shell, demo_env_shell.person
    first = result(sh, "%diaspora_login")  # headless, as Run All needs
    assert isinstance(first, LoginWidget) and first.identity["id"] == person.id
    assert first.finished_html and person.username in first.finished_html  # a static record
    result(sh, "%diaspora_logout")
    # the variables are still set, but the logout holds for the Python API too
    line = one_line_failure(sh, capsys, "from diaspora_notebook import Client\n"
                                        "Client().list_topics()")
    assert line.startswith("NotLoggedInError: you logged out")
    widget = result(sh, "%diaspora_login")
    assert isinstance(widget, LoginWidget) and widget.identity is None and widget.url
    widget.code.value = complete_login_form(widget.url, person.username, person.password)
    widget.submit.click()
    assert widget.identity["id"] == person.id and widget.finished_html
    assert result(sh, "Client().list_topics()")["status"] == "success"
    forced = result(sh, "%diaspora_login --force")
    assert isinstance(forced, LoginWidget) and forced.identity is None, "--force went headless"


def test_api_errors_are_one_line_unless_verbose(demo_env_shell, capsys):
    sh = demo_env_shell
    result(sh, "from diaspora_notebook import topics")
    line = one_line_failure(sh, capsys, "topics.delete('no-such-topic-here')")
    assert line.startswith("KafkaAccessDeniedError: ") and " - " in line
    sh.run_cell("%config Diaspora.verbose_errors = True")
    capsys.readouterr()
    run = sh.run_cell("topics.delete('no-such-topic-here')")
    out = capsys.readouterr()
    assert run.success is False and "Traceback" in out.out + out.err
    # other exceptions keep IPython's traceback
    sh.run_cell("%config Diaspora.verbose_errors = False")
    capsys.readouterr()
    run = sh.run_cell("1 / 0")
    out = capsys.readouterr()
    assert run.success is False and "ZeroDivisionError" in out.out + out.err


def test_wait_while_paused_says_so_at_once(sdk_client, topic_name):
    """``live.wait(n)`` on a paused stream fails at once naming the pause, not the producer."""
    from diaspora_notebook import topics
    from diaspora_notebook.errors import LiveStreamError
    from diaspora_notebook.stream import LiveDataFrame

    topics.register(topic_name, create=True, client=sdk_client)
    try:
        with LiveDataFrame(topic_name, start="earliest", client=sdk_client) as live:
            live.pause()
            started = time.monotonic()
            with pytest.raises(LiveStreamError, match="paused") as info:
                live.wait(n=5, timeout=30)
            assert time.monotonic() - started < 2.0
            assert "resume" in info.value.hint
    finally:
        topics.unregister(topic_name, client=sdk_client)


def test_stream_magic_fails_at_once_on_a_missing_topic(demo_env_shell, capsys):
    sh = demo_env_shell
    result(sh, "%diaspora_login")
    started = time.monotonic()
    line = one_line_failure(sh, capsys, "%diaspora_stream no-such-topic-for-stream")
    assert time.monotonic() - started < 15
    assert line.startswith(("TopicMissingError: ", "KafkaAccessDeniedError: ")), line
    assert "no-such-topic-for-stream" in line
