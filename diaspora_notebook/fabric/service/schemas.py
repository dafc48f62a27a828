"""Request and response bodies of the service (inputs and outputs are separate models)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["success", "no-op"]


class TopicIn(BaseModel):
    """Alternative to the ``Topic`` header."""

    model_config = ConfigDict(extra="ignore")
    topic: str | None = Field(None, description="the topic name")


class UserAccessIn(TopicIn):
    """Alternative to the ``Topic`` and ``User`` headers."""

    user: str | None = Field(None, description="the other identity's id (UUID)")


class TopicOut(BaseModel):
    status: Outcome
    message: str
    topic: str


class TopicListOut(BaseModel):
    status: Literal["success"] = "success"
    topics: list[str]


class KeyOut(BaseModel):
    status: Literal["success"] = "success"
    username: str = Field(description="the SCRAM user name: the caller's identity id")
    password: str = Field(description="shown once; the previous key stops working")
    endpoint: str = Field(description="bootstrap servers, comma-joined")


class ClusterOut(BaseModel):
    status: Literal["success"] = "success"
    bootstrap_servers: list[str]
    security_protocol: str
    sasl_mechanism: str
    ca_cert_pem: str | None = Field(description="PEM CA certificate; null = system trust store")


class AccessOut(BaseModel):
    status: Outcome
    message: str
    topic: str
    user: str


class TopicUsersOut(BaseModel):
    status: Literal["success"] = "success"
    topic: str
    owner: str
    users: list[str] = Field(description="identities granted access, owner excluded")


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class MetricsOut(BaseModel):
    status: Literal["success"] = "success"
    uptime_seconds: float
    requests: dict[str, dict[str, int]] = Field(
        description="'METHOD /route/template' -> HTTP status -> count")
