"""Login: globus-sdk apps, token storage and flows, behind one two-phase API.

* :mod:`.session`: :class:`AuthSession`, one environment's ``UserApp`` (a person) or
  ``ClientApp`` (``DIASPORA_SDK_CLIENT_ID``/``_SECRET``) with its tokens.
* :mod:`.storage`: the SQLite token store in the user dir (0700/0600) and a read-only reader.
* :mod:`.flows`: the flow managers (notebook two-phase, ``input()``, headless form filling)
  and the toolkit's one code prompt.
* :mod:`.form`: fills the identity provider's login and consent pages like a browser.
* :mod:`.key_cache`: the Kafka password cache (one 0600 file per environment and identity).

The two-phase login every caller uses (widget, ``%diaspora_login --no-widget``, scripts) is
``Client.begin_login()`` -> URL, then ``Client.finish_login(code)`` -> identity id.
"""

from __future__ import annotations

from diaspora_notebook.login.flows import (
    LOGIN_HINT,
    CommandLineLoginFlowManager,
    NotebookLoginFlowManager,
    ProgrammaticLoginFlowManager,
    read_code,
    show_login_url,
)
from diaspora_notebook.login.form import (
    ConsentDeniedError,
    InvalidCredentialsError,
    LoginFormError,
    complete_login_form,
)
from diaspora_notebook.login.session import APP_NAME, AuthSession, is_stale_login
from diaspora_notebook.login.storage import TOKEN_FILE, stored_tokens, token_storage

__all__ = [
    "APP_NAME",
    "LOGIN_HINT",
    "TOKEN_FILE",
    "AuthSession",
    "CommandLineLoginFlowManager",
    "ConsentDeniedError",
    "InvalidCredentialsError",
    "LoginFormError",
    "NotebookLoginFlowManager",
    "ProgrammaticLoginFlowManager",
    "complete_login_form",
    "is_stale_login",
    "read_code",
    "show_login_url",
    "stored_tokens",
    "token_storage",
]
