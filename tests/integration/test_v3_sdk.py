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
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

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
    from diaspora_event_sdk.sdk.kafka_client import (KafkaConsumer, KafkaProducer,
                                                     MSKTokenProvider)
    out["iam_topic"] = c.create_topic("iam")
    kafka_topic = f"{c.namespace}.iam"
    p = KafkaProducer(kafka_topic, max_block_ms=10000)  # the SDK passes configs on
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
    fresh = kafka.KafkaProducer(
        bootstrap_servers=out["endpoint_env"], security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER", api_version=(3, 8, 1),
        sasl_oauth_token_provider=MSKTokenProvider(), max_block_ms=10000,
        request_timeout_ms=10000)
    try:
        fresh.send(kafka_topic, b"x").get(timeout=15)
        out["new_connection_after_delete"] = "accepted"
    except Exception as exc:
        out["new_connection_after_delete"] = type(exc).__name__
    try:
        fresh.close(timeout=1)
    except Exception:
        pass
    # the producer opened before stops working within the broker's session window
    started, out["open_connection_after_delete"] = time.monotonic(), None
    while time.monotonic() - started < WINDOW_S:
        try:
            p.send(kafka_topic, {"after": "delete"}).get(timeout=5)
        except Exception as exc:  # any failure: a timeout, an authentication error
            out["open_connection_after_delete"] = [type(exc).__name__,
                                                   round(time.monotonic() - started, 1)]
            break
        time.sleep(1)
    try:
        p.close(timeout=5)
    except Exception:  # its last send cannot be delivered any more: that was the point
        pass
    out["delete_topic_iam"] = c.delete_topic("iam")
    out["delete_user"] = c.delete_user()
    out["list_after"] = c.list_namespaces()
    print("JOURNEY " + json.dumps(out, default=str))
