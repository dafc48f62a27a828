"""``create_app(settings)``: assemble the routers, error handlers, request log and metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from diaspora_notebook.fabric.service.auth import IntrospectionClient, Introspector
from diaspora_notebook.fabric.service.errors import install_error_handlers, internal_error_response
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminBackend, KafkaAdminGateway
from diaspora_notebook.fabric.service.limits import (
    MAX_BODY_BYTES,
    TopicCap,
    UserLimitsFile,
    default_quotas,
)
from diaspora_notebook.fabric.service.metrics import RequestMetrics
from diaspora_notebook.fabric.service.ownership import TopicAccessManager
from diaspora_notebook.fabric.service.partition_budget import partition_budget
from diaspora_notebook.fabric.service.provisioning import KafkaKeyProvisioner, KeyProvisioner
from diaspora_notebook.fabric.service.routes import (
    access,
    cluster,
    keys,
    topics,
    v3_consumers,
    v3_management,
    v3_records,
)
from diaspora_notebook.fabric.service.schemas import HealthOut, MetricsOut
from diaspora_notebook.fabric.service.settings import ServiceSettings
from diaspora_notebook.fabric.service.v3.body_limit import BodyLimitWithRecords
from diaspora_notebook.fabric.service.v3.errors import install_v3_error_handlers
from diaspora_notebook.fabric.service.v3.state import V3Services, supports_v3

log = logging.getLogger(__name__)
request_log = logging.getLogger("diaspora_notebook.fabric.service.requests")


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document minus its 422 entries: validation errors are our 400 ErrorBody."""
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema
    return build


def _add_request_middleware(app: FastAPI, metrics: RequestMetrics) -> None:
    @app.middleware("http")
    async def log_and_count(request: Request,
                            call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:  # last resort: never a bare 500, never a secret in the log
            log.error("unexpected %s while serving %s %s", type(exc).__name__,
                      request.method, request.url.path)
            response = internal_error_response()
        route = request.scope.get("route")
        metrics.record(request.method, getattr(route, "path", None), response.status_code)
        request_log.info("%s %s %d %.1fms", request.method, request.url.path,
                         response.status_code, (time.perf_counter() - start) * 1000)
        return response


def create_app(settings: ServiceSettings, *, admin: KafkaAdminBackend | None = None,
               introspector: Introspector | None = None,
               key_provisioner: KeyProvisioner | None = None) -> FastAPI:
    """Build the service.

    :param settings: the service configuration
    :param admin: the Kafka side (default: a :class:`KafkaAdminGateway` on the settings)
    :param introspector: token introspection (default: the IdP at ``settings.auth_url``)
    :param key_provisioner: key backend (default: SCRAM through ``admin``)
    """
    backend = admin if admin is not None else KafkaAdminGateway(settings)
    if introspector is None:
        introspector = IntrospectionClient(
            settings.auth_url, settings.client_id, settings.client_secret(),
            cache_seconds=settings.introspect_cache_seconds, timeout=settings.idp_timeout_seconds)
    if key_provisioner is None:
        key_provisioner = KafkaKeyProvisioner(backend, mechanism=settings.sasl_mechanism,
                                              propagation_seconds=settings.key_propagation_seconds,
                                              quotas=default_quotas(settings))
    v3 = (V3Services.build(settings, backend,
                           idle_seconds=settings.consumer_instance_timeout_seconds)
          if supports_v3(backend) else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        if v3 is not None:
            v3.close()
        backend.close()

    app = FastAPI(title="Diaspora web service", version="1.0",
                  description="Topics (Kafka ACLs), keys (SCRAM users) and sharing for the "
                              "Diaspora Event Fabric.", lifespan=lifespan,
                  redirect_slashes=False)  # its redirect URL would come from the Host header
    app.state.settings = settings
    app.state.admin = backend
    app.state.introspector = introspector
    app.state.topics = TopicAccessManager(
        backend, propagation_seconds=settings.key_propagation_seconds,
        max_topics=TopicCap(settings.max_topics_per_user,
                            UserLimitsFile(settings.user_limits_file)),
        max_partitions=settings.max_partitions_per_topic,
        budget=partition_budget(settings, backend))
    app.state.keys = key_provisioner
    app.state.v3 = v3
    metrics = RequestMetrics()
    install_error_handlers(app)
    install_v3_error_handlers(app)
    # inside the request log: counted; the produce routes take larger bodies
    app.add_middleware(BodyLimitWithRecords, limit=MAX_BODY_BYTES)
    _add_request_middleware(app, metrics)
    for module in (topics, keys, access, cluster):
        app.include_router(module.router)
    if v3 is not None:  # a Kafka cluster behind (not the in-memory test backend)
        for module in (v3_management, v3_records, v3_consumers):
            app.include_router(module.router)

    @app.get("/healthz", response_model=HealthOut, tags=["ops"])
    def healthz() -> HealthOut:
        """Liveness: the process answers (no auth, no backend calls)."""
        return HealthOut()

    @app.get("/metrics", response_model=MetricsOut, tags=["ops"])
    def get_metrics() -> MetricsOut:
        """Request counts per route template and status since start (no auth, no identities)."""
        uptime, counts = metrics.snapshot()
        return MetricsOut(uptime_seconds=round(uptime, 3), requests=counts)

    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app
