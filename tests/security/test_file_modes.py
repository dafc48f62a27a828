"""Data at rest is owner-only (issue 11, item 5).

A fabric home holds every user's events in plain text (segment files), SCRAM hashes and ACLs
(``__cluster_metadata``), identities in logs: on a shared login node any group/other permission
bit hands them to every local account. After real traffic every path under the home and under
a toolkit user dir must be owner-only, and ``up`` repairs an older home and says so.

The tests run with the ordinary umask 022 (see ``ordinary_umask``), so nothing here passes
merely because the test process happened to be strict.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from diaspora_notebook.fabric.testing.secrets import remember_secret
from diaspora_notebook.kafka.clients import KafkaAdmin, KafkaConsumer, KafkaProducer, NewTopic
from diaspora_notebook.testing.identities import create_identity


def loose_paths(root: Path) -> tuple[list[str], int]:
    """Every path under ``root`` (included) with a group/other bit, and how many were seen."""
    found = []
    seen = 0
    for path in [root, *root.rglob("*")]:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue  # removed meanwhile by a running process (a rolled segment, a temp file)
        if stat.S_ISLNK(st.st_mode):
            continue
        seen += 1
        if stat.S_IMODE(st.st_mode) & 0o077:
            found.append(f"{oct(stat.S_IMODE(st.st_mode))} {path}")
    return found, seen


@pytest.fixture(autouse=True)
def ordinary_umask() -> Iterator[None]:
    """A common login shell's umask: files 0644 and dirs 0755 unless the code says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_home_and_user_dir_are_owner_only_after_real_traffic(fabric, tmp_path):
    user_dir = tmp_path / "someone" / ".diaspora"  # the toolkit creates it, as ~/.diaspora
    alice = create_identity(fabric, user_dir, prefix="modes")
    remember_secret(alice.password)
    client = alice.client()
    client.login()
    topic = f"modes-{uuid.uuid4().hex[:10]}"
    client.register_topic(topic)
    remember_secret(client.create_key()["password"])
    client.block_until_ready(timeout=60)
    admin = KafkaAdmin(client=client)
    try:
        admin.create_topics(new_topics=[NewTopic(name=topic, num_partitions=1,
                                                 replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(client=client, acks="all")
    for i in range(20):
        producer.send(topic, {"secret-payload": i})
    producer.flush(timeout=30)
    producer.close(timeout=10)
    consumer = KafkaConsumer(topic, client=client, group_id=f"{topic}/modes",
                             auto_offset_reset="earliest", enable_auto_commit=True)
    got = 0
    deadline = time.monotonic() + 30
    while got < 20 and time.monotonic() < deadline:
        got += sum(len(r) for r in consumer.poll(timeout_ms=500).values())
    consumer.commit()
    consumer.close()
    assert got == 20
    remember_secret(client.create_key()["password"])  # a rotation too
    client.list_topics()

    home = Path(fabric.home.root)
    segments = list((home / "broker").glob(f"n1/data/{topic}-0/*.log"))
    assert segments, "the topic's segment file is not where the test looks"
    assert (user_dir / "tokens.db").exists(), sorted(p.name for p in user_dir.iterdir())
    for root in (home, user_dir):
        loose, seen = loose_paths(root)
        assert seen >= (50 if root == home else 2), (root, seen)
        assert loose == [], f"{len(loose)} of {seen} paths under {root} are readable by " \
            "group/others:\n" + "\n".join(loose[:40])


def _loosen(paths: list[Path]) -> None:
    for path in paths:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def test_up_repairs_a_home_others_could_read_and_says_how_many_paths(fabric, tmp_path):
    home = Path(fabric.home.root)
    victims = [home, home / "broker", home / "broker" / "n1" / "data",
               next((home / "broker" / "n1" / "data").glob("__cluster_metadata-0/*.log")),
               home / "secrets" / "admin.password", home / "idp" / "idp.sqlite3",
               home / "run" / "idp.log", home / "fabric.json"]
    assert all(p.exists() for p in victims), [str(p) for p in victims if not p.exists()]
    # a link to a file outside the home must be neither followed nor changed
    outside = tmp_path / "not-in-the-home.txt"
    outside.write_text("someone else's file\n")
    os.chmod(outside, 0o644)
    link = home / "run" / f"link-{uuid.uuid4().hex[:6]}"
    link.symlink_to(outside)
    try:
        _loosen(victims)
        # `up` on the running fabric: what a user does after upgrading the toolkit
        result = subprocess.run(
            [sys.executable, "-m", "diaspora_notebook.fabric.cli", "up", "--home", str(home)],
            capture_output=True, text=True, timeout=120)
    finally:
        link.unlink()
        _restore = [p for p in victims if stat.S_IMODE(p.stat().st_mode) & 0o077]
        for path in _restore:  # leave the session home private even if `up` failed
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert _restore == [], f"`up` left {[str(p) for p in _restore]} readable\n{output[-2000:]}"
    assert f"made {len(victims)} path(s) in {home} owner-only" in output, output[-2000:]
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert loose_paths(home)[0] == []
    # a second `up` has nothing to repair and says nothing about it
    again = subprocess.run(
        [sys.executable, "-m", "diaspora_notebook.fabric.cli", "up", "--home", str(home)],
        capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "owner-only" not in again.stdout + again.stderr
    assert json.loads((home / "fabric.json").read_text())["home"] == str(home)
