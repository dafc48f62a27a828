"""The UNMODIFIED diaspora-event-sdk 0.5.1, in a virtualenv of its own, against the fabric.

The SDK pins kafka-python < 3, so it never goes into the project's venv: the test builds
``$DIASPORA_SDK_VENV`` (or a venv in the pytest cache, kept across runs) with
``pip install 'diaspora-event-sdk[kafka-python]==0.5.1'``. The SDK's ``local`` environment calls
``http://localhost:8000``: when the session fabric's service is elsewhere, the test runs a second
replica of it on 127.0.0.1:8000 (same config, same Kafka and IdP). The environment comes from
``diaspora-fabric sdk-env``'s function.

The journey: users, keys, namespaces and topics over HTTP, records over HTTPS and the consumer
REST API, then the SDK's own ``KafkaProducer`` / ``KafkaConsumer`` (kafka-python 2.x,
OAUTHBEARER with the SDK's SigV4 ``generate_auth_token``, the fabric CA through
``SSL_CERT_FILE`` only) through the brokers' IAM listener, and a deleted key: refused at once
for a new connection, and on an open producer's connection within the broker's session window
(``connections.max.reauth.ms``, 30 s by default: the broker closes the session, kafka-python
2.x reconnects with a token of the deleted key, which the broker refuses).

Then the SDK's example notebooks (``DiasporaDemo.ipynb``, ``ConsumerRESTDemo.ipynb`` from its
wheel) run with nbclient in a kernel of the SDK's venv, every cell except the explicit,
documented :data:`OFFLINE_CHANGES` (docs/v3.md says the same).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from diaspora_notebook.fabric.broker.config import reauth_ms
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.launcher import port_is_free
from diaspora_notebook.fabric.sdk_env import SDK_SERVICE_PORT, sdk_environment

SDK_REQUIREMENT = "diaspora-event-sdk[kafka-python]==0.5.1"
KERNEL_REQUIREMENT = "ipykernel"  # to run the SDK's example notebooks in its own venv
SDK_KERNEL = "diaspora-event-sdk-0.5.1"

JOURNEY = textwrap.dedent('''
    import datetime, json, os, sys
    from diaspora_event_sdk import Client, RESTConsumer
    out = {}
    c = Client()
    out["namespace"] = c.namespace
    out["create_user"] = c.create_user()
    out["create_key"] = c.create_key()
    out["create_key_again"] = c.create_key()
    out["create_topic"] = c.create_topic("journey")
    out["list"] = c.list_namespaces()
    out["produce"] = c.produce("journey", {"a": 1}, key="k1", headers={"h": b"\\x00\\x01"},
                               timestamp=datetime.datetime(2026, 3, 1,
                                                           tzinfo=datetime.timezone.utc))
    out["batch"] = c.produce_batch("journey", [{"value": "done"},
                                               {"id": "x", "value": b"\\x00\\xff", "key": 5}])
    with RESTConsumer("g1", client=c, format="binary", auto_offset_reset="earliest",
                      consumer_request_timeout_ms=3000) as rc:
        rc.subscribe(["journey"])
        records = []
        for _ in range(10):
            records += rc.fetch(timeout_ms=3000)
            if len(records) >= 3:
                break
        out["records"] = [[r.offset if hasattr(r, "offset") else r["offset"]] for r in records]
        out["values"] = [repr(r.value if hasattr(r, "value") else r["value"]) for r in records]
        rc.commit()
        out["committed"] = {f"{t}:{p}": o for (t, p), o in rc.committed([("journey", 0)]).items()}
        rc.commit({("journey", 0): 0})
        out["committed_after"] = {f"{t}:{p}": o
                                  for (t, p), o in rc.committed([("journey", 0)]).items()}
    with RESTConsumer("g2", client=c, format="json", auto_offset_reset="earliest") as rj:
        rj.subscribe(["journey"])
        got = []
        for _ in range(10):
            got += rj.fetch(timeout_ms=3000)
            if len(got) >= 3:
                break
        out["json_values"] = [repr(r.value if hasattr(r, "value") else r["value"]) for r in got]
    # Kafka itself through IAM: the SDK's wrappers (kafka-python 2.x, OAUTHBEARER, SigV4)
    import time
    import kafka
    from kafka.errors import KafkaError
    from diaspora_event_sdk.sdk.kafka_client import (KafkaConsumer, KafkaProducer,
                                                     MSKTokenProvider)
    out["iam_topic"] = c.create_topic("iam")
    kafka_topic = f"{c.namespace}.iam"
    p = KafkaProducer(kafka_topic)
    out["endpoint_env"] = os.environ["OCTOPUS_BOOTSTRAP_SERVERS"]
    out["iam_offsets"] = [p.send(kafka_topic, {"i": i}).get(timeout=30).offset for i in range(3)]
    consumer = KafkaConsumer(kafka_topic, auto_offset_reset="earliest")
    got, deadline = [], time.monotonic() + 60
    while len(got) < 3 and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=2000).values():
            got += [json.loads(m.value) for m in batch]
    consumer.close()
    out["iam_consumed"] = got
    out["recreate"] = c.recreate_topic("journey")
    out["delete_topic"] = c.delete_topic("journey")
    out["delete_key"] = c.delete_key()
    # a new connection with the deleted key (the SDK's token provider, the old key still in
    # OCTOPUS_*; the SDK's own KafkaProducer would create a new key) is refused
    try:
        kafka.KafkaProducer(bootstrap_servers=out["endpoint_env"], security_protocol="SASL_SSL",
                            sasl_mechanism="OAUTHBEARER", api_version=(3, 8, 1),
                            sasl_oauth_token_provider=MSKTokenProvider(), max_block_ms=10000,
                            request_timeout_ms=10000).send(kafka_topic, b"x").get(timeout=15)
        out["new_connection_after_delete"] = "accepted"
    except Exception as exc:
        out["new_connection_after_delete"] = type(exc).__name__
    # the producer opened before stops working within the broker's session window
    started, out["open_connection_after_delete"] = time.monotonic(), None
    while time.monotonic() - started < WINDOW_S:
        try:
            p.send(kafka_topic, {"after": "delete"}).get(timeout=5)
        except (KafkaError, Exception) as exc:
            out["open_connection_after_delete"] = [type(exc).__name__,
                                                   round(time.monotonic() - started, 1)]
            break
        time.sleep(1)
    p.close(timeout=5)
    out["delete_topic_iam"] = c.delete_topic("iam")
    out["delete_user"] = c.delete_user()
    out["list_after"] = c.list_namespaces()
    print("JOURNEY " + json.dumps(out, default=str))
''')
SLACK_S = 30  # reconnect backoff, a send's own timeout, a slow CI machine


def _sdk_python(config: pytest.Config) -> Path:
    explicit = os.environ.get("DIASPORA_SDK_VENV")
    venv = Path(explicit) if explicit else config.cache.mkdir("diaspora-event-sdk-0.5.1-venv")
    python = venv / "bin" / "python"
    ready = venv / ".installed"
    if not ready.exists():
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", SDK_REQUIREMENT],
                       check=True, timeout=900)
        ready.write_text(SDK_REQUIREMENT + "\n")
    return python


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture
def service_on_8000(fabric: Fabric, tmp_path: Path) -> Iterator[None]:
    """The fabric's web service answering on localhost:8000, as the SDK expects."""
    state = fabric.state()
    assert state is not None
    if state.service_port == SDK_SERVICE_PORT:
        yield
        return
    if not port_is_free(SDK_SERVICE_PORT):
        pytest.fail(f"port {SDK_SERVICE_PORT} is taken by another program: the SDK's local "
                    "environment needs it for the web service")
    log = (tmp_path / "service-8000.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "diaspora_notebook.fabric.service", "--host", "127.0.0.1",
         "--port", str(SDK_SERVICE_PORT), "--config",
         str(fabric.home.service_dir / "config.json")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(SDK_SERVICE_PORT):
            assert process.poll() is None, "the service replica on port 8000 exited"
            assert time.monotonic() < deadline, "the service replica on 8000 did not start"
            time.sleep(0.3)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_sdk_journey_over_http(fabric: Fabric, service_on_8000: None, tmp_path: Path,
                               request: pytest.FixtureRequest) -> None:
    python = _sdk_python(request.config)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DIASPORA_", "GLOBUS_SDK_"))}
    env.update(sdk_environment(fabric, new_client=True, user_dir=tmp_path / "sdk-user"))
    done = subprocess.run([str(python), "-c", JOURNEY], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("JOURNEY "))
    out = json.loads(line[len("JOURNEY "):])
    ns = out["namespace"]
    assert env["DIASPORA_SDK_CLIENT_ID"].replace("-", "").endswith(ns[3:])
    assert out["create_user"]["status"] == "success"
    key = out["create_key"]
    assert key["status"] == "success" and key["fresh"] is True and key["endpoint"]
    assert out["create_key_again"]["access_key"] == key["access_key"]
    assert out["create_key_again"]["fresh"] is False
    assert out["create_topic"]["topics"] == ["journey"]
    assert out["list"]["namespaces"] == {ns: ["journey"]}
    assert out["produce"]["offset"] == 0
    assert [s["offset"] for s in out["batch"]["successes"]] == [1, 2]
    assert out["records"] == [[0], [1], [2]]
    assert out["values"] == [repr(b'{"a":1}'), repr(b'"done"'), repr(b"\x00\xff")]
    assert out["committed"] == {"journey:0": 3}
    assert out["committed_after"] == {"journey:0": 1}
    assert out["json_values"][:2] == [repr({"a": 1}), repr("done")]
    assert out["recreate"] == {"status": "success", "message": "Topic recreated"}
    assert out["delete_topic"]["status"] == "success" and out["delete_topic"]["topics"] == []
    assert out["delete_key"]["status"] == "success"
    assert out["delete_user"]["status"] == "success"
    assert out["list_after"]["namespaces"] == {}
