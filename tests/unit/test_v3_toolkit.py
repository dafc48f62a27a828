"""The toolkit's v3 side without a fabric: the IAM token signer, v3 environments (the built-in
``diaspora`` one resolved offline: no request leaves the machine), record bodies of the produce
routes, namespaced sources and the REST fallback of ``engine="auto"``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from diaspora_notebook import environments as envs
from diaspora_notebook.client import Client
from diaspora_notebook.errors import DiasporaUsageError, EnvironmentConfigError
from diaspora_notebook.kafka import source as sources
from diaspora_notebook.kafka.memory import MemoryTopics
from diaspora_notebook.kafka.read import read_frame
from diaspora_notebook.login import iam
from diaspora_notebook.web import rest_record

AK = "AKIAEXAMPLE0000000001"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AT = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
#: what diaspora-event-sdk 0.5.1's generate_auth_token("us-east-1") returned for AK/SECRET at AT
#: (its own vendored botocore, the clock pinned; /work/coord/v3_spec.md section 6.1)
SDK_TOKEN = (
    "aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25u"
    "ZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJQUVYQU1QTEUw"
    "MDAwMDAwMDAxJTJGMjAyNjAzMDElMkZ1cy1lYXN0LTElMkZrYWZrYS1jbHVzdGVyJTJGYXdzNF9yZXF1ZXN0Jlgt"
    "QW16LURhdGU9MjAyNjAzMDFUMTIwMDAwWiZYLUFtei1FeHBpcmVzPTkwMCZYLUFtei1TaWduZWRIZWFkZXJzPWhv"
    "c3QmWC1BbXotU2lnbmF0dXJlPWUzYjcwYzJjYmRmNWZjNjZlMTQ2ZTE5MGJiNDJlNmJkZGUyOTk2YmI0OTUwMDY0"
    "OTYwMDhjNmNhZjI4ODVlZjMmVXNlci1BZ2VudD1hd3MtbXNrLWlhbS1zYXNsLXNpZ25lci1weXRob24lMkYxLjAu"
    "MQ")


# --- the IAM token ----------------------------------------------------------------------------


def test_signing_key_matches_the_aws_published_vector() -> None:
    # AWS SigV4 documentation: "Examples of how to derive a signing key" (20120215/us-east-1/iam)
    key = iam.signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_token_is_byte_for_byte_the_sdks() -> None:
    token, expiry_ms = iam.msk_token(AK, SECRET, now=AT)
    assert token == SDK_TOKEN
    assert expiry_ms == 1772367300000  # X-Amz-Date + 900 s, as the SDK returns it
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "kafka.us-east-1.amazonaws.com",
                                                        "/")
    assert query["Action"] == "kafka-cluster:Connect"
    assert query["X-Amz-Signature"] == ("e3b70c2cbdf5fc66e146e190bb42e6bdde2996bb495006496008c6c"
                                        "af2885ef3")
    assert url.endswith("&User-Agent=aws-msk-iam-sasl-signer-python%2F1.0.1")  # unsigned
    assert "=" not in token and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_user_agent_is_not_signed() -> None:
    signed = iam.presigned_url(AK, SECRET, now=AT)
    bare = iam.presigned_url(AK, SECRET, now=AT, user_agent=None)
    assert signed.startswith(bare + "&User-Agent=")


def test_tokens_are_signed_again_before_they_expire() -> None:
    now = [AT.timestamp()]
    tokens = iam.IamTokens(AK, SECRET, clock=lambda: now[0])
    first = tokens.token()
    assert tokens.token() == first and tokens.signed == 1  # reused while fresh
    token, lifetime_end = tokens.oauth_cb("ignored")
    assert token == first and lifetime_end == AT.timestamp() + 900 * iam.REFRESH_FRACTION
    now[0] += 900 * iam.REFRESH_FRACTION - 1
    assert tokens.token() == first
    now[0] += 2  # past 80 % of the lifetime: a new one, well before the 900 s are up
    assert tokens.token() != first and tokens.signed == 2
    assert "wJal" not in repr(tokens)


def test_kafka_python_token_provider() -> None:
    base = iam._token_provider_base()
    provider = iam.kafka_python_token_provider(iam.IamTokens(AK, SECRET))
    assert isinstance(provider, base)
    assert provider.token().startswith("aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEu")
    assert provider.extensions() == {}


# --- environments -----------------------------------------------------------------------------


@pytest.fixture
def no_files(monkeypatch: Any, tmp_path: Path) -> Path:
    for name in ("DIASPORA_ENVIRONMENT", "DIASPORA_ENVIRONMENTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIASPORA_ENVIRONMENTS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("DIASPORA_FABRIC_HOME", str(tmp_path / "no-fabric"))
    return tmp_path


def test_builtin_diaspora_is_the_hosted_service(no_files: Path, monkeypatch: Any) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("resolving an environment must not touch the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    env = envs.resolve_environment("diaspora")
    assert env.api == "v3" and env.is_v3 and env.name == "diaspora"
    assert env.auth_url == "https://auth.globus.org/"
    assert env.native_client_id == "c5d4fab4-7f0d-422e-b0c8-5c74329b52fe"
    assert env.service_url == ("https://diaspora-web-service.qpp943wkvr7b2.us-east-1.cs."
                               "amazonlightsail.com/")
    assert env.scope == ("https://auth.globus.org/scopes/2b9d2f5c-fa32-45b5-875b-b24cd343b917/"
                         "action_all")
    assert env.resource_server == "2b9d2f5c-fa32-45b5-875b-b24cd343b917"
    assert env.bootstrap_servers == () and env.ca_file is None
    assert env.sasl_mechanism == "OAUTHBEARER"
    monkeypatch.setenv("DIASPORA_ENVIRONMENT", "diaspora")
    client = Client(user_dir=no_files / "user")  # no login, no request
    assert client.environment == env and client.api == "v3"
    client.close()


def test_an_environments_file_may_redefine_diaspora(no_files: Path) -> None:
    path = no_files / "e.toml"
    path.write_text('[environments.diaspora]\napi = "v3"\nauth_url = "https://a.example/"\n'
                    'native_client_id = "n"\nservice_url = "https://s.example/"\n'
                    'scope = "https://auth.globus.org/scopes/rs/action_all"\n')
    env = envs.get_environment("diaspora", environments_file=path)
    assert env.service_url == "https://s.example/" and env.resource_server == "rs"


def test_api_is_checked(no_files: Path) -> None:
    base = {"auth_url": "https://a/", "native_client_id": "n", "service_url": "https://s/",
            "scope": "https://auth.globus.org/scopes/rs/action_all",
            "bootstrap_servers": ["b:9096"]}
    assert envs.environment_from_mapping("x", base, source="t").api == "v1"
    with pytest.raises(EnvironmentConfigError, match="api must be"):
        envs.environment_from_mapping("x", {**base, "api": "v2"}, source="t")
    with pytest.raises(EnvironmentConfigError, match="IAM keys"):
        envs.environment_from_mapping("x", {**base, "api": "v3",
                                            "sasl_mechanism": "SCRAM-SHA-512"}, source="t")
    with pytest.raises(EnvironmentConfigError, match="bootstrap_servers"):
        envs.environment_from_mapping("x", {**base, "bootstrap_servers": []}, source="t")


def test_example_file_still_loads_and_names_its_api() -> None:
    from importlib import resources

    text = resources.files("diaspora_notebook").joinpath("environments.example.toml").read_text()
    assert 'api = "v1"' in text and "local-v3" in text


def _fabric_json(home: Path, iam_servers: list[str]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "fabric.json").write_text(json.dumps({
        "kafka": {"bootstrap_servers": ["127.0.0.1:9093"], "ca_file": "system",
                  "iam_bootstrap_servers": iam_servers},
        "auth": {"url": "http://127.0.0.1:1/", "native_client_id": "n"},
        "service": {"url": "http://127.0.0.1:2/", "resource_server": "rs",
                    "scope": "https://auth.globus.org/scopes/rs/action_all"}}))


def test_local_v3_is_the_fabric_through_its_iam_listeners(tmp_path: Path) -> None:
    _fabric_json(tmp_path, ["127.0.0.1:9095"])
    v1 = envs.get_environment("local", fabric_home=tmp_path)
    v3 = envs.get_environment("local-v3", fabric_home=tmp_path)
    assert (v1.api, v1.bootstrap_servers) == ("v1", ("127.0.0.1:9093",))
    assert (v3.api, v3.bootstrap_servers, v3.sasl_mechanism) == (
        "v3", ("127.0.0.1:9095",), "OAUTHBEARER")
    assert v3.globus_environment != v1.globus_environment
    _fabric_json(tmp_path, [])
    with pytest.raises(EnvironmentConfigError, match="no IAM"):
        envs.get_environment("local-v3", fabric_home=tmp_path)


def test_v1_and_v3_calls_refuse_the_other_api(no_files: Path) -> None:
    client = Client(envs.builtin_environment("diaspora"), user_dir=no_files / "u")
    with pytest.raises(DiasporaUsageError, match="v1 call"):
        client.register_topic("t")
    client.close()
    _fabric_json(no_files / "fab", ["127.0.0.1:9095"])
    v1 = Client(envs.load_local(no_files / "fab"), user_dir=no_files / "u")
    with pytest.raises(DiasporaUsageError, match="v3 call"):
        v1.create_topic("abc")
    assert v1.kafka_topic("abc") == "abc"
    v1.close()


# --- produce bodies ---------------------------------------------------------------------------


def test_rest_records_are_the_sdks_bodies() -> None:
    when = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    assert rest_record({"a": 1}, key="k1", headers=[("h", b"\x00\x01"), ("n", None)],
                       timestamp=when) == {
        "key": {"type": "STRING", "data": "k1"}, "value": {"type": "JSON", "data": {"a": 1}},
        "headers": [{"name": "h", "value": "AAE="}, {"name": "n", "value": None}],
        "timestamp": "2026-03-01T00:00:00+00:00"}
    assert rest_record(b"\x00\xff", key=5) == {"key": {"type": "JSON", "data": 5},
                                               "value": {"type": "BINARY", "data": "AP8="}}
    assert rest_record("done") == {"value": {"type": "JSON", "data": "done"}}
    with pytest.raises(DiasporaUsageError, match="UTC offset"):
        rest_record(1, timestamp=dt.datetime(2026, 3, 1))
    with pytest.raises(DiasporaUsageError, match="BINARY"):
        rest_record("x", value_type="BINARY")


# --- namespaced sources and the REST fallback -------------------------------------------------


def test_a_namespaced_source_reads_namespace_dot_topic_under_the_short_name() -> None:
    store = MemoryTopics()
    store.create("ns-0123456789ab.events")
    store.produce_many("ns-0123456789ab.events", [b'{"x": 1}', b'{"x": 2}'])
    conf = {"topics": store, sources.NAMESPACE_KEY: "ns-0123456789ab"}
    frame = read_frame(None, "events", start="earliest", engine="memory", config=conf)
    assert frame["x"].tolist() == [1, 2] and set(frame["topic"]) == {"events"}
    full = read_frame(None, "ns-0123456789ab.events", start="earliest", engine="memory",
                      config=conf)
    assert set(full["topic"]) == {"ns-0123456789ab.events"}  # the name the caller used
    namer = sources.TopicNamer("ns-0123456789ab")
    assert namer.group("events/readers") == "ns-0123456789ab.events.readers"
    assert namer.group(None) is None


class _FakeV3:
    api = "v3"
    namespace = "ns-0123456789ab"

    def __init__(self, servers: tuple[str, ...]) -> None:
        self.servers = servers

    def bootstrap_servers(self) -> tuple[str, ...]:
        return self.servers


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"  # closed once the with ends


def test_auto_picks_rest_when_a_v3_clients_brokers_cannot_be_reached() -> None:
    closed = _closed_port()
    with pytest.warns(sources.EngineFallbackWarning, match="engine='rest'"):
        assert sources.pick_engine("auto", client=_FakeV3((closed,))) == "rest"
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = f"127.0.0.1:{listening.getsockname()[1]}"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert sources.pick_engine("auto", client=_FakeV3((port,))) in (
                "confluent", "kafka-python")
    assert sources.pick_engine("rest") == "rest"


def test_rest_needs_a_v3_client() -> None:
    class V1:
        api = "v1"

    with pytest.raises(DiasporaUsageError, match="consumer REST API"):
        sources.client_config(V1(), "rest")
    fake = _FakeV3(())
    assert sources.client_config(fake, "rest") == {"client": fake}


# --- the REST source: one group rule, watermarks, no time starts --------------------------------


class _Reply:
    def __init__(self, data: Any) -> None:
        self.data = data


class _RecordingWeb:
    """The consumer routes of ``V3WebClient`` as a script: every call is kept; the end of
    partition 0 is 7, its beginning 2."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.edge: dict[str, int] = {}

    def instance_path(self, group: str, instance_id: str) -> str:
        return f"/api/v2/consumers/{group}/instances/{instance_id}"

    def create_consumer(self, group: str, settings: dict[str, Any]) -> _Reply:
        self.calls.append(("create", group))
        return _Reply({"instance_id": f"i{len(self.calls)}"})

    def assign(self, instance: str, partitions: list[Any]) -> _Reply:
        self.calls.append(("assign", instance))
        return _Reply(None)

    def seek_edge(self, instance: str, partitions: list[Any], *, end: bool) -> _Reply:
        self.edge[instance] = 7 if end else 2
        return _Reply(None)

    def commit(self, instance: str, offsets: Any = None) -> _Reply:
        self.calls.append(("commit", instance))
        return _Reply([])

    def committed(self, instance: str, partitions: list[Any]) -> _Reply:
        return _Reply({"offsets": [{"topic": p["topic"], "partition": p["partition"],
                                    "offset": self.edge[instance]} for p in partitions]})

    def delete_consumer(self, instance: str) -> _Reply:
        self.calls.append(("delete", instance))
        return _Reply(None)


