"""Local Globus Auth-compatible identity provider for the offline Diaspora fabric.

``create_app(IdpSettings(...))`` builds the FastAPI app; :mod:`.admin` manages users, clients
and scopes in the state dir; ``python -m diaspora_notebook.fabric.idp`` runs the server.
The HTTP surface follows what the unmodified globus-sdk 4.x needs
(``/work/shared/reference/globus_local_idp.md``).
"""

from __future__ import annotations

from diaspora_notebook.fabric.idp.settings import IdpSettings

__all__ = ["IdpSettings", "create_app"]


def __getattr__(name: str) -> object:
    # keep ``import ...idp.admin`` light: FastAPI is only imported when the app is built
    if name == "create_app":
        from diaspora_notebook.fabric.idp.app import create_app

        return create_app
    raise AttributeError(name)
