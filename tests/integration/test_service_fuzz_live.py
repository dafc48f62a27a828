"""Property-based fuzzing of the LIVE web service, driven by its own /openapi.json.

Schemathesis generates requests for every operation and sends them over HTTP to the running
service (which talks to the real IdP and the real broker). Half the cases carry a valid bearer
token of a fresh user, so the generated input reaches the topic, key and sharing logic; the
other half a token the IdP never issued. Every answer must be non-5xx and conform to the
document (status code, content type, body schema).

The example count per operation is small enough for CI (the whole module in well under 60 s);
``DIASPORA_FUZZ_EXAMPLES=500`` raises it for a run by hand.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.testing.secrets import remember_secret, secrets_in_logs
from diaspora_notebook.testing.identities import create_identity
from diaspora_notebook.testing.tokens import service_headers, service_token, service_url

MAX_EXAMPLES = int(os.environ.get("DIASPORA_FUZZ_EXAMPLES", "25"))
STATUSES: Counter[tuple[str, int]] = Counter()


@pytest.fixture(scope="module")
def live_schema(fabric: Fabric) -> Any:
    schema = schemathesis.openapi.from_url(service_url(fabric) + "openapi.json", timeout=30)
    # every request goes to the live service on 127.0.0.1 (never elsewhere)
    schema.config.update(base_url=service_url(fabric).rstrip("/"))
    return schema


@pytest.fixture(scope="module")
def fuzz_tokens(fabric: Fabric) -> dict[str, str]:
    person = create_identity(fabric, prefix="fuzz")
    username, password = person.username, person.password
    return {"valid": service_token(fabric, username, password),
            "unknown": "AT.this-token-was-never-issued"}


OPERATIONS = [
    ("GET", "/v1/list_topics"), ("POST", "/v1/register_topic"),
    ("POST", "/v1/unregister_topic"), ("POST", "/v1/create_key"),
    ("POST", "/v1/grant_user_access"), ("POST", "/v1/revoke_user_access"),
    ("GET", "/v1/list_topic_users"), ("GET", "/v1/cluster"), ("POST", "/v1/add_partitions"),
    ("GET", "/healthz"), ("GET", "/metrics"),
]
# the v3 routes answer as the hosted service does (200 with a status, the consumer REST API's
# vendor media types), which the document does not describe per status: they are driven by the
# SDK 0.5.1 and attacked in test_v3_service, test_v3_isolation and test_v3_sdk instead
V3_CONSUMER = "/api/v2/consumers/{group}"
V3_INSTANCE = V3_CONSUMER + "/instances/{instance_id}"
V3_OPERATIONS = [
    ("POST", "/api/v3/user"), ("DELETE", "/api/v3/user"), ("POST", "/api/v3/key"),
    ("DELETE", "/api/v3/key"), ("GET", "/api/v3/namespace"),
    ("POST", "/api/v3/{namespace}/{topic}"), ("DELETE", "/api/v3/{namespace}/{topic}"),
    ("PUT", "/api/v3/{namespace}/{topic}/recreate"),
    ("POST", "/api/v3/{namespace}/topics/{topic}/records"),
    ("POST", "/api/v3/{namespace}/topics/{topic}/records:batch"),
    ("POST", V3_CONSUMER), ("DELETE", V3_INSTANCE),
    ("GET", V3_INSTANCE + "/subscription"), ("POST", V3_INSTANCE + "/subscription"),
    ("DELETE", V3_INSTANCE + "/subscription"), ("GET", V3_INSTANCE + "/assignments"),
    ("POST", V3_INSTANCE + "/assignments"), ("GET", V3_INSTANCE + "/records"),
    ("GET", V3_INSTANCE + "/offsets"), ("POST", V3_INSTANCE + "/offsets"),
    ("POST", V3_INSTANCE + "/positions"), ("POST", V3_INSTANCE + "/positions/beginning"),
    ("POST", V3_INSTANCE + "/positions/end"),
]
# input-less operations have no negative cases
CASES = [(m, p, mode) for m, p in OPERATIONS
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if not (mode is GenerationMode.NEGATIVE and p in ("/healthz", "/metrics"))]
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))


def _check(case: Any, token: str) -> None:
    headers = dict(case.headers or {})
    headers["Authorization"] = f"Bearer {token}"
    case.headers = headers
    response = case.call(timeout=60)
    STATUSES[(f"{case.method} {case.path}", response.status_code)] += 1
    assert response.status_code < 500, (case.method, case.path, response.text)
    case.validate_response(response, checks=[status_code_conformance,
                                             content_type_conformance,
                                             response_schema_conformance])
    if case.path.endswith("create_key") and response.status_code == 200:
        remember_secret(response.json()["password"])


def test_the_live_document_has_exactly_the_fuzzed_operations(live_schema: Any) -> None:
    live = {(op.ok().method.upper(), op.ok().path) for op in live_schema.get_all_operations()}
    assert live == set(OPERATIONS) | set(V3_OPERATIONS)


# schemathesis' pytest-fixture schemas (``schemathesis.pytest.from_fixture``) do not run under
# pytest 9 (they set ``request.node._nodeid``), so each operation gets its own Hypothesis test
@pytest.mark.parametrize("token_kind", ["valid", "unknown"])
@pytest.mark.parametrize(("method", "path", "mode"), CASES,
                         ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES])
def test_live_service_conforms_and_never_5xx(live_schema: Any, fuzz_tokens: dict[str, str],
                                             method: str, path: str, token_kind: str,
                                             mode: GenerationMode) -> None:
    operation = live_schema[path][method]
    token = fuzz_tokens[token_kind]

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(mode))
    def fuzz(case: Any) -> None:
        _check(case, token)

    fuzz()


_LEGAL = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def _legal_topic(name: str) -> bool:
    """Kafka's rules, written independently of the service's own check."""
    return bool(_LEGAL.fullmatch(name)) and name not in (".", "..") and not name.startswith("__")


def test_topic_names_register_iff_kafka_accepts_them(fabric: Fabric,
                                                      fuzz_tokens: dict[str, str]) -> None:
    url = service_url(fabric)
    session = requests.Session()
    session.headers.update(service_headers(fuzz_tokens["valid"]))
    run = uuid.uuid4().hex[:6]

    @FUZZ_SETTINGS
    @given(name=st.one_of(st.from_regex(r"[a-zA-Z0-9._-]{1,12}", fullmatch=True),
                          st.text(max_size=12),
                          st.sampled_from(["", ".", "..", "__x", "_", run + "a" * 243,
                                           run + "a" * 244, f" {run}-padded ", "a\tb", "ü",
                                           "a/b", "-", "\x00"])))
    def check(name: str) -> None:
        # short well-formed names get this run's prefix, so no run sees another's topics
        prefixable = name and name.strip() == name and len(name) < 200 and name[0] not in "._"
        topic = f"{run}{name}" if prefixable else name
        response = session.post(url + "v1/register_topic", json={"topic": topic}, timeout=60)
        STATUSES[("POST /v1/register_topic (names)", response.status_code)] += 1
        assert response.status_code < 500, response.text
        body = response.json()
        # whitespace is not trimmed: " t " is not the topic "t"
        if _legal_topic(topic):
            assert response.status_code == 200, (topic, body)
            assert body["topic"] == topic
            done = session.post(url + "v1/unregister_topic", json={"topic": topic}, timeout=60)
            assert done.status_code == 200 and done.json()["status"] == "success"
        else:
            assert response.status_code == 400, (topic, body)
            assert body["code"] in ("missing_topic", "invalid_topic_name"), body

    try:
        check()
    finally:
        session.close()


def test_zz_fuzzing_reached_the_logic_and_leaked_nothing(fabric: Fabric,
                                                         capsys: pytest.CaptureFixture[str],
                                                         ) -> None:
    ok = sorted({route for (route, status) in STATUSES if status == 200})
    summary = ", ".join(f"{route} {status}: {n}" for (route, status), n in sorted(STATUSES.items()))
    with capsys.disabled():
        print(f"\nlive fuzz: {sum(STATUSES.values())} requests; {summary}")
    # with a valid token, the fuzzer got past authentication on the protected routes
    assert {"POST /v1/create_key", "GET /v1/list_topics", "GET /v1/cluster"} <= set(ok), summary
    assert all(status < 500 for (_, status) in STATUSES), summary
    leaks = secrets_in_logs(fabric)
    assert leaks == {}, leaks
