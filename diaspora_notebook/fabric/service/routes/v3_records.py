"""Records over HTTPS (``/api/v3/{namespace}/topics/{topic}/records`` and ``records:batch``).

Confluent REST v3 bodies; the caller must own the namespace; the service writes with its own
Kafka identity and answers after every in-sync replica has the record (``acks=all``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from diaspora_notebook.fabric.service.v3.auth import RestCaller
from diaspora_notebook.fabric.service.v3.errors import RestError, bad_request, not_in_namespace
from diaspora_notebook.fabric.service.v3.records import MAX_BATCH, Record, parse_record
from diaspora_notebook.fabric.service.v3.state import V3, V3Services
from diaspora_notebook.naming import v3_kafka_topic

router = APIRouter(prefix="/api/v3", tags=["v3 records"])


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise bad_request("the request needs a JSON body")
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("the body is not valid JSON") from None


def _target(v3: V3Services, subject: str, namespace: str, topic: str) -> str:
    """The Kafka topic, once the caller is known to own the namespace and the topic exists."""
    if not v3.namespaces.owns(subject, namespace):
        raise RestError(404, 40401, f"Namespace {namespace} not found")
    kafka_name = v3_kafka_topic(namespace, topic)
    if not v3.admin.topic_exists(kafka_name):
        raise not_in_namespace(topic)
    return kafka_name


def _produce(v3: V3Services, subject: str, kafka_name: str,
             records: list[Record]) -> list[dict[str, Any] | Exception]:
    v3.writer.admit(subject)
    try:
        return v3.writer.write(kafka_name, records)
    finally:
        v3.writer.release(subject)


def _failure_message(exc: Exception) -> str:
    return f"the record was not written ({type(exc).__name__})"


@router.post("/{namespace}/topics/{topic}/records")
async def produce(namespace: str, topic: str, request: Request, caller: RestCaller,
                  v3: V3) -> JSONResponse:
    """Write one record; the reply names its partition, offset and timestamp."""
    record = parse_record(await _json(request))
    kafka_name = await run_in_threadpool(_target, v3, caller.id, namespace, topic)
    [result] = await run_in_threadpool(_produce, v3, caller.id, kafka_name, [record])
    if isinstance(result, Exception):
        raise RestError(500, 50001, _failure_message(result))
    body = {"error_code": 200, "topic_name": topic, **result,
            "key": record.key_info, "value": record.value_info}
    return JSONResponse(body)


@router.post("/{namespace}/topics/{topic}/records:batch")
async def produce_batch(namespace: str, topic: str, request: Request, caller: RestCaller,
                        v3: V3) -> JSONResponse:
    """Write up to 500 records, each on its own: 207 with ``successes`` and ``failures``."""
    body = await _json(request)
    entries = body.get("entries") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise bad_request("the body needs entries: a non-empty list of records")
    if len(entries) > MAX_BATCH:
        raise bad_request(f"a batch holds at most {MAX_BATCH} records ({len(entries)} given)")
    ids: list[str] = []
    for index, entry in enumerate(entries):
        entry_id = entry.get("id", str(index)) if isinstance(entry, dict) else str(index)
        ids.append(str(entry_id))
    if len(set(ids)) != len(ids):
        raise bad_request("entry ids must be distinct")
    kafka_name = await run_in_threadpool(_target, v3, caller.id, namespace, topic)
    failures: list[dict[str, Any]] = []
    good: list[tuple[str, Record]] = []
    for entry_id, entry in zip(ids, entries, strict=True):
        try:
            good.append((entry_id, parse_record(entry)))
        except RestError as exc:
            failures.append({"id": entry_id, "error_code": exc.error_code,
                             "message": exc.message})
    successes: list[dict[str, Any]] = []
    if good:
        results = await run_in_threadpool(_produce, v3, caller.id, kafka_name,
                                          [r for _i, r in good])
        for (entry_id, _record), result in zip(good, results, strict=True):
            if isinstance(result, Exception):
                failures.append({"id": entry_id, "error_code": 50001,
                                 "message": _failure_message(result)})
            else:
                successes.append({"id": entry_id, "topic_name": topic, **result})
    return JSONResponse({"successes": successes, "failures": failures}, status_code=207)
