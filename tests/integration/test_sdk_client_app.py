"""A headless service identity: ``DIASPORA_SDK_CLIENT_ID``/``_SECRET`` select globus-sdk's
ClientApp (client credentials against the real identity provider), and the whole seed journey
works with it, in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.idp import admin

SCRIPT = """
import json
from diaspora_notebook import Client, KafkaAdmin, KafkaConsumer, KafkaProducer, NewTopic
c = Client()
topic = "ci-" + c.subject_openid[-12:]
out = {"who": c.subject_openid, "kind": c.login_kind, "register": c.register_topic(topic)}
out["listed"] = topic in c.list_topics()["topics"]
out["key_user"] = c.create_key()["username"]
c.block_until_ready(timeout=30)
KafkaAdmin().create_topics(new_topics=[NewTopic(name=topic, num_partitions=1,
                                                replication_factor=1)])
out["offset"] = KafkaProducer().send(topic, {"from": "ci"}).get(timeout=20).offset
consumer = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000)
out["consumed"] = [m.value.decode() for m in consumer]
consumer.close()
KafkaAdmin().delete_topics(topics=[topic])
out["unregister"] = c.unregister_topic(topic)["status"]
print("RESULT", json.dumps(out))
"""


def _run(fabric: Fabric, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DIASPORA_LOGIN_", "DIASPORA_SDK_CLIENT_"))}
    env.update(DIASPORA_FABRIC_HOME=str(fabric.home.root),
               DIASPORA_USER_DIR=str(tmp_path / "user"), **extra)
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL)


def test_client_credentials_run_the_seed_journey(fabric: Fabric, tmp_path: Path) -> None:
    client_id, secret = admin.add_client(fabric.home.idp_dir, f"ci-{uuid.uuid4().hex[:6]}",
                                         confidential=True)
    assert secret is not None
    result = _run(fabric, tmp_path, DIASPORA_SDK_CLIENT_ID=client_id,
                  DIASPORA_SDK_CLIENT_SECRET=secret)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    assert out["who"] == client_id and out["kind"] == "client"
    assert out["register"]["status"] == "success" and out["listed"]
    assert out["key_user"] == client_id
    assert out["offset"] == 0
    assert out["consumed"] == ['{"from": "ci"}']
    assert out["unregister"] == "success"
    assert secret not in result.stdout + result.stderr


def test_only_one_of_the_client_variables_is_a_clear_error(fabric: Fabric,
                                                          tmp_path: Path) -> None:
    result = _run(fabric, tmp_path, DIASPORA_SDK_CLIENT_ID=str(uuid.uuid4()))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "DIASPORA_SDK_CLIENT_SECRET" in last, result.stderr[-2000:]
