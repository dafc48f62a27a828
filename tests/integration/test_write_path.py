"""The write path against the real fabric, on both engines: DataFrames in with per-row keys,
headers and timestamps; export -> replay -> read gives the same events back; a real partial
failure (rows larger than the topic allows) names the rows and is retried in one call."""

from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from diaspora_notebook import topics
from diaspora_notebook.testing.identities import login

ENGINES = ["confluent", "kafka-python"]
T0 = pd.Timestamp("2026-01-01", tz="UTC")


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def readings(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "seq": range(n), "sensor": [f"s{i % 4}" for i in range(n)],
        "reading.temp": [20.0 + i / 10 for i in range(n)], "reading.ok": [i % 3 != 0
                                                                          for i in range(n)],
        "at": [T0 + pd.Timedelta(milliseconds=37 * i) for i in range(n)],
        "run": [{"run": f"r{i % 2}", "bin": "x\u00e9"} for i in range(n)]})


def comparable(frame: pd.DataFrame, with_time: bool) -> list[tuple]:
    """Per partition, in offset order: key, payload, headers (and time)."""
    rows = frame.sort_values(["partition", "offset"])
    return sorted(
        (int(p), k, json.dumps(v, sort_keys=True), json.dumps(h, sort_keys=True),
         t.value if with_time else None, i)
        for i, (p, k, v, h, t) in enumerate(zip(rows["partition"], rows["key"], rows["value"],
                                                rows["headers"], rows["timestamp"],
                                                strict=True)))


@pytest.mark.parametrize("engine", ENGINES)
def test_produce_export_replay_read_round_trip(sdk_identity, tmp_path, engine):
    client = login(sdk_identity(f"write-{engine[:5]}"))
    source, target = fresh("w-src"), fresh("w-dst")
    for name in (source, target):
        topics.register(name, create=True, partitions=3, client=client)
    frame = readings(40)
    done = topics.produce(source, frame.drop(columns=["run"]), key="sensor", timestamp="at",
                          headers=topics.literal({"run": "r1"}), engine=engine, client=client)
    assert done.count == 40 and len(done.offsets) == 40
    first = topics.read(source, start="earliest", limit=1000, client=client)
    assert len(first.frame) == 40
    row = first.frame.sort_values("value.seq").iloc[1]
    assert row["key"] == "s1" and row["headers"] == {"run": "r1"}
    assert row["value"] == {"seq": 1, "sensor": "s1", "reading": {"temp": 20.1, "ok": True},
                            "at": row["value"]["at"]}
    assert pd.Timestamp(row["value"]["at"]) == T0 + pd.Timedelta(milliseconds=37)
    assert row["timestamp"] == T0 + pd.Timedelta(milliseconds=37)
    # one key, one partition, whichever engine wrote it (murmur2, as Java and kafka-python)
    assert first.frame.groupby("key")["partition"].nunique().max() == 1
    path = topics.export(first, tmp_path / "run.parquet")
    handle = topics.replay(path, target, speed="max", keep_timestamps=True, engine=engine,
                           client=client)
    handle.wait(120)
    assert handle.progress["state"] == "done" and handle.progress["delivered"] == 40
    again = topics.read(target, start="earliest", limit=1000, client=client)
    assert comparable(again.frame, True) == comparable(first.frame, True)
    # paced: 40 events 37 ms apart at speed 4 take ~0.36 s; new timestamps when not kept
    third = fresh("w-paced")
    topics.register(third, create=True, partitions=3, client=client)
    paced = topics.replay(source, third, speed=4.0, engine=engine, client=client).wait(60)
    assert paced.lateness()["rows"] == 40 and paced.lateness()["p99"] < 100
    back = topics.read(third, start="earliest", limit=1000, client=client).frame
    assert comparable(back, False) == comparable(first.frame, False)
    assert back["timestamp"].min() > pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=5)


