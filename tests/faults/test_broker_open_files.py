"""A broker that died of its open-file limit comes back with `up`, nothing acked lost
(issue 27: "the broker survives and recovers").

A fabric of this module's own starts its broker with a low open-file limit
(``DIASPORA_FABRIC_BROKER_OPEN_FILES``); events are produced with ``acks=all``; then the admin
creates topics of 32 partitions until the broker dies with "Too many open files" (bounded in
count and time). `up` at the same limit refuses in one error that counts the partition folders
on disk and names the one command that repairs it; `up` at the default limit brings the broker
back, and every acknowledged event is read back.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from kafka import KafkaProducer

from diaspora_notebook.fabric.broker.cluster import check_data_fits
from diaspora_notebook.fabric.broker.config import OPEN_FILES_VARIABLE
from diaspora_notebook.fabric.errors import FabricStartError

from .helpers import own_fabric, topic_records, wait_until

LOW_LIMIT = 1536
ACKED = 200
MAX_TOPICS = 60           # 1,920 partitions at most: more than LOW_LIMIT holds
MAX_SECONDS = 240.0


def test_a_broker_killed_by_its_open_file_limit_comes_back_with_up(tmp_path, monkeypatch):
    monkeypatch.setenv(OPEN_FILES_VARIABLE, str(LOW_LIMIT))
    with own_fabric(tmp_path / "home") as fabric:
        node = fabric.cluster().node(1)
        admin = fabric.admin_client(request_timeout_ms=20000)
        keep = "kept-events"
        admin.create_topics({keep: {"num_partitions": 1, "replication_factor": 1}})
        producer = KafkaProducer(**fabric.admin_config(), acks="all", max_block_ms=30000)
        try:
            for i in range(ACKED):
                producer.send(keep, json.dumps({"id": i}).encode()).get(timeout=30)
        finally:
            producer.close(timeout=10)

        started = time.monotonic()
        created = 0
        # the controller accepts topics faster than the broker opens their partitions: stop
        # asking once well past the limit, then wait for the broker to get there and die
        while node.process.is_running() and created < MAX_TOPICS \
                and time.monotonic() - started < MAX_SECONDS:
            try:
                admin.create_topics({f"filler-{created}": {"num_partitions": 32,
                                                           "replication_factor": 1}})
            except Exception:  # the broker going down mid-request
                time.sleep(0.5)
            created += 1
        admin.close()
        wait_until(lambda: "Too many open files" in node.server_log.read_text(errors="replace"),
                   MAX_SECONDS, f"the broker to run out of files ({created} topics of 32 "
                   f"partitions at {LOW_LIMIT} files)")
        # Kafka either exits ("Shutdown broker because all log dirs ... have failed") or logs
        # a metadata publishing fault and limps on without its new partitions; a broker still
        # running after a minute is stopped, as `diaspora-fabric down` would
        try:
            wait_until(lambda: not node.process.is_running(), 60, "the broker to exit")
        except AssertionError:
            fabric.cluster().kill(1)
        print(f"\nthe broker died after {created} topics of 32 partitions "
              f"({time.monotonic() - started:.0f} s)")

        # at the same limit, `up` says what is wrong and the one command that repairs it
        with pytest.raises(FabricStartError) as refused:
            fabric.up()
        message = str(refused.value)
        assert "partition folders" in message and str(LOW_LIMIT) in message, message
        assert f"{OPEN_FILES_VARIABLE}=" in refused.value.hint
        assert "diaspora-fabric up" in refused.value.hint
        assert not node.process.is_running()
        assert "nothing was started" in refused.value.hint

        # at the default limit it comes back (recovering every partition after the crash takes
        # a while), with every acknowledged event
        monkeypatch.delenv(OPEN_FILES_VARIABLE)
        fabric.up()
        assert node.process.is_running()
        values = sorted(value["id"] for _p, _o, value in topic_records(fabric, keep, timeout=120))
        assert values == list(range(ACKED))


def test_up_counts_the_partition_folders_and_removes_deleted_ones(tmp_path):
    data = tmp_path / "data"
    for i in range(600):
        (data / f"t-{i}").mkdir(parents=True)
        (data / f"t-{i}" / "00000000000000000000.log").touch()
    for i in range(50):  # topics Kafka had already deleted: removed before the count
        (data / f"gone-{i}.0123456789abcdef-delete").mkdir()
    node = SimpleNamespace(node_id=1, data_dir=data)
    with pytest.raises(FabricStartError) as refused:
        check_data_fits(node, 1536)  # type: ignore[arg-type]
    assert "600 partition folders" in str(refused.value)
    assert f"{OPEN_FILES_VARIABLE}=2048 diaspora-fabric up" in refused.value.hint
    assert not list(data.glob("*-delete"))
    check_data_fits(node, 4096)  # type: ignore[arg-type]
