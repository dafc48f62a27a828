"""A small HTTP client of the fabric's v3 API for tests: real HTTP, real IdP tokens."""

from __future__ import annotations

from typing import Any

import requests

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.naming import namespace_of
from diaspora_notebook.testing.identities import create_identity
from diaspora_notebook.testing.tokens import service_token, service_url

KAFKA_V2 = "application/vnd.kafka.v2+json"


class V3:
    """One identity calling the v3 routes with its service token (and Subject header)."""

    def __init__(self, base_url: str, token: str | None, sub: str) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self.sub = sub
        self.ns = namespace_of(sub)
        self.session = requests.Session()

    def headers(self, **extra: str) -> dict[str, str]:
        out = {"Subject": self.sub, **extra}
        if self.token is not None:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None,
             **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        response = self.session.request(method, url, headers=self.headers(**(headers or {})),
                                        timeout=90, **kwargs)
        assert response.status_code < 500, (method, path, response.status_code, response.text)
        return response

    def manage(self, method: str, path: str) -> dict[str, Any]:
        response = self.call(method, path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        body: dict[str, Any] = response.json()
        return body

    # management
    def create_user(self) -> dict[str, Any]:
        return self.manage("POST", "/api/v3/user")

    def delete_user(self) -> dict[str, Any]:
        return self.manage("DELETE", "/api/v3/user")

    def create_key(self) -> dict[str, Any]:
        return self.manage("POST", "/api/v3/key")

    def delete_key(self) -> dict[str, Any]:
        return self.manage("DELETE", "/api/v3/key")

    def namespaces(self) -> dict[str, Any]:
        return self.manage("GET", "/api/v3/namespace")

    def create_topic(self, topic: str, ns: str | None = None) -> dict[str, Any]:
        return self.manage("POST", f"/api/v3/{ns or self.ns}/{topic}")

    def delete_topic(self, topic: str, ns: str | None = None) -> dict[str, Any]:
        return self.manage("DELETE", f"/api/v3/{ns or self.ns}/{topic}")

    def recreate_topic(self, topic: str, ns: str | None = None) -> dict[str, Any]:
        return self.manage("PUT", f"/api/v3/{ns or self.ns}/{topic}/recreate")

    # records
    def produce(self, topic: str, record: dict[str, Any], ns: str | None = None
                ) -> requests.Response:
        return self.call("POST", f"/api/v3/{ns or self.ns}/topics/{topic}/records", json=record)

    def produce_batch(self, topic: str, entries: list[dict[str, Any]], ns: str | None = None
                      ) -> requests.Response:
        return self.call("POST", f"/api/v3/{ns or self.ns}/topics/{topic}/records:batch",
                         json={"entries": entries})

    # consumers
    def consumer(self, group: str, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", f"/api/v2/consumers/{group}", json=body,
                         headers={"Content-Type": KAFKA_V2})

    def instance(self, uri: str, method: str, route: str = "", body: Any = None,
                 **headers: str) -> requests.Response:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        return self.call(method, uri + route, headers={"Content-Type": KAFKA_V2, **headers},
                         **kwargs)

    def fetch(self, uri: str, fmt: str = "json", timeout: int = 3000,
              **params: Any) -> list[dict[str, Any]]:
        response = self.call("GET", uri + "/records", params={"timeout": timeout, **params},
                             headers={"Accept": f"application/vnd.kafka.{fmt}.v2+json",
                                      "Content-Type": KAFKA_V2})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    def fetch_until(self, uri: str, count: int, fmt: str = "json",
                    attempts: int = 10) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for _ in range(attempts):
            records += self.fetch(uri, fmt)
            if len(records) >= count:
                break
        return records


def v3_user(fabric: Fabric, prefix: str = "v3") -> tuple[V3, Any]:
    """A fresh account logged in through the PKCE flow: ``(its V3 client, the identity)``."""
    identity = create_identity(fabric, prefix=prefix)
    token = service_token(fabric, identity.username, identity.password)
    return V3(service_url(fabric), token, identity.id), identity
