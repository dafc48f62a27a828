"""Per-user limits of security round 3 (issue 27, item 5), against the session fabric.

* Every account gets Kafka user quotas with its first key (the service config's defaults), and
  the broker enforces them: with the producer byte rate lowered to 256 KiB/s through
  ``diaspora-fabric user limits``, a 6 MiB burst takes many seconds, where it took about one.
* Registering more topics than the account's cap is refused with one error (403,
  ``topic_limit_reached``) that names the limit and the command that raises it.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaProducer

from diaspora_notebook.fabric import cli
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.limits_cli import user_limits
from diaspora_notebook.fabric.service.limits import QUOTA_KEYS, default_quotas
from diaspora_notebook.fabric.service.settings import load_settings

from .actors import Actor, actor, fresh_topic, gateway

RATE = 256 * 1024
CHUNK = 64 * 1024
BURST = 6 * 1024 * 1024
# Kafka measures a rate over (samples - 1) one-second windows at least, so about ten seconds'
# worth of the quota passes before the first throttle: 6 MiB at 256 KiB/s needs >= ~14 s
MIN_THROTTLED_SECONDS = 8.0


def _burst_seconds(person: Actor, topic: str) -> float:
    producer = KafkaProducer(**person.config(acks=1, linger_ms=5, batch_size=4 * CHUNK,
                                             max_request_size=8 * CHUNK, max_block_ms=120000,
                                             delivery_timeout_ms=180000,
                                             request_timeout_ms=120000))
    value = b"x" * CHUNK
    started = time.monotonic()
    try:
        futures = [producer.send(topic, value) for _ in range(BURST // CHUNK)]
        producer.flush(timeout=120)
        for future in futures:
            future.get(timeout=1)
    finally:
        producer.close(timeout=10)
    return time.monotonic() - started


def test_every_account_gets_quotas_and_the_broker_throttles(fabric: Fabric, capsys) -> None:
    settings = load_settings(fabric.home.service_dir / "config.json")
    slow, fast = actor(fabric, "quota-slow"), actor(fabric, "quota-fast")
    admin = gateway(fabric)
    try:
        for person in (slow, fast):  # set with the first key, to the config's defaults
            assert admin.user_quotas(person.id) == default_quotas(settings)
    finally:
        admin.close()
    assert cli.main(["user", "limits", slow.username, "--home", str(fabric.home.root),
                     "--producer-byte-rate", str(RATE)]) == 0
    shown = capsys.readouterr().out
    assert f"producer_byte_rate         {RATE}" in shown
    assert all(key in shown for key in QUOTA_KEYS)
    topics = {}
    for person in (slow, fast):
        topics[person.username] = fresh_topic("quota")
        person.register(topics[person.username])
    unthrottled = _burst_seconds(fast, topics[fast.username])
    throttled = _burst_seconds(slow, topics[slow.username])
    assert throttled >= MIN_THROTTLED_SECONDS, (throttled, unthrottled)
    assert throttled > 2 * unthrottled, (throttled, unthrottled)
    # an account's own values survive its next key; --reset brings the defaults back
    slow.ok("post", "v1/create_key")
    assert user_limits(fabric.home, slow.username).quotas["producer_byte_rate"] == RATE
    again = user_limits(fabric.home, slow.username, reset=True)
    assert again.quotas == default_quotas(settings)


def test_registering_more_topics_than_the_cap_is_refused(fabric: Fabric) -> None:
    owner = actor(fabric, "topic-cap")
    limits = user_limits(fabric.home, owner.username, max_topics=3)
    assert limits.max_topics == 3 and limits.owned_topics == 0
    names = [fresh_topic("cap") for _ in range(4)]
    for name in names[:3]:
        owner.register(name, create=False)
    refused = owner.call("post", "v1/register_topic", json={"topic": names[3]})
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert body["code"] == "topic_limit_reached"
    assert "3 topics" in body["message"] and "max_topics_per_user" in body["message"]
    assert "diaspora-fabric user limits" in body["hint"] and "unregister" in body["hint"]
    # registering one it already owns is still fine, and giving one up makes room
    assert owner.ok("post", "v1/register_topic", json={"topic": names[0]})["status"] == "no-op"
    owner.ok("post", "v1/unregister_topic", json={"topic": names[0]})
    owner.register(names[3], create=False)
    assert user_limits(fabric.home, owner.username).owned_topics == 3
    user_limits(fabric.home, owner.username, reset=True)


@pytest.mark.parametrize("bad", ["0", "-5", "many"])
def test_user_limits_refuses_bad_values(fabric: Fabric, bad: str) -> None:
    with pytest.raises(SystemExit):
        cli.main(["user", "limits", "nobody-at-all", "--home", str(fabric.home.root),
                  "--producer-byte-rate", bad])
