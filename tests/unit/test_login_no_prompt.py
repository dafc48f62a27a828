"""A notebook that logs in with the widget never opens an ``input()`` prompt for a login a
cell needs on the way (issue 24, defect 6); a login someone asks for still may."""

from __future__ import annotations

import pytest
from globus_sdk.gare import GlobusAuthorizationParameters

from diaspora_notebook.errors import NotLoggedInError
from diaspora_notebook.login import flows
from diaspora_notebook.login.flows import NotebookLoginFlowManager


@pytest.fixture
def no_input(monkeypatch):
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("input() was called"))
    yield
    flows.use_widget_login(None)


def test_a_login_a_cell_needs_fails_with_the_widget_hint(no_input):
    manager = NotebookLoginFlowManager()
    flows.use_widget_login(lambda: "log in with the widget")
    with pytest.raises(NotLoggedInError) as info:
        manager.run_login_flow(GlobusAuthorizationParameters(required_scopes=["openid"]))
    assert info.value.hint == "log in with the widget"
    with flows.asked_to_log_in():  # Client.login(): someone asked, it may prompt
        assert flows.widget_login_hint() is None
    assert flows.widget_login_hint() == "log in with the widget"
    flows.use_widget_login(lambda: None)  # widgets turned off: input() as before
    assert flows.widget_login_hint() is None


def test_the_extension_turns_it_on_while_loaded(no_input, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    from diaspora_notebook.notebook.commands.login import WIDGET_LOGIN_HINT

    monkeypatch.delenv("DIASPORA_WIDGETS", raising=False)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "diaspora_notebook")
    try:
        assert flows.widget_login_hint() == WIDGET_LOGIN_HINT
        shell.run_line_magic("config", "Diaspora.widget = False")
        assert flows.widget_login_hint() is None  # --no-widget world: input() logins
    finally:
        shell.run_line_magic("unload_ext", "diaspora_notebook")
    assert flows.widget_login_hint() is None
