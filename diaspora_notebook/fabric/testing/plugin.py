"""pytest fixtures that start REAL local fabrics (see :mod:`diaspora_notebook.fabric.testing`).

Enable with ``pytest_plugins = ["diaspora_notebook.fabric.testing.plugin"]`` in a conftest:
this registers every fixture of the package. The session fabric lives in a temporary home and is
stopped (no JVM left behind) when the session ends. Without java the fixture fails with the
error that says what to install: integration tests never skip.

Tests that stop, restart or kill processes use ``own_fabric`` (or
``Fabric.at(home).running()``), never the session fabric other tests share.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.testing.idp import idp_server
from diaspora_notebook.fabric.testing.secrets import record_issued_secrets

__all__ = ["fabric", "idp_server", "own_fabric", "record_issued_secrets", "topic_name"]


@pytest.fixture(scope="session")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    """One single-broker fabric for the whole session (or the one at DIASPORA_TEST_FABRIC_HOME)."""
    external = os.environ.get("DIASPORA_TEST_FABRIC_HOME")
    if external:
        yield Fabric.at(external)
        return
    with Fabric.at(tmp_path_factory.mktemp("fabric-home")).running() as fab:
        yield fab


@pytest.fixture
def own_fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Fabric]]:
    """A factory of fabrics of the test's own: ``own_fabric(brokers=3)``; all stopped after."""
    with contextlib.ExitStack() as stack:

        def make(**up_options: Any) -> Fabric:
            home = Path(tmp_path_factory.mktemp("own-fabric"))
            return stack.enter_context(Fabric.at(home).running(**up_options))

        yield make


@pytest.fixture
def topic_name() -> str:
    """A fresh topic name per test, so tests never see each other's data."""
    return f"t-{uuid.uuid4().hex[:12]}"
