"""The HTML parser behind ``complete_login_form`` (generic, form-driven)."""

from __future__ import annotations

import pytest

from diaspora_notebook.login.form import (
    ConsentDeniedError,
    LoginFormError,
    _code_from_url,
    _fill_consent,
    _fill_login,
    _pick_form,
    parse_page,
)

LOGIN = """<html><head><title>Sign in</title></head><body>
<p class="error" role="alert">Invalid  username or password.</p>
<form method="POST" action="login?x=1"><input type="hidden" name="client_id" value="a&amp;b">
<input type="email" name="login"><input type="password" name="pw">
<input type="checkbox" name="remember" value="1"><button>Go</button></form></body></html>"""

CONSENT = """<form method="post" action="consent"><input type="hidden" name="transaction" value="t">
<button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="allow">Allow</button></form>"""


def test_login_form_is_filled_generically() -> None:
    page = parse_page(LOGIN)
    assert page.title == "Sign in"
    assert page.alerts == ["Invalid username or password."]
    form = _pick_form(page)
    assert form is not None and form.action == "login?x=1" and form.method == "post"
    assert _fill_login(form, "alice", "secret") == {
        "client_id": "a&b", "login": "alice", "pw": "secret"}


def test_consent_form_submits_allow() -> None:
    form = _pick_form(parse_page(CONSENT))
    assert form is not None
    assert _fill_consent(form) == {"transaction": "t", "decision": "allow"}


def test_auth_code_element_and_redirects() -> None:
    assert parse_page('<p><code id="auth-code"> abc </code></p>').auth_code == "abc"
    assert _code_from_url("http://localhost:1/cb?code=xyz&state=s") == "xyz"
    assert _code_from_url("http://localhost:1/cb?state=s") is None
    with pytest.raises(ConsentDeniedError, match="access_denied"):
        _code_from_url("http://localhost:1/cb?error=access_denied")


def test_a_page_without_forms_gives_no_form() -> None:
    assert _pick_form(parse_page("<title>Oops</title><p role=alert>bad client</p>")) is None


def test_login_form_without_username_field() -> None:
    form = _pick_form(parse_page('<form><input type="password" name="p"></form>'))
    assert form is not None
    with pytest.raises(LoginFormError, match="username"):
        _fill_login(form, "a", "b")