@pytest.mark.parametrize("engine", ENGINES)
def test_rows_too_large_for_the_topic_fail_by_row_and_retry_in_one_call(sdk_identity, engine):
    client = login(sdk_identity(f"big-{engine[:5]}"))
    name = fresh("w-small-max")
    topics.register(name, client=client)
    admin = AdminClient({**client.connection_config("confluent-kafka")})
    admin.create_topics([NewTopic(name, 1, 1, config={"max.message.bytes": "2000"})])[
        name].result(30)
    big = {3, 11}
    rows = [{"seq": i, "pad": "x" * (5000 if i in big else 10)} for i in range(15)]
    with pytest.raises(topics.ProduceError) as failed:
        topics.produce(name, rows, engine=engine, client=client)
    err = failed.value
    assert big <= set(err.failed_indices), err.failed_indices
    assert err.produced.count + err.failed_count == 15
    assert f"of 15 rows did not land on {name!r}" in str(err)
    assert "TOOLARGE" in str(err).upper().replace("_", "") and "retry()" in err.hint
    assert "max.message.bytes" in err.hint
    landed = topics.read(name, start="earliest", limit=100, client=client).frame
    assert len(landed) == err.produced.count  # what the error says landed, did
    assert not big & set(landed.get("value.seq", []))
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("max.message.bytes", str(1 << 20),
                    incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)
    again = err.retry()
    assert again.count == err.failed_count
    every = topics.read(name, start="earliest", limit=100, client=client).frame
    assert sorted(every["value.seq"]) == list(range(15))  # each row once, nothing dropped


@pytest.fixture
def shell(monkeypatch, sdk_identity):
    from IPython.core.interactiveshell import InteractiveShell

    identity = sdk_identity("nb-write")
    for name in ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET",
                 "DIASPORA_ENVIRONMENTS_FILE", "JUPYTERHUB_SERVICE_PREFIX",
                 "DIASPORA_VERBOSE_ERRORS", "DIASPORA_WIDGETS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in identity.subprocess_env({}).items():
        monkeypatch.setenv(name, value)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "diaspora_notebook")
    yield sh
    sh.run_cell("%diaspora_logout")
    sh.run_line_magic("unload_ext", "diaspora_notebook")
    sh.config.pop("Diaspora", None)


def run(sh, code):
    result = sh.run_cell(code)
    assert result.success, f"{code!r} failed: {result.error_in_exec!r}"
    return result.result


def test_produce_magic_fields_csv_and_the_replay_magic(shell):
    from diaspora_notebook.notebook.widgets.replay import ReplayProgress

    run(shell, "%diaspora_login")
    src, dst = fresh("w-magic"), fresh("w-magic-dst")
    run(shell, f"%diaspora_register {src} --create")
    run(shell, f"%diaspora_register {dst} --create")
    lines = run(shell, f"%%diaspora_produce {src} --key-field dev --timestamp-field at\n"
                       '{"dev": "d1", "at": "2026-01-01T00:00:01Z", "v": 1}\n'
                       '{"dev": "d2", "at": "2026-01-01T00:00:02Z", "v": 2}\n')
    assert lines["count"] == 2
    csv = run(shell, f"%%diaspora_produce {src} --key-field dev --timestamp-field at\n"
                     "dev,at,v\nd3,2026-01-01T00:00:03Z,3\nd4,2026-01-01T00:00:04Z,4.5\n")
    assert csv["count"] == 2
    frame = run(shell, f"%diaspora_peek {src} -n 4 --from-beginning")
    assert list(frame["key"]) == ["d1", "d2", "d3", "d4"] and list(frame["v"]) == [1, 2, 3, 4.5]
    assert [t.second for t in frame["timestamp"]] == [1, 2, 3, 4]
    shown = run(shell, f"%diaspora_replay {src} {dst} --speed max --keep-timestamps -o rp")
    assert isinstance(shown, ReplayProgress)
    shell.user_ns["rp"].wait(60)
    shown.update()
    assert shown.bar.value == 4 and "done" in shown.line.value
    again = run(shell, f"%diaspora_peek {dst} -n 4 --from-beginning")
    assert list(again["key"]) == ["d1", "d2", "d3", "d4"]
    assert list(again["timestamp"]) == list(frame["timestamp"])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_topic_you_may_not_write_is_one_clear_error(sdk_identity, engine):
    from diaspora_notebook.errors import KafkaAccessDeniedError

    owner = login(sdk_identity(f"own-{engine[:5]}"))
    stranger = login(sdk_identity(f"str-{engine[:5]}"))  # holds no topic at all
    name = fresh("w-theirs")
    topics.register(name, create=True, client=owner)
    with pytest.raises(KafkaAccessDeniedError) as denied:
        topics.produce(name, [{"x": 1}], engine=engine, client=stranger)
    assert name in str(denied.value) and "grant" in denied.value.hint
    nobody = login(sdk_identity(f"none-{engine[:5]}"))  # no topic: no producer id either
    with pytest.raises(KafkaAccessDeniedError):
        topics.produce(fresh("w-never"), [{"x": 1}], engine=engine, client=nobody)
