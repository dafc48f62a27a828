"""A standalone identity provider process (no broker, no service) for tests of the IdP itself.

Started by the fabric's own launcher (:func:`diaspora_notebook.fabric.webapps.idp_process`), so
it is the same command, log handling, readiness check and stop as in ``diaspora-fabric up``::

    with IdpServer.at(tmp_path / "home", access_token_lifetime=2) as idp:
        admin.add_user(idp.state_dir, "alice", "password")
        requests.get(idp.base_url + "healthz")

(A globus-sdk environment whose Auth service is this IdP:
``diaspora_notebook.testing.tokens.environment_for(idp.base_url)``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from diaspora_notebook.fabric import webapps
from diaspora_notebook.fabric.home import FabricHome
from diaspora_notebook.fabric.launcher import ManagedProcess, free_port, tail


class IdpServer:
    """One identity provider child process with its state in ``<home>/idp``.

    :param home: the home it keeps state, pid file and log in.
    :param port: its port on 127.0.0.1 (kept across restarts of the same object).
    :param access_token_lifetime: seconds an access token lives (default the IdP's).
    :param args: more command line options (``--login-lock-seconds 2`` ...).
    :param env: more environment variables for the process (``DIASPORA_IDP_*``).
    """

    def __init__(self, home: FabricHome, port: int, *,
                 access_token_lifetime: int | None = None, args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.port = port
        self.args = list(args)
        if access_token_lifetime is not None:
            self.args += ["--access-token-lifetime", str(access_token_lifetime)]
        self.env = dict(env or {})

    @classmethod
    def at(cls, root: str | Path, *, port: int | None = None,
           access_token_lifetime: int | None = None, args: Sequence[str] = (),
           env: Mapping[str, str] | None = None) -> IdpServer:
        """An IdP in the home ``root`` (created 0700 like a fabric's) on ``port`` or a free one."""
        home = FabricHome.resolve(root)
        home.ensure_dirs()
        return cls(home, port or free_port(), access_token_lifetime=access_token_lifetime,
                   args=args, env=env)

    @property
    def base_url(self) -> str:
        return webapps.url(self.port)

    @property
    def state_dir(self) -> Path:
        return self.home.idp_dir

    def _process(self) -> ManagedProcess:
        process = webapps.idp_process(self.home, self.port)
        process.argv = [*process.argv, *self.args]
        process.env = {**process.env, **self.env}
        return process

    def start(self) -> IdpServer:
        """Start and wait for ``/healthz`` (fails fast with the log's tail if it exits)."""
        process = self._process()
        process.start()
        process.wait_ready(lambda: webapps.healthy(self.port), webapps.START_TIMEOUT,
                           "GET /healthz answers 200")
        return self

    def stop(self) -> None:
        self._process().stop(timeout=10)

    def log(self) -> str:
        path = self._process().log_path
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self) -> str:
        return tail(self._process().log_path)

    def __enter__(self) -> IdpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def idp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., IdpServer]]:
    """A factory of started standalone IdPs (each in a fresh home), all stopped afterwards."""
    started: list[IdpServer] = []

    def make(*, port: int | None = None, access_token_lifetime: int | None = None,
             args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> IdpServer:
        server = IdpServer.at(tmp_path_factory.mktemp("idp-home"), port=port,
                              access_token_lifetime=access_token_lifetime, args=args, env=env)
        started.append(server.start())
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()
