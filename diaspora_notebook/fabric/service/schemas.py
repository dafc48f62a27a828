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
    read_only: bool = Field(False, description="grant_user_access: consume only (no produce)")


class PartitionsIn(TopicIn):
    """``add_partitions``: the topic (or the ``Topic`` header) and its new total."""

    partitions: int = Field(strict=True, description="the topic's new total number of "
                            "partitions")


class PartitionsOut(BaseModel):
    status: Outcome
    message: str
    topic: str
    partitions: int = Field(description="the topic's partitions now")
    max_partitions: int | None = Field(None, description="the most a topic may have here")


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
    access: Literal["read-write", "read-only", "none"] | None = Field(
        None, description="what the user may do now: produce and consume, consume only, "
        "nothing")
    groups: str | None = Field(None, description="the prefix of the user's consumer groups "
                               "on the topic, '<topic>/<user>/'")


class TopicUsersOut(BaseModel):
    status: Literal["success"] = "success"
    topic: str
    owner: str
    users: list[str] = Field(description="identities granted access, owner excluded")
    read_only: list[str] = Field(default_factory=list,
                                 description="those of ``users`` who may consume only")


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class MetricsOut(BaseModel):
    status: Literal["success"] = "success"
    uptime_seconds: float
    requests: dict[str, dict[str, int]] = Field(
        description="'METHOD /route/template' -> HTTP status -> count")