''')
SLACK_S = 30  # reconnect backoff, a send's own timeout, a slow CI machine


def _sdk_python(config: pytest.Config) -> Path:
    """The SDK venv's python (built once, with ipykernel for the notebooks; needs PyPI once)."""
    explicit = os.environ.get("DIASPORA_SDK_VENV")
    cache = getattr(config, "cache", None)  # None under `-p no:cacheprovider`
    if explicit:
        venv = Path(explicit)
    elif cache is not None:
        venv = cache.mkdir("diaspora-event-sdk-0.5.1-venv")
    else:
        venv = Path(tempfile.gettempdir()) / "diaspora-event-sdk-0.5.1-venv"
    python = venv / "bin" / "python"
    ready = venv / ".installed"
    wanted = [SDK_REQUIREMENT, KERNEL_REQUIREMENT]
    if not ready.exists() or ready.read_text().split() != wanted:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted],
                       check=True, timeout=900)
        ready.write_text("\n".join(wanted) + "\n")
    return python


def _sdk_env(fabric: Fabric, user_dir: Path) -> dict[str, str]:
    """This process's environment minus any Diaspora/Globus settings, plus ``sdk-env``'s for a
    fresh confidential client (so a fresh identity and namespace)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DIASPORA_", "GLOBUS_SDK_", "OCTOPUS_"))}
    env.update(sdk_environment(fabric, new_client=True, user_dir=user_dir))
    return env


def _iam_session_s(fabric: Fabric) -> float:
    """The IAM listener's session window (``connections.max.reauth.ms``) in seconds."""
    props = (fabric.home.node_dir(1) / "server.properties").read_text()
    for line in props.splitlines():
        if line.startswith("listener.name.") and ".oauthbearer.connections.max.reauth.ms=" in line:
            return int(line.split("=", 1)[1]) / 1000
    raise AssertionError("the brokers' IAM listener sets no connections.max.reauth.ms")


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
    env = _sdk_env(fabric, tmp_path / "sdk-user")
    window = _iam_session_s(fabric)
    script = f"WINDOW_S = {window + SLACK_S}\n" + JOURNEY
    done = subprocess.run([str(python), "-c", script], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("JOURNEY "))
    out = json.loads(line[len("JOURNEY "):])
    ns = out["namespace"]
    assert env["DIASPORA_SDK_CLIENT_ID"].replace("-", "").endswith(ns[3:])
    assert out["create_user"]["status"] == "success"
    key = out["create_key"]
    assert key["status"] == "success" and key["fresh"] is True
    # the endpoint is the brokers' IAM listener, which the SDK's Kafka clients reach
    iam = fabric.describe()["kafka"]["iam_bootstrap_servers"]
    assert key["endpoint"] == out["endpoint_env"] == ",".join(iam)
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
    assert out["iam_offsets"] == [0, 1, 2]
    assert out["iam_consumed"] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert out["recreate"] == {"status": "success", "message": "Topic recreated"}
    assert out["delete_topic"]["status"] == "success"
    assert out["delete_topic"]["topics"] == ["iam"]
    assert out["delete_key"]["status"] == "success"
    assert out["new_connection_after_delete"] != "accepted"
    stopped = out["open_connection_after_delete"]
    assert stopped is not None, f"the deleted key still worked {window + SLACK_S:g} s later"
    assert stopped[1] <= window + SLACK_S, stopped
    assert out["delete_topic_iam"]["status"] == "success"
    assert out["delete_topic_iam"]["topics"] == []
    assert out["delete_user"]["status"] == "success"
    assert out["list_after"]["namespaces"] == {}


# -- the SDK's example notebooks ---------------------------------------------------------------
# Every cell runs, against the fabric, offline, except these changes (docs/v3.md lists them):
OFFLINE_CHANGES: dict[str, dict[str, Any]] = {
    "DiasporaDemo.ipynb": {
        # cell 9's first line installs the SDK from its source tree (`../../.`) with pip, which
        # needs that tree and PyPI; the SDK venv already has the SDK and kafka-python 2.x. The
        # rest of the cell (imports, Client()) runs.
        "drop_lines": {9: "%pip install -e '../../.[kafka-python]'"},
        # cells 2 and 4 run, but set DIASPORA_SDK_CLIENT_ID/SECRET to placeholders and then
        # remove them (to show the two app types), so cell 9's Client() would start an
        # interactive browser login; this one added cell puts the fabric's client back
        "insert_after": {4: "import os\nos.environ.update(json.loads(os.environ['"
                            "DIASPORA_FABRIC_SDK_CREDENTIALS']))"},
    },
    # every cell as it is; it expects an account that has its namespace already (as after
    # DiasporaDemo's create_user), so the test runs `Client().create_user()` before it and
    # `Client().delete_user()` after it, outside the notebook
    "ConsumerRESTDemo.ipynb": {"account": True},
}
ACCOUNT = "from diaspora_event_sdk import Client; print(Client().{}()['status'])"


def _offline_copy(notebook: Path, changes: dict[str, Any]) -> nbformat.NotebookNode:
    nb = nbformat.read(notebook, as_version=4)
    for index, line in changes.get("drop_lines", {}).items():
        cell = nb.cells[index]
        lines = cell.source.splitlines()
        assert line in lines, f"{notebook.name} cell {index} changed: {lines[:3]}"
        cell.source = "\n".join(x for x in lines if x != line)
    for index, source in sorted(changes.get("insert_after", {}).items(), reverse=True):
        added = nbformat.v4.new_code_cell("import json\n" + source)
        added.metadata["tags"] = ["diaspora-fabric-offline"]
        nb.cells.insert(index + 1, added)
    return nb


def _kernel_spec(python: Path, where: Path) -> None:
    """A kernelspec ``SDK_KERNEL`` running the SDK venv's python (ipykernel)."""
    spec = where / "kernels" / SDK_KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "diaspora-event-sdk 0.5.1", "language": "python"}))


def _outputs(nb: nbformat.NotebookNode, index: int) -> str:
    return "".join(o.get("text", "") for o in nb.cells[index].outputs)


@pytest.mark.parametrize("name", sorted(OFFLINE_CHANGES))
def test_sdk_example_notebooks_run_against_the_fabric(
        name: str, fabric: Fabric, service_on_8000: None, tmp_path: Path,
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    python = _sdk_python(request.config)
    package = subprocess.run(
        [str(python), "-c", "import diaspora_event_sdk, os; "
                            "print(os.path.dirname(diaspora_event_sdk.__file__))"],
        capture_output=True, text=True, check=True).stdout.strip()
    nb = _offline_copy(Path(package) / "examples" / name, OFFLINE_CHANGES[name])
    _kernel_spec(python, tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    env = _sdk_env(fabric, tmp_path / "sdk-user")
    env["DIASPORA_FABRIC_SDK_CREDENTIALS"] = json.dumps(
        {k: env[k] for k in ("DIASPORA_SDK_CLIENT_ID", "DIASPORA_SDK_CLIENT_SECRET")})
    work = tmp_path / "work"
    work.mkdir()

    def account(call: str) -> None:
        done = subprocess.run([str(python), "-c", ACCOUNT.format(call)], env=env, cwd=work,
                              capture_output=True, text=True, timeout=120)
        assert done.stdout.strip() == "success", (call, done.stdout, done.stderr[-2000:])

    if OFFLINE_CHANGES[name].get("account"):
        account("create_user")
    try:
        NotebookClient(nb, kernel_name=SDK_KERNEL, timeout=180, startup_timeout=120,
                       resources={"metadata": {"path": str(work)}}).execute(env=env)
    finally:
        if OFFLINE_CHANGES[name].get("account"):
            account("delete_user")
    if name == "DiasporaDemo.ipynb":
        shift = 1  # the added cell
        assert "Namespace: ns-" in _outputs(nb, 9 + shift)
        produced = _outputs(nb, 15 + shift)
        assert [f"Produced message {i}: offset={i - 1}" in produced for i in (1, 2, 3)] == [
            True] * 3, produced
        assert _outputs(nb, 16 + shift).count("Consumed: {") == 3, _outputs(nb, 16 + shift)
        assert '"status": "success"' in _outputs(nb, 22 + shift)
    else:
        assert '"status": "success"' in _outputs(nb, 3), _outputs(nb, 3)
        assert _outputs(nb, 7).startswith("207"), _outputs(nb, 7)
        assert "40005" in _outputs(nb, 7)
        assert "commit: 200 []" in _outputs(nb, 13)
        assert "after delete: 404" in _outputs(nb, 21)
        assert "committed: {" in _outputs(nb, 23) and ": 8}" in _outputs(nb, 23)
