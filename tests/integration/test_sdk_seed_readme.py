"""Every code block of the original SDK's README, with only the import line changed.

The blocks run verbatim, in order, in ONE subprocess against the real local fabric: login is
headless (DIASPORA_LOGIN_USERNAME/PASSWORD), DIASPORA_USER_DIR is a temp dir and
DIASPORA_FABRIC_HOME the session fabric's home. The consume loop never ends, so it runs under
a time limit and we check what it printed.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

SEED = Path("/work/shared/seed/000_82bbd1b35c928333.txt")
CONSUME_BLOCK = 3
CONSUME_SECONDS = 20

# Copied verbatim from the seed README (test_blocks_match_the_seed checks it when available).
SEED_BLOCKS = [
    ('from diaspora_event_sdk import Client as GlobusClient\n'
     'c = GlobusClient()\n'
     'topic = "topic-" + c.subject_openid[-12:]\n'
     'print(c.register_topic(topic))\n'
     'print(c.list_topics())\n'),
    ('from diaspora_event_sdk import KafkaAdmin, NewTopic \n'
     'admin = KafkaAdmin()\n'
     'print(admin.create_topics(new_topics=[\n'
     '      NewTopic(name=topic, num_partitions=1, replication_factor=1)]))\n'),
    ('from diaspora_event_sdk import KafkaProducer\n'
     'producer = KafkaProducer()\n'
     'future = producer.send(\n'
     "    topic, {'message': 'Synchronous message from Diaspora SDK'})\n"
     'result = future.get(timeout=10)\n'
     'print(result)\n'),
    ('from diaspora_event_sdk import KafkaConsumer\n'
     "consumer = KafkaConsumer(topic, auto_offset_reset='earliest')\n"
     'for msg in consumer:\n'
     '    print(msg)\n'),
    ('from diaspora_event_sdk import KafkaAdmin\n'
     'admin = KafkaAdmin()\n'
     'res = admin.delete_topics(topics=[topic])\n'
     'print(res)\n'),
    ('from diaspora_event_sdk import Client as GlobusClient\n'
     'c = GlobusClient()\n'
     'topic = "topic-" + c.subject_openid[-12:]\n'
     'print(c.unregister_topic(topic))\n'
     'print(c.list_topics())\n'),
    ('from diaspora_event_sdk import Client as GlobusClient\n'
     'c = GlobusClient()\n'
     'print(c.retrieve_key())\n'),
    ('from diaspora_event_sdk import Client as GlobusClient\n'
     'c = GlobusClient()\n'
     'print(c.create_key())\n'),
]

DRIVER = textwrap.dedent('''
    import signal, sys

    class TimeLimit(BaseException):
        pass

    def on_alarm(signum, frame):
        raise TimeLimit()

    signal.signal(signal.SIGALRM, on_alarm)
    namespace = {"__name__": "__seed__"}
    for index, block in enumerate(BLOCKS):
        print(f"=== block {index} ===", flush=True)
        code = block.replace("from diaspora_event_sdk import", "from diaspora_notebook import")
        if index == CONSUME_BLOCK:
            signal.alarm(CONSUME_SECONDS)
            try:
                exec(compile(code, f"<seed block {index}>", "exec"), namespace)
            except TimeLimit:
                print("=== time limit ===", flush=True)
            finally:
                signal.alarm(0)
        else:
            exec(compile(code, f"<seed block {index}>", "exec"), namespace)
        sys.stdout.flush()
    print("=== done ===", flush=True)
''')


def test_blocks_match_the_seed():
    if not SEED.exists():  # the seed lives outside the repository
        return
    assert re.findall(r"```python\n(.*?)```", SEED.read_text(), re.S) == SEED_BLOCKS


def test_only_the_import_line_changes():
    for block in SEED_BLOCKS:
        changed = block.replace("from diaspora_event_sdk import", "from diaspora_notebook import")
        assert changed.splitlines()[1:] == block.splitlines()[1:]


def _sections(output: str) -> dict[int, str]:
    parts = re.split(r"^=== block (\d+) ===$", output, flags=re.M)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _dicts(text: str) -> list[dict]:
    return [ast.literal_eval(line) for line in text.splitlines() if line.startswith("{")]


def test_seed_readme_runs_verbatim(sdk_identity, tmp_path):
    user = sdk_identity("seed")
    script = tmp_path / "seed_driver.py"
    script.write_text(f"BLOCKS = {SEED_BLOCKS!r}\nCONSUME_BLOCK = {CONSUME_BLOCK}\n"
                      f"CONSUME_SECONDS = {CONSUME_SECONDS}\n" + DRIVER)
    proc = subprocess.run([sys.executable, str(script)], env=user.subprocess_env(),
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "Traceback" not in proc.stderr
    out = _sections(proc.stdout)
    assert sorted(out) == list(range(8)), proc.stdout
    topic = "topic-" + user.id[-12:]

    registered, listed = _dicts(out[0])
    assert registered["status"] == "success" and registered["topic"] == topic
    assert listed == {"status": "success", "topics": [topic]}

    created = _dicts(out[1])[0]
    assert [(t["name"], t["error_code"]) for t in created["topics"]] == [(topic, 0)]

    assert f"RecordMetadata(topic='{topic}', partition=0" in out[2]
    assert "offset=0" in out[2]

    assert "=== time limit ===" in out[3]
    records = [line for line in out[3].splitlines() if line.startswith("ConsumerRecord(")]
    assert len(records) == 1
    assert f"topic='{topic}'" in records[0]
    assert "value=b'{\"message\": \"Synchronous message from Diaspora SDK\"}'" in records[0]

    deleted = _dicts(out[4])[0]
    assert [(t["name"], t["error_code"]) for t in deleted["topics"]] == [(topic, 0)]

    unregistered, listed = _dicts(out[5])
    assert unregistered["status"] == "success" and unregistered["topic"] == topic
    assert listed == {"status": "success", "topics": []}

    retrieved = _dicts(out[6])[0]
    assert retrieved["status"] == "success" and retrieved["username"] == user.id
    assert retrieved["password"] and retrieved["endpoint"]

    created_key = _dicts(out[7])[0]
    assert created_key["status"] == "success" and created_key["username"] == user.id
    assert created_key["password"] != retrieved["password"]
