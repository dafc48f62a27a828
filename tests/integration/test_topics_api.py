"""``diaspora_notebook.topics`` from a script: the plain API the magics and widgets call,
against the real broker, service and identity provider."""

from __future__ import annotations

import pandas as pd
import pytest

from diaspora_notebook import topics
from diaspora_notebook.client import _reset_default_clients
from diaspora_notebook.errors import (
    KafkaAccessDeniedError,
    TopicExistsError,
    TopicMissingError,
)
from diaspora_notebook.testing.identities import login


def test_script_journey_with_an_explicit_client(sdk_identity, topic_name):
    client = login(sdk_identity("script"))
    assert topics.describe(topic_name, client=client) == topics.TopicInfo(topic_name, False)
    result = topics.register(topic_name, create=True, partitions=2, client=client)
    assert result["status"] == "success" and "2 partition(s)" in result["message"]
    with pytest.raises(TopicExistsError) as exists:
        topics.create(topic_name, client=client)
    assert exists.value.topic == topic_name and "topics.delete(" in exists.value.hint
    produced = topics.produce(topic_name, [{"n": i, "deep": {"x": i}} for i in range(5)],
                              key="k", client=client)
    assert produced.count == 5 and produced.topic == topic_name
    assert {p for p, _ in produced.offsets} == {0}  # one key: one partition
    assert produced.summary() == "partition 0: offsets 0-4"
    assert topics.produce(topic_name, {"n": 5}, key="k", client=client).count == 1  # one doc
    info = topics.describe(topic_name, client=client)
    assert info.on_broker and info.partitions == 2 and info.messages == 6
    assert topic_name in topics.names(client=client)
    frame = topics.table(client=client)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(topics.TOPIC_COLUMNS)
    assert frame.set_index("topic").loc[topic_name, "messages"] == 6
    last = topics.peek(topic_name, 2, client=client)
    assert list(last["n"]) == [4, 5] and list(last["key"]) == ["k", "k"]
    first = topics.peek(topic_name, 3, from_beginning=True, client=client)
    assert list(first["n"]) == [0, 1, 2] and list(first["deep.x"]) == [0, 1, 2]
    assert topics.delete(topic_name, client=client)["status"] == "success"
    assert not topics.describe(topic_name, client=client).on_broker
    with pytest.raises(TopicMissingError) as missing:
        topics.peek(topic_name, client=client)
    assert missing.value.topic == topic_name
    assert f"topics.create({topic_name!r})" in missing.value.hint
    gone = topics.unregister(topic_name, client=client)
    assert gone["status"] == "success" and "did not exist on the brokers" in gone["message"]
    assert topic_name not in topics.names(client=client)


def test_default_client_and_errors_that_name_the_python_call(monkeypatch, sdk_identity,
                                                             topic_name):
    person = sdk_identity("default")
    for name, value in person.subprocess_env({}).items():
        monkeypatch.setenv(name, value)
    _reset_default_clients()
    try:
        with pytest.raises(KafkaAccessDeniedError) as denied:  # never registered
            topics.produce(topic_name, [{"x": 1}])
        assert denied.value.topic == topic_name
        assert f"topics.register({topic_name!r})" in denied.value.hint
        topics.register(topic_name, create=True)
        assert topics.produce(topic_name, [{"x": 1}]).offsets == ((0, 0),)
        assert list(topics.peek(topic_name)["x"]) == [1]
        topics.unregister(topic_name)
    finally:
        _reset_default_clients()


@pytest.mark.parametrize("engine", ["confluent", "kafka-python"])
def test_peek_reads_through_the_engine_across_partitions(sdk_identity, topic_name, engine):
    """peek merges every partition in timestamp order and takes at most n of each, on both
    engines."""
    client = login(sdk_identity("peek"))
    topics.register(topic_name, create=True, partitions=3, client=client)
    for i in range(12):  # one send per call: increasing timestamps; keys hash to 2+ partitions
        topics.produce(topic_name, {"n": i}, key=f"k{i % 3}", client=client)
    newest = topics.peek(topic_name, 4, client=client, engine=engine)
    assert list(newest["n"]) == [8, 9, 10, 11]
    oldest = topics.peek(topic_name, 4, from_beginning=True, client=client, engine=engine)
    assert list(oldest["n"]) == [0, 1, 2, 3]
    every = topics.peek(topic_name, 12, client=client, engine=engine)
    assert list(every["n"]) == list(range(12)) and every["partition"].nunique() >= 2
