"""HTML pages of the browser half of the login: login form, consent form, auth-code, errors.

Rules that keep these pages working behind jupyter-server-proxy (``/user/x/proxy/8765/...``):
every form action and link is RELATIVE, never built from the Host header. Every piece of text
that a user or client supplied goes through :func:`html.escape`.

Form contract (what ``diaspora_notebook.login.form`` relies on):

* login: ``<form method="post" action="authorize">`` with hidden authorize parameters,
  ``username`` (text) and ``password`` (password) inputs; errors in ``role="alert"``.
* consent: ``<form method="post" action="consent">`` with a hidden ``transaction`` and two
  submit buttons ``name="decision"`` valued ``allow`` and ``deny``.
* auth-code: the code in ``<code id="auth-code">``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} label{display:block;margin:.8rem 0 .2rem}
input[type=text],input[type=password]{width:100%;padding:.4rem;font-size:1rem;box-sizing:border-box}
button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem;font-size:1rem}
.error,.warning{color:#a00;font-weight:600}
code{font-size:1.1rem;word-break:break-all;background:#eee;padding:.3rem}
li{font-family:monospace;word-break:break-all}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def _alert(message: str | None) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )


def _scope_list(scopes: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in scopes) + "</ul>"


def login_page(*, client_name: str, hidden: Mapping[str, str], error: str | None = None,
               username: str = "") -> str:
    """Username/password form; posts back to ``authorize`` with the authorize parameters."""
    body = (
        f"<p>Sign in with your local fabric account to continue to "
        f"<strong>{escape(client_name)}</strong>.</p>{_alert(error)}"
        '<form method="post" action="authorize" id="login-form">'
        f"{_hidden(hidden)}"
        '<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" value="{escape(username)}" '
        'autocomplete="username" autocapitalize="none" required autofocus>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Log in</button></form>'
    )
    return _page("Diaspora local login", body)


def consent_page(*, client_name: str, client_id: str, username: str, scopes: Iterable[str],
                 transaction: str, destination: str, loopback: bool = False) -> str:
    """Ask the logged-in user to allow the client the listed scopes, naming the client (name
    and id) and exactly where the browser will be sent with the authorization code."""
    warning = (
        '<p class="warning" id="loopback-warning">The code goes to a program listening on this '
        "computer. Allow only if you started this sign-in yourself just now: any account on "
        "a shared machine can listen there.</p>" if loopback else "")
    body = (
        f"<p>Signed in as <strong>{escape(username)}</strong>.</p>"
        f'<p>The application <strong id="client-name">{escape(client_name)}</strong> '
        f'(client id <code id="client-id">{escape(client_id)}</code>) requests access to:</p>'
        f"{_scope_list(scopes)}"
        "<p>If you allow, your browser will be sent, with a code that grants this access, to:"
        f'</p><p><code id="redirect-destination">{escape(destination)}</code></p>{warning}'
        '<form method="post" action="consent" id="consent-form">'
        f"{_hidden({'transaction': transaction})}"
        '<button type="submit" name="decision" value="allow">Allow</button>'
        '<button type="submit" name="decision" value="deny">Deny</button></form>'
    )
    return _page("Allow access?", body)


def auth_code_page(code: str) -> str:
    """The default native redirect target: shows the code to copy into the notebook."""
    body = (
        "<p>Copy this authorization code back into your notebook:</p>"
        f'<p><code id="auth-code">{escape(code)}</code></p>'
        "<p>It can be used once, within a few minutes.</p>"
    )
    return _page("Authorization code", body)


def error_page(title: str, message: str, *, hint: str = "") -> str:
    """A dead end that never redirects (unknown client, bad redirect URI, expired login...)."""
    extra = f"<p>{escape(hint)}</p>" if hint else ""
    return _page(title, f"{_alert(message)}{extra}")
