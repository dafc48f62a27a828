"""v3 users, keys, namespaces and topics (``/api/v3``): the hosted service's routes and bodies.

Every answer is HTTP 200 with ``{"status": "success"|"failure", "message", ...}``, as the
hosted service does; the SDK returns the body to its caller.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from diaspora_notebook.fabric.service.v3.auth import ManagementCaller
from diaspora_notebook.fabric.service.v3.state import V3

router = APIRouter(prefix="/api/v3", tags=["v3"])


@router.post("/user")
def create_user(caller: ManagementCaller, v3: V3) -> dict[str, Any]:
    """Create the caller's namespace ``ns-<12 hex>`` (idempotent)."""
    return v3.namespaces.create_user(caller.id)


@router.delete("/user")
def delete_user(caller: ManagementCaller, v3: V3) -> dict[str, Any]:
    """Delete the caller's key, topics (with their events), groups and namespace."""
    return v3.namespaces.delete_user(caller.id)


@router.post("/key")
def create_key(caller: ManagementCaller, v3: V3) -> dict[str, Any]:
    """The caller's IAM access key: the existing one (``fresh: false``) or a new one."""
    return v3.namespaces.create_key(caller.id)


@router.delete("/key")
def delete_key(caller: ManagementCaller, v3: V3) -> dict[str, Any]:
    """Delete the caller's IAM access key (idempotent)."""
    return v3.namespaces.delete_key(caller.id)


@router.get("/namespace")
def list_namespaces(caller: ManagementCaller, v3: V3) -> dict[str, Any]:
    """The caller's namespaces with their topics."""
    return v3.namespaces.list_namespaces(caller.id)


@router.post("/{namespace}/{topic}")
def create_topic(namespace: str, topic: str, caller: ManagementCaller, v3: V3) -> dict[str, Any]:
    """Create the Kafka topic ``<namespace>.<topic>`` (1 partition; idempotent)."""
    return v3.namespaces.create_topic(caller.id, namespace, topic)


@router.delete("/{namespace}/{topic}")
def delete_topic(namespace: str, topic: str, caller: ManagementCaller, v3: V3) -> dict[str, Any]:
    """Delete the topic with its events (idempotent)."""
    return v3.namespaces.delete_topic(caller.id, namespace, topic)


@router.put("/{namespace}/{topic}/recreate")
def recreate_topic(namespace: str, topic: str, caller: ManagementCaller,
                   v3: V3) -> dict[str, Any]:
    """Delete the topic and create it again, empty."""
    return v3.namespaces.recreate_topic(caller.id, namespace, topic)
