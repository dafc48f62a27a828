"""Web-service latency: ``register_topic`` and ``create_key`` against a ``GET /healthz`` baseline.

    python benchmarks/service_latency.py --home /tmp/bench-home [--n 50]

One fresh account gets a service token through the real login flow (globus-sdk PKCE + the
IdP's login form). Then one keep-alive HTTP session runs N rounds of::

    GET /healthz, POST /v1/register_topic (a new topic each time), GET /healthz,
    POST /v1/create_key, GET /v1/list_topics

so the baseline is measured in the same run, on the same connection and under the same load.
``/healthz`` does no auth and no backend call: the ratio ``call p50 / healthz p50`` is what the
call itself costs (token introspection, Kafka admin requests). The topics are unregistered
afterwards (not timed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.testing.identities import create_identity
from diaspora_notebook.testing.tokens import service_headers, service_token, service_url

CALLS = ("healthz", "register_topic", "create_key", "list_topics")


def percentile(values: list[float], pct: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def run(fabric: Fabric, n: int) -> dict[str, Any]:
    person = create_identity(fabric, prefix="bench-svc")
    username, password = person.username, person.password
    token = service_token(fabric, username, password)
    base = service_url(fabric)
    suffix = uuid.uuid4().hex[:8]
    times: dict[str, list[float]] = {c: [] for c in CALLS}
    topics: list[str] = []
    with requests.Session() as session:
        session.headers.update(service_headers(token))

        def call(name: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            start = time.perf_counter()
            response = session.request(method, base + path, timeout=60, **kwargs)
            elapsed = time.perf_counter() - start
            response.raise_for_status()
            times[name].append(elapsed)
            return dict(response.json())

        for _ in range(3):  # warm-up: connection, introspection cache, admin client
            session.get(base + "healthz", timeout=30).raise_for_status()
            session.get(base + "v1/list_topics", timeout=30).raise_for_status()
        for i in range(n):
            topic = f"bench-svc-{suffix}-{i:04d}"
            call("healthz", "GET", "healthz")
            assert call("register_topic", "POST", "v1/register_topic",
                        json={"topic": topic})["status"] == "success"
            topics.append(topic)
            call("healthz", "GET", "healthz")
            assert call("create_key", "POST", "v1/create_key")["password"]
            call("list_topics", "GET", "v1/list_topics")
            # a registration holds a share of the account's partition budget until its topic
            # is created: give it back, as an account that keeps its topics few would
            session.post(base + "v1/unregister_topic", json={"topic": topics.pop()}, timeout=60)
    result: dict[str, Any] = {"n": n}
    health_p50 = percentile(times["healthz"], 50)
    for name in CALLS:
        result[name] = {"p50_ms": percentile(times[name], 50) * 1000,
                        "p99_ms": percentile(times[name], 99) * 1000,
                        "mean_ms": statistics.fmean(times[name]) * 1000,
                        "samples": len(times[name])}
        result[name]["ratio_p50_vs_healthz"] = percentile(times[name], 50) / health_p50
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None, help="fabric home (default: the usual one)")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    result = run(Fabric.at(args.home), args.n)
    for name in CALLS:
        r = result[name]
        print(f"{name:15s} p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
              f"({r['ratio_p50_vs_healthz']:.1f}x healthz)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
