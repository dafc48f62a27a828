"""pytest helpers for SDK tests: fresh identities on the session fabric, logged in headless.

The one identity factory of the tests. Its fixtures are registered by
``diaspora_notebook.testing.plugin`` (they use the ``fabric`` of the fabric's plugin)::

    def test_topics(sdk_identity):
        alice = sdk_identity()                 # a new account with a random password
        client = alice.client()                # logged in through the IdP's login form
        client.register_topic("t-1")

    def test_in_a_subprocess(sdk_identity):
        env = sdk_identity().subprocess_env()  # DIASPORA_* variables for a headless login

    def test_raw_http(fabric):
        bob = create_identity(fabric, prefix="e2e")   # .username, .password, .id
        token = service_token(fabric, bob.username, bob.password)

Accounts are created by the fabric's test support
(:func:`diaspora_notebook.fabric.testing.accounts.add_account`: test side only, the toolkit
itself never imports the fabric), which remembers every password for the log audit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from diaspora_notebook.client import Client
from diaspora_notebook.environments import load_local
from diaspora_notebook.fabric.testing.accounts import add_account
from diaspora_notebook.login import ProgrammaticLoginFlowManager


@dataclass
class Identity:
    """A local account on a running fabric, with its own user dir (tokens, keys)."""

    username: str
    password: str
    id: str
    fabric_home: Path
    user_dir: Path

    def __repr__(self) -> str:  # never show the password
        return f"Identity(username={self.username!r}, id={self.id!r})"

    def client(self, **kwargs: Any) -> Client:
        """A ``Client`` of the local environment that logs in with this account's password."""
        manager = ProgrammaticLoginFlowManager(self.username, self.password)
        return Client(load_local(self.fabric_home), user_dir=self.user_dir,
                      login_flow_manager=manager, **kwargs)

    def subprocess_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment variables for a child process that logs in headless as this account."""
        env = dict(os.environ if base is None else base)
        for name in ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET",
                     "DIASPORA_ENVIRONMENTS_FILE", "GLOBUS_SDK_ENVIRONMENT"):
            env.pop(name, None)
        env.update({
            "DIASPORA_ENVIRONMENT": "local",
            "DIASPORA_FABRIC_HOME": str(self.fabric_home),
            "DIASPORA_USER_DIR": str(self.user_dir),
            "DIASPORA_LOGIN_USERNAME": self.username,
            "DIASPORA_LOGIN_PASSWORD": self.password,
        })
        return env


def create_identity(fabric: Any, user_dir: Path | None = None, *,
                    prefix: str = "user") -> Identity:
    """Add an account with a random name and password to ``fabric``'s identity provider."""
    account = add_account(fabric, prefix=prefix)
    directory = user_dir or Path(tempfile.mkdtemp(prefix=f"diaspora-{account.username}-"))
    return Identity(username=account.username, password=account.password, id=account.id,
                    fabric_home=Path(fabric.home.root), user_dir=directory)


def login(identity: Identity) -> Client:
    """Log ``identity`` in programmatically and return its client."""
    client = identity.client()
    client.login()
    return client


@pytest.fixture
def sdk_identity(fabric: Any, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Callable[..., Identity]]:
    """A factory of fresh accounts on the session fabric, each with its own user dir."""

    def make(prefix: str = "user") -> Identity:
        return create_identity(fabric, tmp_path_factory.mktemp(f"{prefix}-dir"), prefix=prefix)

    yield make


@pytest.fixture
def sdk_client(sdk_identity: Callable[..., Identity]) -> Client:
    """A logged-in ``Client`` for a fresh account."""
    return login(sdk_identity())
