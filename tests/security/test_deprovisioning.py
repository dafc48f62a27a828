"""Removing an account removes its Kafka access: key, topics (with data), grants.

Issue 11 item 2. ``diaspora-fabric user remove`` used to revoke tokens only: the SCRAM key
kept authenticating, the ACLs stayed, and the account's topic names could never be registered
again. Each test removes a real account through the CLI and then attacks with what it had.
"""

from __future__ import annotations

import socket

from diaspora_notebook.fabric import cli
from diaspora_notebook.fabric.idp import admin as idp_admin
from diaspora_notebook.fabric.testing.accounts import new_confidential_client
from diaspora_notebook.testing.tokens import client_credentials_token

from .actors import Actor, actor, authenticates, fresh_topic, gateway


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_remove_deletes_key_topics_data_and_grants(fabric, capsys):
    home = str(fabric.home.root)
    gone, owner, reader, successor = (actor(fabric, p) for p in
                                      ("rm-gone", "rm-owner", "rm-reader", "rm-next"))
    mine, theirs = fresh_topic("rm-mine"), fresh_topic("rm-theirs")
    gone.register(mine)
    gone.produce(mine, [b"written by the removed account"])
    gone.grant(mine, reader)
    owner.register(theirs)
    owner.produce(theirs, [b"owner's event"])
    owner.grant(theirs, gone)
    assert gone.read_all(theirs, seconds=2) == [b"owner's event"]  # the grant works before
    assert authenticates(fabric, gone.id, gone.key)

    code, out, err = _run(capsys, "user", "remove", gone.username, "--home", home)
    assert code == 0, err
    assert f"removed user {gone.username} ({gone.id}) and revoked its tokens" in out
    assert "Kafka key (SCRAM credential): deleted" in out
    assert f"owned topics deleted with their events: {mine}" in out
    assert f"access removed from other owners' topics: {theirs}" in out

    # the key no longer opens a connection, and the service no longer takes the token
    assert not authenticates(fabric, gone.id, gone.key)
    assert gone.call("get", "v1/list_topics").status_code == 401
    gw = gateway(fabric)
    try:
        assert gw.principal_acls(f"User:{gone.id}") == []
        assert not gw.topic_exists(mine)
    finally:
        gw.close()
    # the other owner's topic no longer lists the grant; the grantee of the removed topic lost it
    assert owner.ok("get", "v1/list_topic_users", params={"topic": theirs})["users"] == []
    assert mine not in reader.ok("get", "v1/list_topics")["topics"]
    # the name is free, and its next owner starts with no old event
    successor.register(mine)
    assert successor.read_all(mine, seconds=3) == []

    # removing by identity id once the login is gone sweeps Kafka again (nothing left)
    code, out, err = _run(capsys, "user", "remove", gone.id, "--home", home)
    assert code == 0, err
    assert "no user" in out and "Kafka key (SCRAM credential): none" in out


def test_client_remove_deletes_the_service_identitys_kafka_access(fabric, capsys):
    client_id, secret = new_confidential_client(fabric, "rm-svc")
    token = client_credentials_token(fabric, client_id, secret)
    svc = Actor(fabric, "rm-svc", client_id, token, "")
    svc.key = svc.ok("post", "v1/create_key")["password"]
    topic = fresh_topic("rm-svc")
    svc.register(topic)
    svc.produce(topic, [b"from a service"])

    code, out, err = _run(capsys, "client", "remove", client_id, "--home",
                          str(fabric.home.root))
    assert code == 0, err
    assert f"removed client {client_id}" in out
    assert "Kafka key (SCRAM credential): deleted" in out and topic in out
    assert not authenticates(fabric, client_id, svc.key)
    assert all(c["client_id"] != client_id for c in idp_admin.list_clients(fabric.home.idp_dir))
    gw = gateway(fabric)
    try:
        assert not gw.topic_exists(topic) and gw.principal_acls(f"User:{client_id}") == []
    finally:
        gw.close()


def test_remove_without_kafka_removes_nothing_and_says_so(fabric, capsys, monkeypatch):
    someone = actor(fabric, "rm-kept")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    monkeypatch.setenv("DIASPORA_SERVICE_BOOTSTRAP_SERVERS", f"127.0.0.1:{dead}")
    monkeypatch.setenv("DIASPORA_SERVICE_KAFKA_TIMEOUT_SECONDS", "2")
    code, _out, err = _run(capsys, "user", "remove", someone.username, "--home",
                           str(fabric.home.root))
    assert code == 1
    assert "nothing was removed" in err and "diaspora-fabric up" in err
    assert idp_admin.user_id(fabric.home.idp_dir, someone.username) == someone.id
    assert authenticates(fabric, someone.id, someone.key)
