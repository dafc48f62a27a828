"""A logout in one kernel, then another kernel (issue 24, defect 6), with the real IdP.

Two processes share a user dir (two kernels of one person). After the first logs out (its
tokens revoked and deleted), the second must not say "logged in" on the tokens it cached, and a
notebook that logs in with the widget must fail a cell that needs a login with a hint, never
open an ``input()`` prompt.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from diaspora_notebook.errors import NotLoggedInError
from diaspora_notebook.login import flows
from diaspora_notebook.notebook.configurable import Diaspora
from tests.integration.test_widgets import interactive_env

KERNEL = "from diaspora_notebook.client import Client; c = Client(); print(c.{}())"


def other_kernel(person, call: str) -> str:
    """``Client().<call>()`` in another process logged in headless as ``person``."""
    env = person.subprocess_env()
    env["DIASPORA_USER_DIR"] = str(person.user_dir)
    return subprocess.run([sys.executable, "-c", KERNEL.format(call)], env=env, check=True,
                          capture_output=True, text=True, timeout=120).stdout


@pytest.fixture
def widget_login():
    flows.use_widget_login(lambda: "log in with the widget of %diaspora_login")
    yield
    flows.use_widget_login(None)


def test_a_logout_elsewhere_is_seen_and_no_prompt_opens(monkeypatch, sdk_identity, tmp_path,
                                                       widget_login):
    person = sdk_identity("kernels")
    other_kernel(person, "login")  # the first kernel logs in: tokens in the shared store
    interactive_env(monkeypatch, person, tmp_path)
    monkeypatch.setenv("DIASPORA_USER_DIR", str(person.user_dir))
    client = Diaspora().client()
    assert client.logged_in_identity(verify=True) == person.id
    assert client.list_topics()["status"] == "success"  # cached tokens, in use
    other_kernel(person, "logout")  # the first kernel logs out
    assert client.logged_in_identity() is None  # the store is read again
    assert client.logged_in_identity(verify=True) is None
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("input() was called"))
    with pytest.raises(NotLoggedInError) as info:
        client.list_topics()
    assert "%diaspora_login" in (info.value.hint or "")


def test_revoked_tokens_still_in_the_store_are_checked_for_real(monkeypatch, sdk_identity,
                                                               tmp_path, widget_login):
    """Tokens the IdP revoked but the store still holds (a copy made before the logout):
    only the real check sees it; a stale login is then forgotten, and the next call that
    needs one fails with the widget's hint instead of prompting."""
    person = sdk_identity("revoked")
    other_kernel(person, "login")
    saved = tmp_path / "tokens-before-logout"
    shutil.copytree(person.user_dir, saved)
    other_kernel(person, "logout")
    shutil.rmtree(person.user_dir)
    shutil.copytree(saved, person.user_dir)  # the revoked tokens are back in the store
    interactive_env(monkeypatch, person, tmp_path)
    monkeypatch.setenv("DIASPORA_USER_DIR", str(person.user_dir))
    client = Diaspora().client()
    assert client.logged_in_identity() == person.id  # looks logged in from the store
    assert client.logged_in_identity(verify=True) is None  # the IdP says otherwise
    assert client.logged_in_identity() is None  # and the stale tokens are gone
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("input() was called"))
    with pytest.raises(NotLoggedInError):
        client.list_topics()