class _RestClient(_FakeV3):
    def __init__(self) -> None:
        super().__init__(())
        self.web = _RecordingWeb()

    def v3_web(self) -> _RecordingWeb:
        return self.web


def test_a_toolkit_group_is_one_kafka_group_on_every_engine() -> None:
    from diaspora_notebook.kafka.rest import RestSource

    ns = _FakeV3.namespace
    kafka_side = sources.TopicNamer(ns).group("events/live")
    client = _RestClient()
    rest = RestSource({"client": client}, group_id="events/live")
    # the service prefixes "<namespace>." to the group it is given
    assert ns + "." + rest.group == kafka_side == f"{ns}.events.live"
    again = RestSource({"client": client}, group_id=f"{ns}.events/live")  # namespaced already
    assert again.group == "events.live"
    assert sources.TopicNamer(ns).group(f"{ns}.events/live") == kafka_side
    assert sources.v3_group("t/grantee/name") == "t.grantee.name"


def test_rest_watermarks_commit_only_to_this_processes_probe_group() -> None:
    from diaspora_notebook.kafka import rest

    client = _RestClient()
    source = rest.RestSource({"client": client}, group_id=None)
    assert source.watermarks([("events", 0)]) == {("events", 0): (2, 7)}
    assert source.watermarks([("events", 0)]) == {("events", 0): (2, 7)}
    groups = [c[1] for c in client.web.calls if c[0] == "create"]
    assert groups[0].startswith(rest.READER_GROUP)  # the reading instance
    assert groups[1:] == [rest.PROBE_GROUP, rest.PROBE_GROUP]  # one group for every probe
    commits = {c[1].split("/instances/")[0] for c in client.web.calls if c[0] == "commit"}
    assert commits == {f"/api/v2/consumers/{rest.PROBE_GROUP}"}  # never the reader's group
    deleted = [c[1] for c in client.web.calls if c[0] == "delete"]
    assert len(deleted) == 2 and all(rest.PROBE_GROUP in d for d in deleted)


def test_a_time_start_over_rest_says_it_needs_a_kafka_engine() -> None:
    from diaspora_notebook.kafka.rest import RestSource

    source = RestSource({"client": _RestClient()}, group_id=None)
    assert source.by_time is False
    with pytest.raises(DiasporaUsageError, match=r"carry no timestamps.*needs a Kafka engine"
                       ) as err:
        source.offsets_for_times([("events", 0)], 1_700_000_000_000)
    assert "engine='confluent'" in (err.value.hint or "")
