"""Records over HTTPS: the produce routes' bodies (Confluent REST v3) and the writer.

The service writes with its own Kafka identity (``acks=all``) after the route checked that the
caller owns the namespace. A 429 (too many produce requests of one user in flight) or a 503
(the cluster cannot be reached) is only answered before anything was sent, because the SDK
retries exactly those two.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import kafka.errors as kerr
from kafka import KafkaProducer

from diaspora_notebook.fabric.service.settings import ServiceSettings
from diaspora_notebook.fabric.service.v3.errors import RestError, bad_request

log = logging.getLogger(__name__)

MAX_BATCH = 500
MAX_IN_FLIGHT_PER_USER = 8
SEND_TIMEOUT_SECONDS = 30.0
TYPES = ("BINARY", "JSON", "STRING")
BAD_TIMESTAMP = 40005


def kafka_client_config(settings: ServiceSettings) -> dict[str, Any]:
    """kafka-python settings of the service's own identity (the admin), verified TLS."""
    return {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "security_protocol": settings.security_protocol,
        "sasl_mechanism": settings.sasl_mechanism,
        "sasl_plain_username": settings.admin_username,
        "sasl_plain_password": settings.admin_password(),
        "ssl_cafile": str(settings.ca_file) if settings.ca_file else None,
        "ssl_check_hostname": True,
    }


@dataclass(frozen=True)
class Record:
    """One record of a produce request, decoded."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp_ms: int | None
    key_info: dict[str, Any] | None
    value_info: dict[str, Any] | None


def _data(field: str, spec: Any) -> tuple[bytes, dict[str, Any]]:
    if not isinstance(spec, dict):
        raise bad_request(f"{field} must be an object {{type, data}}")
    kind = spec.get("type", "JSON" if field == "value" else "STRING")
    if kind not in TYPES:
        raise bad_request(f"{field}.type must be one of {', '.join(TYPES)}")
    data = spec.get("data")
    if kind == "BINARY":
        if not isinstance(data, str):
            raise bad_request(f"{field}.data of type BINARY must be a base64 string")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"{field}.data is not valid base64") from None
    elif kind == "STRING":
        if not isinstance(data, str):
            raise bad_request(f"{field}.data of type STRING must be a string")
        raw = data.encode()
    else:
        raw = json.dumps(data, separators=(",", ":")).encode()
    return raw, {"type": kind, "size": len(raw)}


def _timestamp(value: Any) -> int:
    if not isinstance(value, str):
        raise RestError(400, BAD_TIMESTAMP, "timestamp must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RestError(400, BAD_TIMESTAMP, f"timestamp {value[:60]!r} is not ISO-8601") from None
    if parsed.tzinfo is None:
        raise RestError(400, BAD_TIMESTAMP,
                        f"timestamp {value[:60]!r} has no UTC offset (e.g. +00:00)")
    return int(parsed.timestamp() * 1000)


def parse_record(body: Any) -> Record:
    """Decode one Confluent REST v3 record; a :class:`RestError` (400) names the problem."""
    if not isinstance(body, dict):
        raise bad_request("the record must be a JSON object")
    if body.get("partition_id") not in (None, 0):
        raise bad_request("partition_id must be 0 (topics have one partition)")
    key = value = None
    key_info = value_info = None
    if body.get("key") is not None:
        key, key_info = _data("key", body["key"])
    if body.get("value") is not None:
        value, value_info = _data("value", body["value"])
    if key is None and value is None:
        raise bad_request("the record needs a key or a value")
    headers: list[tuple[str, bytes | None]] = []
    raw_headers = body.get("headers") or []
    if not isinstance(raw_headers, list):
        raise bad_request("headers must be a list of {name, value}")
    for header in raw_headers:
        if not isinstance(header, dict) or not isinstance(header.get("name"), str):
            raise bad_request("each header needs a string name")
        hv = header.get("value")
        if hv is None:
            headers.append((header["name"], None))
            continue
        if not isinstance(hv, str):
            raise bad_request("a header value must be base64 or null")
        try:
            headers.append((header["name"], base64.b64decode(hv, validate=True)))
        except (binascii.Error, ValueError):
            raise bad_request(f"header {header['name'][:40]!r} is not valid base64") from None
    ts = _timestamp(body["timestamp"]) if body.get("timestamp") is not None else None
    return Record(key, value, headers, ts, key_info, value_info)


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")


class RecordWriter:
    """One shared ``KafkaProducer`` (thread-safe), created lazily, replaced after a failure."""

    def __init__(self, config: Callable[[], dict[str, Any]]) -> None:
        self._config = config
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(
                        **self._config(), acks="all", linger_ms=0, client_id="diaspora-service-v3",
                        allow_auto_create_topics=False, max_block_ms=10_000)
                except (kerr.KafkaError, OSError) as exc:
                    raise RestError(503, 50302, "cannot reach the Kafka cluster "
                                    f"({type(exc).__name__})", headers={"Retry-After": "2"},
                                    ) from None
            return self._producer

    def admit(self, subject: str) -> None:
        with self._lock:
            if self._in_flight.get(subject, 0) >= MAX_IN_FLIGHT_PER_USER:
                raise RestError(429, 42901, "too many produce requests in flight; retry later",
                                headers={"Retry-After": "1"})
            self._in_flight[subject] = self._in_flight.get(subject, 0) + 1

    def release(self, subject: str) -> None:
        with self._lock:
            left = self._in_flight.get(subject, 1) - 1
            if left <= 0:
                self._in_flight.pop(subject, None)
            else:
                self._in_flight[subject] = left

    def write(self, topic: str, records: list[Record]) -> list[dict[str, Any] | Exception]:
        """Send ``records`` to Kafka topic ``topic``; per record its metadata or the error."""
        producer = self._get()
        futures: list[Any] = []
        for record in records:
            try:
                # kafka-python refuses a null header value: it is written as empty bytes
                headers = [(k, b"" if v is None else v) for k, v in record.headers]
                futures.append(producer.send(topic, value=record.value, key=record.key,
                                             headers=headers or None,
                                             timestamp_ms=record.timestamp_ms))
            except kerr.KafkaTimeoutError as exc:
                if not futures:  # nothing sent yet: the SDK may retry
                    raise RestError(503, 50302, "cannot reach the Kafka cluster",
                                    headers={"Retry-After": "2"}) from exc
                futures.append(exc)
            except (kerr.KafkaError, ValueError, TypeError, AssertionError) as exc:
                futures.append(exc)
        out: list[dict[str, Any] | Exception] = []
        for future in futures:
            if isinstance(future, Exception):
                out.append(future)
                continue
            try:
                meta = future.get(timeout=SEND_TIMEOUT_SECONDS)
            except (kerr.KafkaError, OSError) as exc:
                out.append(exc)
                continue
            out.append({"partition_id": meta.partition, "offset": meta.offset,
                        "timestamp": iso_ms(meta.timestamp) if meta.timestamp and
                        meta.timestamp > 0 else None})
        return out

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            threading.Thread(target=producer.close, kwargs={"timeout": 5},
                             daemon=True).start()
