"""The web service's one configuration object, loaded from a JSON file plus env overrides.

A deployment points the same code at any Kafka cluster and at real Globus Auth by changing
only this file. Secrets never appear inline: the file names 0600 files that hold them.

Every field may be overridden with ``DIASPORA_SERVICE_<FIELD>`` (upper case), e.g.
``DIASPORA_SERVICE_BOOTSTRAP_SERVERS=host1:9096,host2:9096`` or a JSON list.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from diaspora_notebook.fabric.service import limits
from diaspora_notebook.fabric.service.errors import ServiceConfigError

ENV_PREFIX = "DIASPORA_SERVICE_"


class ServiceSettings(BaseModel):
    """Where Kafka and the identity provider are, and how the service authenticates to them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: list[str] = Field(min_length=1, description="host:port of the brokers")
    security_protocol: Literal["SASL_SSL"] = "SASL_SSL"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    admin_username: str = Field(min_length=1)
    admin_password_file: Path
    ca_file: Path | None = Field(None, description="PEM CA bundle; None = system trust store")
    auth_url: str = Field(description="identity provider base URL, ending with '/'")
    client_id: str = Field(min_length=1, description="the service's confidential client id")
    client_secret_file: Path
    resource_server: str = Field(min_length=1, description="expected in the token's aud")
    required_scope: str = Field(min_length=1)
    introspect_cache_seconds: float = Field(5.0, ge=0, le=5)
    key_provisioner: Literal["kafka"] = "kafka"
    kafka_timeout_seconds: float = Field(10.0, gt=0, le=120)
    key_propagation_seconds: float = Field(10.0, ge=0, le=120)
    idp_timeout_seconds: float = Field(5.0, gt=0, le=60)
    # per-user limits (issue 27, item 5): Kafka user quotas set at a user's first key, and the
    # number of topics one user may own; `diaspora-fabric user limits` changes one user's
    producer_byte_rate: int = Field(limits.DEFAULT_PRODUCER_BYTE_RATE, gt=0,
                                    description="bytes/s one user may produce (Kafka quota)")
    consumer_byte_rate: int = Field(limits.DEFAULT_CONSUMER_BYTE_RATE, gt=0,
                                    description="bytes/s one user may fetch (Kafka quota)")
    request_percentage: float = Field(limits.DEFAULT_REQUEST_PERCENTAGE, gt=0,
                                      description="% of one broker thread's time per user")
    controller_mutation_rate: float = Field(
        limits.DEFAULT_CONTROLLER_MUTATION_RATE, gt=0,
        description="partitions one user may create or delete per second (Kafka quota)")
    max_topics_per_user: int = Field(limits.DEFAULT_MAX_TOPICS_PER_USER, ge=0,
                                     description="topics one user may own")
    user_limits_file: Path | None = Field(
        None, description="0600 JSON of per-user topic caps; None = no per-user overrides")
    iam_key_store: Path | None = Field(None, description="the v3 IAM key store file (JSON, "
                                       "0600) the broker's OAUTHBEARER callback reads; None = "
                                       "v3 keys disabled")
    consumer_instance_timeout_seconds: float = Field(
        300.0, gt=0, le=3600, description="a v3 consumer REST instance idle this long is closed")
    max_partitions_per_topic: int = Field(
        32, ge=1, description="the brokers' partition cap per topic (their topic policy); the "
                              "add_partitions route grows a topic at most to this")
    max_partitions_per_user: int = Field(
        1024, ge=0, description="partitions one user's topics may hold together (the brokers "
                               "enforce each registration's allotment; see partition_budget)")
    max_partitions_total: int | None = Field(
        None, ge=0, description="partitions all users' topics may hold together (what the "
                                "brokers' open-file limit holds); None = no total")
    partition_budget_file: Path | None = Field(
        None, description="the allotment file (JSON, 0600) the brokers' create-topic policy "
                          "reads; None = no per-user partition budget")
    iam_bootstrap_servers: list[str] | None = Field(
        None, description="host:port of the brokers' IAM (OAUTHBEARER) listener, the v3 key's "
                          "endpoint; None = bootstrap_servers")

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: list[str]) -> list[str]:
        for server in value:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"bootstrap server {server!r} is not host:port")
        return value

    @field_validator("auth_url")
    @classmethod
    def _check_auth_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("auth_url must be an http(s) URL")
        if not value.endswith("/"):
            raise ValueError("auth_url must end with '/'")
        return value

    def admin_password(self) -> str:
        """The Kafka admin password, read fresh from its private file."""
        return read_secret_file(self.admin_password_file, "admin_password_file")

    def client_secret(self) -> str:
        """The service's client secret; the file holds the bare secret or JSON with it."""
        text = read_secret_file(self.client_secret_file, "client_secret_file")
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ServiceConfigError(
                    f"{self.client_secret_file} looks like JSON but does not parse",
                    hint="store the bare secret, or a JSON object with a client_secret key",
                ) from exc
            secret = data.get("client_secret") if isinstance(data, dict) else None
            if not isinstance(secret, str) or not secret:
                raise ServiceConfigError(
                    f"{self.client_secret_file} has no client_secret key",
                    hint="store the bare secret, or a JSON object with a client_secret key",
                )
            return secret
        return text

    def ca_pem(self) -> str | None:
        """The CA certificate text clients need, or None when they use the system trust store."""
        if self.ca_file is None:
            return None
        try:
            return self.ca_file.read_text()
        except OSError as exc:
            raise ServiceConfigError(
                f"cannot read ca_file {self.ca_file}: {exc.strerror}",
                hint="point ca_file at the cluster's PEM CA, or null for system trust",
            ) from exc


