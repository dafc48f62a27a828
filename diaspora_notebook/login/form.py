"""Complete a browser login programmatically, the way a person would: read forms, fill, submit.

Used by tests, benchmarks and headless demos against the local fabric's identity provider. It
is driven only by the HTML it receives (form actions, input names, submit buttons), so it does
not hard-code the IdP's paths. Toolkit side: it must not import ``diaspora_notebook.fabric``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from diaspora_notebook.errors import DiasporaError

log = logging.getLogger(__name__)

MAX_STEPS = 12
_USERNAME_NAMES = ("username", "login", "user", "email")


class LoginFormError(DiasporaError):
    """The login pages did not lead to an authorization code."""


class InvalidCredentialsError(LoginFormError):
    """The identity provider rejected the username or password."""


class ConsentDeniedError(LoginFormError):
    """The identity provider redirected with an OAuth error (e.g. ``access_denied``)."""


def _rejected_hint(response: requests.Response) -> str:
    """What to do about a rejected login: wait out a lock (429), or fix the credentials."""
    if response.status_code == 429:
        wait = response.headers.get("retry-after", "").strip()
        after = f"in {wait} s" if wait.isdigit() else "later"
        return f"too many failed logins: try again {after}, with the right password"
    return "check the username and password of the local account"


@dataclass
class Form:
    """One ``<form>``: where it posts, its named inputs, and its submit buttons."""

    action: str
    method: str
    inputs: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (name, value, text)

    def has_password(self) -> bool:
        return any(kind == "password" for kind, _, _ in self.inputs)


class PageParser(HTMLParser):
    """Collects forms, alert texts, the title and an ``id="auth-code"`` element's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.alerts: list[str] = []
        self.title = ""
        self.auth_code: str | None = None
        self._capture: tuple[str, str] | None = None  # (what, tag)
        self._text: list[str] = []
        self._button: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attr.get("action", ""), attr.get("method", "get").lower()))
        elif tag == "input" and self.forms and attr.get("name"):
            kind = attr.get("type", "text").lower()
            if kind == "submit":
                self.forms[-1].buttons.append((attr["name"], attr.get("value", ""),
                                               attr.get("value", "")))
            elif kind not in ("button", "reset", "image", "file"):
                self.forms[-1].inputs.append((kind, attr["name"], attr.get("value", "")))
        elif tag == "button" and self.forms and attr.get("type", "submit").lower() == "submit":
            self._button = (attr.get("name", ""), attr.get("value", ""))
            self._start("button", tag)
        elif attr.get("id") == "auth-code":
            self._start("auth-code", tag)
        elif attr.get("role") == "alert" or "error" in attr.get("class", "").split():
            self._start("alert", tag)
        elif tag == "title":
            self._start("title", tag)

    def handle_endtag(self, tag: str) -> None:
        if self._capture is None or self._capture[1] != tag:
            return
        what, text = self._capture[0], " ".join("".join(self._text).split())
        self._capture = None
        if what == "button" and self._button is not None and self.forms:
            name, value = self._button
            self.forms[-1].buttons.append((name, value, text))
        elif what == "auth-code":
            self.auth_code = text
        elif what == "alert" and text:
            self.alerts.append(text)
        elif what == "title":
            self.title = text

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._text.append(data)

    def _start(self, what: str, tag: str) -> None:
        if self._capture is None:
            self._capture = (what, tag)
            self._text = []


def parse_page(html: str) -> PageParser:
    """Parse one HTML page (exposed for tests)."""
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser


def complete_login_form(authorize_url: str, username: str, password: str, *,
                        timeout: float = 10.0) -> str:
    """Log in at ``authorize_url`` with a username and password, allow access, return the code.

    Follows redirects by hand, so a redirect to a loopback ``redirect_uri`` that nobody listens
    on still yields its ``code=`` without being fetched.

    :param authorize_url: the ``/v2/oauth2/authorize?...`` URL the login flow manager built.
    :param timeout: seconds per HTTP request.
    :raises InvalidCredentialsError: the IdP showed the login form again with an error.
    :raises ConsentDeniedError: the IdP redirected with ``error=...``.
    :raises LoginFormError: anything else that stops the flow (error page, network, loops).
    """
    session = requests.Session()
    session.headers["User-Agent"] = "diaspora-notebook-login-form/1"
    logged_in = False
    method, url, data = "get", authorize_url, None
    try:
        for _ in range(MAX_STEPS):
            response = session.request(method, url, data=data, timeout=timeout,
                                        allow_redirects=False)
            if response.is_redirect or response.status_code in (301, 302, 303, 307, 308):
                location = urljoin(response.url, response.headers.get("location", ""))
                code = _code_from_url(location)
                if code:
                    return code
                method, url, data = "get", location, None
                continue
            page = parse_page(response.text)
            if page.auth_code:
                return page.auth_code
            form = _pick_form(page)
            if form is None:
                raise _page_error(page, response)
            if form.has_password():
                if logged_in:
                    raise InvalidCredentialsError(
                        _alert_text(page, "the login was rejected"), hint=_rejected_hint(response))
                logged_in = True
                data = _fill_login(form, username, password)
            else:
                data = _fill_consent(form)
            url = urljoin(response.url, form.action or response.url)
            method = "post" if form.method == "post" else "get"
    except requests.RequestException as exc:
        raise LoginFormError(f"could not reach the identity provider: {type(exc).__name__}",
                             hint="is the fabric running? check `diaspora-fabric status`") from exc
    finally:
        session.close()
    raise LoginFormError("the login did not finish after many pages",
                         hint="the identity provider may be redirecting in a loop")


def _code_from_url(url: str) -> str | None:
    query = parse_qs(urlsplit(url).query)
    if "error" in query:
        raise ConsentDeniedError(f"the identity provider answered {query['error'][0]!r}",
                                 hint="log in again and choose Allow")
    codes = query.get("code")
    return codes[0] if codes else None


def _pick_form(page: PageParser) -> Form | None:
    for form in page.forms:
        if form.has_password():
            return form
    for form in page.forms:
        if _allow_button(form) is not None:
            return form
    return None


def _allow_button(form: Form) -> tuple[str, str, str] | None:
    for button in form.buttons:
        if "allow" in (button[1].lower(), button[2].lower()):
            return button
    return None


def _fill_login(form: Form, username: str, password: str) -> dict[str, str]:
    data = {name: value for kind, name, value in form.inputs if kind == "hidden"}
    text_inputs = [name for kind, name, _ in form.inputs if kind in ("text", "email")]
    user_field = next((n for n in text_inputs if n.lower() in _USERNAME_NAMES),
                      text_inputs[0] if text_inputs else None)
    if user_field is None:
        raise LoginFormError("the login form has no username field")
    data[user_field] = username
    for kind, name, _ in form.inputs:
        if kind == "password":
            data[name] = password
    return data


def _fill_consent(form: Form) -> dict[str, str]:
    data = {name: value for kind, name, value in form.inputs if kind == "hidden"}
    button = _allow_button(form)
    if button is not None and button[0]:
        data[button[0]] = button[1]
    return data


def _alert_text(page: PageParser, default: str) -> str:
    return "; ".join(page.alerts) if page.alerts else default


def _page_error(page: PageParser, response: requests.Response) -> LoginFormError:
    what = _alert_text(page, f"HTTP {response.status_code}")
    if page.title and page.title not in what:
        what = f"{page.title}: {what}"
    return LoginFormError(f"the identity provider showed an error: {what}",
                          hint="check the client id, redirect URI and scopes of the login")
