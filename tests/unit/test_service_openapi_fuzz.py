"""Schemathesis drives every route from /openapi.json: never a 5xx, always the documented shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from diaspora_notebook.fabric.service.app import create_app
from diaspora_notebook.fabric.service.auth import get_introspector
from diaspora_notebook.fabric.service.memory import InMemoryKafkaAdmin
from diaspora_notebook.fabric.service.settings import ServiceSettings

SCOPE = "https://auth.example/scopes/svc/all"
A = "2b1b3c4d-0000-4000-8000-00000000000a"


class Introspector:
    def introspect(self, token):
        if token == "tok-a":
            return {"active": True, "sub": A, "scope": SCOPE, "aud": ["svc"], "exp": 4e9}
        return {"active": False}


def _app():
    s = ServiceSettings(bootstrap_servers=["127.0.0.1:9096"], admin_username="admin",
                        admin_password_file="/nonexistent/admin.password",
                        auth_url="http://127.0.0.1:1/", client_id="svc",
                        client_secret_file="/nonexistent/secret", resource_server="svc",
                        required_scope=SCOPE)
    app = create_app(s, admin=InMemoryKafkaAdmin(), introspector=Introspector())
    app.dependency_overrides[get_introspector] = Introspector
    return app


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.parametrize("token", ["tok-a", "tok-expired"])
@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_routes_conform_to_their_schema(case, token):
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    response = case.call()
    assert response.status_code < 500, response.text
    case.validate_response(response, checks=[status_code_conformance,
                                             content_type_conformance,
                                             response_schema_conformance])