def read_secret_file(path: Path, field: str) -> str:
    """Read a secret from a file that only its owner may read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise ServiceConfigError(
            f"cannot read {field} {path}: {exc.strerror}",
            hint=f"create it with mode 0600 or fix {field} in the service config",
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ServiceConfigError(
            f"{field} {path} is readable by other users (mode {stat.S_IMODE(mode):o})",
            hint=f"run `chmod 600 {path}`",
        )
    if not text:
        raise ServiceConfigError(f"{field} {path} is empty", hint="write the secret into it")
    return text


def _env_value(name: str, raw: str) -> Any:
    if name in ("bootstrap_servers", "iam_bootstrap_servers"):
        if raw.lstrip().startswith("["):
            return json.loads(raw)
        return [part.strip() for part in raw.split(",") if part.strip()]
    if (name in ("ca_file", "iam_key_store", "user_limits_file", "partition_budget_file")
            and raw.strip().lower() in ("", "null", "none")):
        return None
    return raw


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> ServiceSettings:
    """Build settings from ``config_file`` (JSON object) overlaid with ``DIASPORA_SERVICE_*``.

    :param config_file: path of the JSON config, or None to use only the environment
    :param environ: the environment to read (default ``os.environ``)
    """
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            loaded = json.loads(path.read_text())
        except OSError as exc:
            raise ServiceConfigError(f"cannot read config {path}: {exc.strerror}",
                                     hint="pass --config with an existing JSON file") from exc
        except json.JSONDecodeError as exc:
            raise ServiceConfigError(f"config {path} is not valid JSON ({exc.msg})",
                                     hint="fix the JSON syntax") from exc
        if not isinstance(loaded, dict):
            raise ServiceConfigError(f"config {path} is not a JSON object", hint="see the docs")
        data.update(loaded)
    for name in ServiceSettings.model_fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            try:
                data[name] = _env_value(name, raw)
            except json.JSONDecodeError as exc:
                raise ServiceConfigError(f"{ENV_PREFIX}{name.upper()} is not a JSON list",
                                         hint="use a JSON list or comma-separated values") from exc
    try:
        return ServiceSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ServiceConfigError(
            f"invalid service config: {problems}",
            hint="fix the config file or the DIASPORA_SERVICE_* variables") from None
