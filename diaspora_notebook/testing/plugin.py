"""pytest fixtures that start a REAL local fabric once per test session.

Enable with ``pytest_plugins = ["diaspora_notebook.testing.plugin"]`` in a conftest. The fabric
lives in a temporary home and is stopped (no JVM left behind) when the session ends. Without java
the fixture fails with the error that says what to install: integration tests never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from diaspora_notebook.fabric.fabric import Fabric


def start_fabric(home: Path, *, brokers: int = 1) -> Fabric:
    """Start a fabric in ``home`` (stopping it again if any part fails to come up)."""
    fabric = Fabric.at(home)
    try:
        fabric.up(brokers=brokers)
    except BaseException:
        fabric.down(timeout=10)
        raise
    return fabric


@pytest.fixture(scope="session")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    """One single-broker fabric for the whole session (or the one at DIASPORA_TEST_FABRIC_HOME)."""
    external = os.environ.get("DIASPORA_TEST_FABRIC_HOME")
    if external:
        yield Fabric.at(external)
        return
    home = tmp_path_factory.mktemp("fabric-home")
    fab = start_fabric(home)
    try:
        yield fab
    finally:
        fab.down(timeout=15)


@pytest.fixture
def topic_name() -> str:
    """A fresh topic name per test, so tests never see each other's data."""
    return f"t-{uuid.uuid4().hex[:12]}"
