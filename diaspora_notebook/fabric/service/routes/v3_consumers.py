"""The consumer REST API the SDK 0.5.1's ``RESTConsumer`` uses (``/api/v2/consumers``).

Confluent REST Proxy v2 paths and bodies. The path has no namespace: it is the caller's
(``ns-<12 hex>`` of the token's identity), which the caller must own; topics and groups are
named without it. Errors are ``{"error_code", "message"}``; a gone instance is 404 / 40403.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from diaspora_notebook.fabric.service.v3.auth import RestCaller
from diaspora_notebook.fabric.service.v3.consumers import Instance
from diaspora_notebook.fabric.service.v3.errors import RestError, bad_request
from diaspora_notebook.fabric.service.v3.state import V3, V3Services
from diaspora_notebook.naming import namespace_of

router = APIRouter(prefix="/api/v2/consumers", tags=["v3 consumers"])
CONTENT_TYPE = "application/vnd.kafka.v2+json"
INSTANCE = "/{group}/instances/{instance_id}"


def _reply(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=CONTENT_TYPE)


def _no_content() -> Response:
    return Response(status_code=204)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("the body is not valid JSON") from None


def _namespace(v3: V3Services, subject: str) -> str:
    namespace = namespace_of(subject)
    if not v3.namespaces.owns(subject, namespace):
        raise RestError(404, 40401, f"Namespace {namespace} not found (create the user first)")
    return namespace


def _instance(v3: V3Services, subject: str, group: str, instance_id: str) -> Instance:
    instance = v3.consumers.get(_namespace(v3, subject), group, instance_id)
    if instance.subject != subject:
        raise RestError(404, 40403, "Consumer instance not found")
    return instance


@router.post("/{group}")
async def create_instance(group: str, request: Request, caller: RestCaller,
                          v3: V3) -> JSONResponse:
    """Create a consumer instance in the group ``<namespace>.<group>``."""
    body = await _body(request)
    namespace = await run_in_threadpool(_namespace, v3, caller.id)
    instance = await run_in_threadpool(v3.consumers.create, namespace, caller.id, group, body)
    base = str(request.base_url).rstrip("/")
    return _reply({"instance_id": instance.instance_id,
                   "base_uri": f"{base}/api/v2/consumers/{group}/instances/"
                               f"{instance.instance_id}"})


@router.delete(INSTANCE)
def delete_instance(group: str, instance_id: str, caller: RestCaller, v3: V3) -> Response:
    """Close the instance (without committing)."""
    _instance(v3, caller.id, group, instance_id)
    v3.consumers.delete(namespace_of(caller.id), group, instance_id)
    return _no_content()


@router.post(INSTANCE + "/subscription")
async def subscribe(group: str, instance_id: str, request: Request, caller: RestCaller,
                    v3: V3) -> Response:
    body = await _body(request)
    instance = await run_in_threadpool(_instance, v3, caller.id, group, instance_id)
    await run_in_threadpool(v3.consumers.subscribe, instance, body)
    return _no_content()


@router.get(INSTANCE + "/subscription")
def subscription(group: str, instance_id: str, caller: RestCaller, v3: V3) -> JSONResponse:
    instance = _instance(v3, caller.id, group, instance_id)
    return _reply({"topics": v3.consumers.subscription(instance)})


@router.delete(INSTANCE + "/subscription")
def unsubscribe(group: str, instance_id: str, caller: RestCaller, v3: V3) -> Response:
    v3.consumers.unsubscribe(_instance(v3, caller.id, group, instance_id))
    return _no_content()


@router.post(INSTANCE + "/assignments")
async def assign(group: str, instance_id: str, request: Request, caller: RestCaller,
                 v3: V3) -> Response:
    body = await _body(request)
    instance = await run_in_threadpool(_instance, v3, caller.id, group, instance_id)
    await run_in_threadpool(v3.consumers.assign, instance, body)
    return _no_content()


@router.get(INSTANCE + "/assignments")
def assignments(group: str, instance_id: str, caller: RestCaller, v3: V3) -> JSONResponse:
    instance = _instance(v3, caller.id, group, instance_id)
    return _reply({"partitions": v3.consumers.assignments(instance)})


def _int_query(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer", 42204) from None


@router.get(INSTANCE + "/records")
def records(group: str, instance_id: str, request: Request, caller: RestCaller,
            v3: V3) -> JSONResponse:
    """Records since the instance's position: a JSON array (``[]`` if none came in time)."""
    instance = _instance(v3, caller.id, group, instance_id)
    accept = request.headers.get("accept", "")
    wants = {fmt for fmt in ("binary", "json") if f"vnd.kafka.{fmt}.v2+json" in accept}
    if (wants and instance.format not in wants) or (instance.format == "json" and not wants):
        raise RestError(406, 40601, f"this is a {instance.format} instance: send Accept: "
                        f"application/vnd.kafka.{instance.format}.v2+json")
    found = v3.consumers.fetch(instance, _int_query(request, "timeout"),
                               _int_query(request, "max_bytes"))
    return JSONResponse(found, media_type=f"application/vnd.kafka.{instance.format}.v2+json")


@router.post(INSTANCE + "/offsets")
async def commit(group: str, instance_id: str, request: Request, caller: RestCaller,
                 v3: V3) -> JSONResponse:
    """Commit the positions (no body), or each ``offset + 1`` given (the last one processed)."""
    body = await _body(request)
    instance = await run_in_threadpool(_instance, v3, caller.id, group, instance_id)
    await run_in_threadpool(v3.consumers.commit, instance, body)
    return _reply([])


@router.get(INSTANCE + "/offsets")
async def committed(group: str, instance_id: str, request: Request, caller: RestCaller,
                    v3: V3) -> JSONResponse:
    """The group's committed offsets (the next record to read); uncommitted ones left out."""
    body = await _body(request)
    instance = await run_in_threadpool(_instance, v3, caller.id, group, instance_id)
    found = await run_in_threadpool(v3.consumers.committed, instance, body)
    return _reply({"offsets": found})


@router.post(INSTANCE + "/positions")
async def seek(group: str, instance_id: str, request: Request, caller: RestCaller,
               v3: V3) -> Response:
    body = await _body(request)
    instance = await run_in_threadpool(_instance, v3, caller.id, group, instance_id)
    await run_in_threadpool(v3.consumers.seek, instance, body)
    return _no_content()


@router.post(INSTANCE + "/positions/beginning")
async def seek_beginning(group: str, instance_id: str, request: Request, caller: RestCaller,
                         v3: V3) -> Response:
    body = await _body(request)
    instance = await run_in_threadpool(_instance, v3, caller.id, group, instance_id)
    await run_in_threadpool(lambda: v3.consumers.seek_edge(instance, body, end=False))
    return _no_content()


@router.post(INSTANCE + "/positions/end")
async def seek_end(group: str, instance_id: str, request: Request, caller: RestCaller,
                   v3: V3) -> Response:
    body = await _body(request)
    instance = await run_in_threadpool(_instance, v3, caller.id, group, instance_id)
    await run_in_threadpool(lambda: v3.consumers.seek_edge(instance, body, end=True))
    return _no_content()
