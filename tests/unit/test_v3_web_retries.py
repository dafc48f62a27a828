"""``V3WebClient`` retries against a tiny HTTP server on 127.0.0.1 (real requests, real
globus-sdk transport; no mock of either).

A produce is retried only where it cannot write a record twice (429 and 503, which the service
answers before sending anything), as diaspora-event-sdk 0.5.1 does; a 500, 502 or 504 may come
after the records were written, so it raises at once. Other requests keep globus-sdk's retries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import globus_sdk
import pytest
from globus_sdk.transport import RetryConfig

from diaspora_notebook.web import V3WebClient, WebAPIError

NS = "ns-0123456789ab"


class Script:
    """What the server answers: a list of statuses per path, then 200; every request kept."""

    def __init__(self) -> None:
        self.plan: dict[str, list[int]] = {}
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def next_status(self, method: str, path: str) -> int:
        with self.lock:
            self.seen.append((method, path))
            queue = self.plan.get(path.split("?")[0], [])
            return queue.pop(0) if queue else 200


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status = script.next_status(self.command, self.path)
            body = (json.dumps({"error_code": status * 100 + 1, "message": "scripted"})
                    if status >= 400 else json.dumps({"error_code": 200, "offset": 0}))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status in (429, 503):
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def web(base_url: str) -> V3WebClient:
    return V3WebClient(subject="00000000-0000-0000-0000-0123456789ab", resource_server="rs",
                       scope="urn:scope:test", base_url=base_url,
                       retry_config=RetryConfig(max_retries=3, backoff=lambda _ctx: 0.0))


RECORDS = f"/api/v3/{NS}/topics/t1/records"
BATCH = f"/api/v3/{NS}/topics/t1/records:batch"


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_produce_answered_after_it_may_have_written_is_not_retried(
        server: tuple[str, Script], status: int) -> None:
    url, script = server
    script.plan[RECORDS] = [status]
    script.plan[BATCH] = [status]
    with web(url) as client:
        with pytest.raises(WebAPIError) as one:
            client.produce(NS, "t1", {"value": {"type": "JSON", "data": 1}})
        with pytest.raises(WebAPIError) as many:
            client.produce_batch(NS, "t1", [{"id": "0", "value": {"type": "JSON", "data": 1}}])
    assert one.value.http_status == many.value.http_status == status
    assert [p for _m, p in script.seen] == [RECORDS, BATCH]  # once each; the colon literal


@pytest.mark.parametrize("status", [429, 503])
def test_a_produce_not_admitted_is_retried(server: tuple[str, Script], status: int) -> None:
    url, script = server
    script.plan[RECORDS] = [status]
    with web(url) as client:
        assert client.produce(NS, "t1", {"value": {"type": "JSON", "data": 1}}).data[
            "offset"] == 0
    assert [p for _m, p in script.seen] == [RECORDS, RECORDS]


def test_other_requests_keep_globus_sdks_retries(server: tuple[str, Script]) -> None:
    url, script = server
    script.plan["/api/v3/namespace"] = [502]
    with web(url) as client:
        assert client.list_namespaces().http_status == 200
    assert [p for _m, p in script.seen] == ["/api/v3/namespace"] * 2


def test_a_produce_to_a_closed_port_is_retried_then_raises() -> None:
    """Nothing listening: no connection was made, so nothing was sent and a retry is safe."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with web(f"http://127.0.0.1:{port}") as client, pytest.raises(globus_sdk.NetworkError):
        client.produce(NS, "t1", {"value": {"type": "JSON", "data": 1}})
