"""Load: 50 identities at once against the LIVE service (real IdP, real broker).

Each identity is a real IdP user whose token comes through the globus-sdk PKCE flow; then 50
threads released together each register a topic, create a key and list their topics. Every
call must succeed; the p50 / p99 latency of each call is printed (also without ``-s``).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from kafka import KafkaAdminClient

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.testing.secrets import remember_secret, secrets_in_logs
from diaspora_notebook.testing.identities import create_identity
from diaspora_notebook.testing.tokens import service_headers, service_token, service_url
from tests.integration.kafka_helpers import user_config

IDENTITIES = 50
LOGIN_WORKERS = 8
CALLS = ("register_topic", "create_key", "list_topics")


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _mint(fabric: Fabric, _: int) -> tuple[str, str, float]:
    start = time.perf_counter()
    person = create_identity(fabric, prefix="load")
    username, password, identity_id = person.username, person.password, person.id
    token = service_token(fabric, username, password)
    return identity_id, token, time.perf_counter() - start


def _session_for_one_identity(base: str, token: str, topic: str, barrier: threading.Barrier,
                              ) -> dict[str, Any]:
    """register -> create_key -> list, timing each call; the threads start together."""
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}
    with requests.Session() as session:
        session.headers.update(service_headers(token))
        barrier.wait(timeout=60)
        for call, method, kwargs in (("register_topic", "post", {"json": {"topic": topic}}),
                                     ("create_key", "post", {}),
                                     ("list_topics", "get", {})):
            start = time.perf_counter()
            response = session.request(method, f"{base}v1/{call}", timeout=120, **kwargs)
            timings[call] = time.perf_counter() - start
            results[call] = (response.status_code, response.json())
            if call == "create_key" and response.status_code == 200:
                remember_secret(response.json()["password"])
    return {"timings": timings, "results": results, "topic": topic}


@pytest.mark.slow
def test_fifty_identities_at_once(fabric: Fabric, capsys: pytest.CaptureFixture[str]) -> None:
    base = service_url(fabric)
    # tokens through the real login flow, a few logins at a time
    start = time.perf_counter()
    with ThreadPoolExecutor(LOGIN_WORKERS) as pool:
        minted = list(pool.map(lambda i: _mint(fabric, i), range(IDENTITIES)))
    mint_seconds = time.perf_counter() - start
    assert mint_seconds < 60, f"minting {IDENTITIES} tokens took {mint_seconds:.1f}s"
    assert len({identity for identity, _, _ in minted}) == IDENTITIES

    barrier = threading.Barrier(IDENTITIES)
    suffix = f"{time.time_ns():x}"
    start = time.perf_counter()
    with ThreadPoolExecutor(IDENTITIES) as pool:
        futures = [pool.submit(_session_for_one_identity, base, token,
                               f"load-{suffix}-{n:02d}", barrier)
                   for n, (_, token, _) in enumerate(minted)]
        runs = [f.result(timeout=110) for f in futures]
    wall = time.perf_counter() - start

    lines = [f"load: {IDENTITIES} identities; tokens minted in {mint_seconds:.1f}s "
             f"({LOGIN_WORKERS} at a time; per login p50 "
             f"{statistics.median(m[2] for m in minted) * 1000:.0f} ms); "
             f"all calls done in {wall:.1f}s"]
    for call in CALLS:
        values = [run["timings"][call] for run in runs]
        lines.append(f"  {call:15s} p50 {_percentile(values, 50) * 1000:7.1f} ms   "
                     f"p99 {_percentile(values, 99) * 1000:7.1f} ms   "
                     f"max {max(values) * 1000:7.1f} ms")
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    failures = Counter((call, run["results"][call][0], run["results"][call][1].get("code"))
                       for run in runs for call in CALLS if run["results"][call][0] != 200)
    assert not failures, f"failed calls (call, status, code) -> count: {dict(failures)}"
    for (identity_id, _, _), run in zip(minted, runs, strict=True):
        assert run["results"]["register_topic"][1]["status"] == "success"
        assert run["results"]["create_key"][1]["username"] == identity_id
        assert run["results"]["list_topics"][1]["topics"] == [run["topic"]]

    # the keys are real: a few of them log in to Kafka
    for (identity_id, _, _), run in list(zip(minted, runs, strict=True))[:: IDENTITIES // 3]:
        client = KafkaAdminClient(**user_config(fabric, identity_id,
                                                run["results"]["create_key"][1]["password"]),
                                  bootstrap_timeout_ms=15000)
        client.close()

    leaks = secrets_in_logs(fabric)
    assert leaks == {}, leaks
