"""``close()`` and ``with`` on the real parts: Fabric, its broker cluster, and Client."""

from __future__ import annotations

from pathlib import Path

import pytest

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.launcher import tagged_processes


class BodyFailed(Exception):
    pass


def test_running_stops_everything_even_when_the_block_fails(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pytest.raises(BodyFailed), Fabric.at(home).running() as fabric:
        assert fabric.is_running() and len(tagged_processes(str(fabric.home.root))) == 3
        with fabric.cluster() as cluster:  # leaving the block stops the brokers, only them
            assert cluster.running() == [1]
        assert fabric.cluster().running() == []
        raise BodyFailed
    assert tagged_processes(str(Fabric.at(home).home.root)) == []
    assert (home / "state.json").exists()  # close() is `down`: the home keeps its data


def test_a_closed_client_releases_its_sessions_and_still_works(sdk_identity, topic_name):
    person = sdk_identity("closing")
    with person.client() as client:
        client.login()
        client.register_topic(topic_name)
        web = client._web
        assert web is not None
    assert client._web is None  # the web client was closed and dropped
    # close() is no logout: the stored tokens serve the next call, through a new session
    assert topic_name in client.list_topics()["topics"]
    assert client._web is not None and client._web is not web
    client.close()
