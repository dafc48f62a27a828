"""The toolkit on the v3 API, against the REAL local fabric (``local-v3``: the same IdP, the
service's v3 routes, the brokers' IAM OAUTHBEARER listeners).

A v3 ``Client`` creates its user and topics, writes over HTTPS, and every reader (peek,
``explore.read`` and the explorer state, ``LiveDataFrame``) reads its topic through the IAM
token on both Kafka engines and through the consumer REST API (``engine="rest"``), naming the
topic without the namespace as the SDK does. v1 and v3 used side by side by one identity lose
nothing and see nothing of each other's names.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from diaspora_notebook import explore, topics
from diaspora_notebook.client import Client
from diaspora_notebook.environments import load_local
from diaspora_notebook.explore.state import ExplorerState
from diaspora_notebook.kafka import source as sources
from diaspora_notebook.login import ProgrammaticLoginFlowManager
from diaspora_notebook.stream import LiveDataFrame
from diaspora_notebook.testing.identities import Identity, login

ENGINES = ("confluent", "kafka-python", "rest")


def _topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def v3_client(identity: Identity) -> Client:
    """A logged-in ``local-v3`` client of ``identity`` (its user created)."""
    manager = ProgrammaticLoginFlowManager(identity.username, identity.password)
    client = Client(load_local(identity.fabric_home, api="v3"), user_dir=identity.user_dir,
                    login_flow_manager=manager)
    client.login()
    assert client.create_user()["status"] == "success"
    return client


@pytest.fixture
def alice(sdk_identity: Any) -> Iterator[Client]:
    client = v3_client(sdk_identity("v3tk"))
    yield client
    client.delete_user()
    client.close()


@pytest.fixture
def filled(alice: Client) -> str:
    """A v3 topic with 40 JSON documents written over HTTPS (no Kafka port used)."""
    topic = _topic()
    assert topics.register(topic, client=alice)["status"] == "success"
    produced = topics.produce(topic, [{"i": i, "s": f"v{i}"} for i in range(40)], key="k",
                              client=alice)
    assert produced.offsets == tuple((0, i) for i in range(40))
    return topic


def test_v3_client_surface_and_topic_commands(alice: Client) -> None:
    topic = _topic()
    ns = alice.namespace
    assert alice.api == "v3" and ns.startswith("ns-") and len(ns) == 15
    assert topics.register(topic, client=alice)["message"] == f"Topic {topic} created in {ns}"
    assert topics.names(client=alice) == [topic]
    assert alice.list_namespaces()["namespaces"] == {ns: [topic]}
    assert alice.kafka_topic(topic) == f"{ns}.{topic}"
    one = alice.produce(topic, {"a": 1}, key="k1", headers={"h": b"\x00\x01"})
    assert one["offset"] == 0
    batch = alice.produce_batch(topic, [{"value": b"\x00\xff"}, {"value": "text", "id": "x"}])
    assert [s["offset"] for s in batch["successes"]] == [1, 2] and not batch["failures"]
    info = topics.describe(topic, client=alice)
    assert (info.topic, info.on_broker, info.partitions, info.end_offsets) == (topic, True, 1, (3,))
    key = alice.retrieve_key()
    assert key["access_key"].startswith("AKIA") and key["username"] == key["access_key"]
    assert key["endpoint"].split(",") == list(alice.environment.bootstrap_servers)
    assert alice.recreate_topic(topic)["status"] == "success"
    assert topics.describe(topic, client=alice).end_offsets == (0,)
    with pytest.raises(Exception, match="Name must be between 3 and 32"):
        topics.register("ab", client=alice)
    with pytest.raises(Exception, match="v1 call"):
        alice.register_topic(topic)
    assert topics.unregister(topic, client=alice)["message"] == f"Topic {topic} deleted from {ns}"
    assert topics.names(client=alice) == []
    assert alice.delete_key()["status"] == "success"


@pytest.mark.parametrize("engine", ENGINES)
def test_peek_and_explore_read_a_v3_topic(alice: Client, filled: str, engine: str) -> None:
    df = topics.peek(filled, n=5, engine=engine, client=alice)
    assert df["i"].tolist() == [35, 36, 37, 38, 39]
    assert set(df["topic"]) == {filled} and set(df["key"]) == {"k"}
    first = topics.peek(filled, n=3, from_beginning=True, engine=engine, client=alice)
    assert first["s"].tolist() == ["v0", "v1", "v2"]
    page = explore.read(filled, start="earliest", limit=10, engine=engine, client=alice)
    assert page.frame["offset"].tolist() == list(range(10))
    back = explore.read(filled, start="latest", limit=4, engine=engine, client=alice)
    assert sorted(back.frame["offset"].tolist()) == [36, 37, 38, 39]
    found = explore.read(filled, start="earliest", filter="value.i >= 30", limit=50,
                         engine=engine, client=alice)
    assert sorted(found.frame["offset"].tolist()) == list(range(30, 40))


@pytest.mark.parametrize("engine", ENGINES)
def test_explorer_state_on_a_v3_topic(alice: Client, filled: str, engine: str) -> None:
    state = ExplorerState(filled, client=alice, page_size=10, engine=engine)
    try:
        state.load().result(timeout=60)
        page = state.page
        assert page is not None and len(page.frame) == 10
        assert state.all_partitions == [0]
    finally:
        state.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_live_dataframe_streams_a_v3_topic(alice: Client, filled: str, engine: str) -> None:
    live = LiveDataFrame(filled, client=alice, engine=engine, start="earliest")
    try:
        live.wait(n=40, timeout=60)
        topics.produce(filled, [{"i": 40 + i} for i in range(10)], client=alice)
        live.wait(n=50, timeout=60)
        df = live.df
    finally:
        live.stop()
    assert sorted(df["i"].astype(int)) == list(range(50))
    assert set(df["topic"]) == {filled}


def test_auto_reads_through_rest_when_the_brokers_are_closed(alice: Client, filled: str,
                                                             monkeypatch: Any) -> None:
    closed = ("127.0.0.1:9",)  # discard port: nothing listens on loopback
    monkeypatch.setattr(alice, "bootstrap_servers", lambda: closed)
    with pytest.warns(sources.EngineFallbackWarning, match="cannot be reached"):
        assert sources.pick_engine("auto", client=alice) == "rest"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sources.EngineFallbackWarning)
        df = topics.peek(filled, n=2, client=alice)
        details = explore.describe_topic(filled, client=alice)
    assert df["i"].tolist() == [38, 39]
    assert details.partition_details[0].latest == 40


def test_v1_and_v3_side_by_side_lose_nothing(sdk_identity: Any) -> None:
    identity = sdk_identity("v1v3")
    v1 = login(identity)
    v3 = v3_client(identity)
    try:
        name = _topic()
        topics.register(name, create=True, client=v1)
        topics.register(name, client=v3)  # the same short name in both APIs
        topics.produce(name, [{"api": "v1", "i": i} for i in range(5)], client=v1)
        topics.produce(name, [{"api": "v3", "i": i} for i in range(7)], client=v3)
        assert topics.names(client=v1) == [name]
        assert topics.names(client=v3) == [name]
        for engine in ("confluent", "kafka-python"):
            one = topics.peek(name, n=50, from_beginning=True, engine=engine, client=v1)
            three = topics.peek(name, n=50, from_beginning=True, engine=engine, client=v3)
            assert one["api"].tolist() == ["v1"] * 5 and one["i"].tolist() == list(range(5))
            assert three["api"].tolist() == ["v3"] * 7 and three["i"].tolist() == list(range(7))
        rest = topics.peek(name, n=50, from_beginning=True, engine="rest", client=v3)
        assert rest["api"].tolist() == ["v3"] * 7
        topics.unregister(name, client=v3)
        assert topics.peek(name, n=50, from_beginning=True, client=v1)["i"].tolist() == \
            list(range(5))
        topics.unregister(name, client=v1)
    finally:
        v3.delete_user()
        v3.close()
        v1.close()
