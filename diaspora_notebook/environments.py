"""Environments as data: where the identity provider, the web service and Kafka are.

An environment is a name plus endpoints; nothing in the toolkit knows whether they are local.

* ``local`` is read from the local fabric's ``fabric.json`` (fabric home =
  ``DIASPORA_FABRIC_HOME`` or ``~/.diaspora/fabric``), written by ``diaspora-fabric up``;
  ``local-v3`` is the same fabric through its v3 API (IAM keys on its OAUTHBEARER listeners).
* ``diaspora`` is built in: today's hosted Diaspora service (v3 API, Globus Auth, the client id
  and scope of diaspora-event-sdk 0.5.1), so ``%diaspora_login --env diaspora`` needs nothing
  configured. An environments file may define its own ``diaspora``, which then wins.
* Every other name comes from a TOML file (``DIASPORA_ENVIRONMENTS_FILE``, else
  ``~/.diaspora/environments.toml``, or a path you pass), one ``[environments.<name>]`` table
  each; ``environments.example.toml`` in this package shows a deployment on Globus Auth and
  Amazon MSK.

Each environment says which API its service speaks (``api``): ``"v1"`` (the seed's routes and
SCRAM keys: the local fabric's default) or ``"v3"`` (the hosted service since 2026-02-28:
namespaces, IAM keys whose bootstrap servers come with the key, records over HTTPS).

Which environment a ``Client`` uses (:func:`resolve_environment`):

1. the ``environment=`` argument;
2. ``DIASPORA_ENVIRONMENT``;
3. ``local``, if a local fabric is running (fabric.json exists and its service answers
   ``/healthz``);
4. otherwise an :class:`~diaspora_notebook.errors.EnvironmentNotFoundError` listing the choices.

Each environment is registered with globus-sdk as an ``EnvConfig`` subclass (Auth URL and a
``diaspora_url`` for :class:`~diaspora_notebook.web.WebClient`), so globus-sdk's clients resolve
their URLs from it; ``os.environ`` is never changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diaspora_notebook import config
from diaspora_notebook.errors import EnvironmentConfigError, EnvironmentNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

LOCAL = "local"
LOCAL_V3 = "local-v3"
DIASPORA = "diaspora"
APIS = ("v1", "v3")
#: what a v3 key authenticates with: an IAM (SigV4) token over OAUTHBEARER
IAM_MECHANISM = "OAUTHBEARER"
SYSTEM_TRUST = "system"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SCOPE_RS = re.compile(r"^https://auth\.globus\.org/scopes/([^/]+)/[^/]+$")
_HEALTH_TIMEOUT = 2.0


@dataclass(frozen=True)
class Environment:
    """Endpoints of one Diaspora deployment (no secrets).

    :param name: the environment's name (``local``, ``production``, ...).
    :param auth_url: Globus Auth (or compatible) base URL, ending with ``/``.
    :param native_client_id: the native app client used for user logins.
    :param service_url: the Diaspora web service base URL, ending with ``/``.
    :param scope: the service's scope string the tokens must carry.
    :param resource_server: the service's resource server (its client id).
    :param bootstrap_servers: Kafka ``host:port`` addresses (v3: may be empty, the key's
        ``endpoint`` names them).
    :param ca_file: PEM CA bundle for the brokers, or None for the system trust store.
    :param source: where this definition was read from (for messages).
    :param api: ``"v1"`` or ``"v3"``: the web service's API (and so the kind of key).
    """

    name: str
    auth_url: str
    native_client_id: str
    service_url: str
    scope: str
    resource_server: str
    bootstrap_servers: tuple[str, ...]
    security_protocol: str = "SASL_SSL"
    sasl_mechanism: str = "SCRAM-SHA-512"
    ca_file: Path | None = None
    source: str = field(default="", compare=False)
    api: str = "v1"

    def __post_init__(self) -> None:
        for attr in ("auth_url", "service_url"):
            value = getattr(self, attr)
            if not value.endswith("/"):
                # globus-sdk builds the native redirect URI by concatenation (pitfall 1)
                object.__setattr__(self, attr, value + "/")

    @property
    def globus_environment(self) -> str:
        """The name registered with globus-sdk: unique per set of endpoints."""
        digest = hashlib.sha256(
            f"{self.auth_url}|{self.service_url}|{self.native_client_id}".encode()
        ).hexdigest()[:10]
        return f"diaspora-{self.name}-{digest}"

    def register(self) -> str:
        """Register this environment with globus-sdk (idempotent); return its env name."""
        return register_globus_environment(self.globus_environment, self.auth_url,
                                           service_url=self.service_url)

    @property
    def is_v3(self) -> bool:
        return self.api == "v3"

    def describe(self) -> str:
        trust = str(self.ca_file) if self.ca_file else "system trust store"
        servers = ",".join(self.bootstrap_servers) or "from the key"
        return (f"{self.name} ({self.api}): auth {self.auth_url}, service {self.service_url}, "
                f"kafka {servers} ({self.security_protocol}/{self.sasl_mechanism}, CA {trust})")


def register_globus_environment(envname: str, auth_url: str, *,
                                service_url: str | None = None) -> str:
    """Make ``envname`` a globus-sdk environment whose Auth service is ``auth_url``.

    The one place the toolkit (and its test helpers) defines an ``EnvConfig``: globus-sdk
    registers each subclass under its ``envname`` when the class is created. Idempotent.

    :param service_url: the Diaspora web service (``diaspora_url``, for ``WebClient``).
    :returns: ``envname``, to pass as ``environment=`` to globus-sdk clients and apps.
    """
    from globus_sdk.config import EnvConfig

    auth_url = auth_url if auth_url.endswith("/") else auth_url + "/"
    existing = EnvConfig.get_by_name(envname)
    if (existing is None or getattr(existing, "auth_url", None) != auth_url
            or getattr(existing, "diaspora_url", None) != service_url):
        attributes = {"envname": envname, "auth_url": auth_url,
                      "domain": "diaspora.invalid"}  # unused: the *_url attributes win
        if service_url is not None:
            attributes["diaspora_url"] = service_url
        type(f"DiasporaEnv_{re.sub(r'[^A-Za-z0-9_]', '_', envname)}", (EnvConfig,), attributes)
    return envname


def _need(data: Mapping[str, Any], key: str, where: str) -> Any:
    value = data.get(key)
    if value is None or value == "" or value == []:
        raise EnvironmentConfigError(f"{where} has no {key!r}",
                                     hint="see environments.example.toml in the package")
    return value


def _servers(value: Any, where: str, *, required: bool = True) -> tuple[str, ...]:
    if value is None:
        value = ()
    items = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
    servers = tuple(str(s) for s in items if str(s).strip())
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise EnvironmentConfigError(f"{where}: bootstrap server {server!r} is not host:port",
                                         hint="e.g. b-1.example.kafka.us-east-1.amazonaws.com:9096")
    if not servers and required:
        raise EnvironmentConfigError(f"{where} has no bootstrap servers")
    return servers


def _resource_server(data: Mapping[str, Any], scope: str, where: str) -> str:
    explicit = data.get("resource_server")
    if explicit:
        return str(explicit)
    match = _SCOPE_RS.match(scope)
    if match:
        return match.group(1)
    raise EnvironmentConfigError(f"{where} has no 'resource_server' and it cannot be derived "
                                 f"from the scope {scope!r}",
                                 hint="add resource_server = \"<the service's client id>\"")


def _ca(value: Any, base: Path, where: str) -> Path | None:
    if value is None or str(value).strip().lower() in (SYSTEM_TRUST, ""):
        return None
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise EnvironmentConfigError(f"{where}: CA file {path} does not exist",
                                     hint=f"fix ca_file, or use ca_file = \"{SYSTEM_TRUST}\"")
    return path


def environment_from_mapping(name: str, data: Mapping[str, Any], *, source: str,
                             base: Path | None = None) -> Environment:
    """Build an :class:`Environment` from one TOML table (keys as in the example file)."""
    where = f"environment {name!r} in {source}"
    if not _NAME.fullmatch(name):
        raise EnvironmentConfigError(f"invalid environment name {name!r}",
                                     hint="use letters, digits, '.', '_' or '-'")
    scope = str(_need(data, "scope", where))
    api = str(data.get("api", "v1"))
    if api not in APIS:
        raise EnvironmentConfigError(f"{where}: api must be \"v1\" or \"v3\", not {api!r}",
                                     hint="v3 is today's hosted Diaspora service; v1 the seed's")
    protocol = str(data.get("security_protocol", "SASL_SSL"))
    if protocol != "SASL_SSL":
        raise EnvironmentConfigError(f"{where}: security_protocol must be SASL_SSL",
                                     hint="Diaspora keys are SCRAM or IAM credentials over TLS")
    if api == "v3":
        mechanism = str(data.get("sasl_mechanism", IAM_MECHANISM))
        if mechanism != IAM_MECHANISM:
            raise EnvironmentConfigError(
                f"{where}: a v3 environment's keys are IAM keys (sasl_mechanism "
                f"{IAM_MECHANISM}), not {mechanism!r}", hint="leave sasl_mechanism out")
    else:
        mechanism = str(data.get("sasl_mechanism", "SCRAM-SHA-512"))
        if mechanism not in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
            raise EnvironmentConfigError(f"{where}: unsupported sasl_mechanism {mechanism!r}",
                                         hint="use SCRAM-SHA-512 (or api = \"v3\" for IAM keys)")
    return Environment(
        name=name,
        auth_url=str(_need(data, "auth_url", where)),
        native_client_id=str(_need(data, "native_client_id", where)),
        service_url=str(_need(data, "service_url", where)),
        scope=scope,
        resource_server=_resource_server(data, scope, where),
        bootstrap_servers=(_servers(data.get("bootstrap_servers"), where, required=False)
                           if api == "v3" else
                           _servers(_need(data, "bootstrap_servers", where), where)),
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        ca_file=_ca(data.get("ca_file"), base or Path.cwd(), where),
        source=source,
        api=api,
    )


#: today's hosted Diaspora (diaspora-event-sdk 0.5.1: ``sdk/_environments.py``, ``client.py``):
#: Globus Auth, the SDK's native client, the service's scope; Kafka's bootstrap servers come
#: with each key (``create_key()["endpoint"]``), and MSK's certificates chain to public CAs
HOSTED_DIASPORA: dict[str, Any] = {
    "api": "v3",
    "auth_url": "https://auth.globus.org/",
    "native_client_id": "c5d4fab4-7f0d-422e-b0c8-5c74329b52fe",
    "service_url": "https://diaspora-web-service.qpp943wkvr7b2.us-east-1.cs.amazonlightsail.com/",
    "scope": "https://auth.globus.org/scopes/2b9d2f5c-fa32-45b5-875b-b24cd343b917/action_all",
    "resource_server": "2b9d2f5c-fa32-45b5-875b-b24cd343b917",
    "ca_file": SYSTEM_TRUST,
}


def builtin_environment(name: str) -> Environment | None:
    """The built-in environment ``name`` (``diaspora``), or None."""
    if name == DIASPORA:
        return environment_from_mapping(DIASPORA, HOSTED_DIASPORA, source="built in")
    return None


def load_environments_file(path: str | Path) -> dict[str, Environment]:
    """Every environment in a TOML file (``[environments.<name>]`` tables)."""
    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EnvironmentConfigError(f"cannot read environments file {file}: {exc}",
                                     hint="fix the TOML syntax (see environments.example.toml)"
                                     ) from exc
    tables = data.get("environments", {})
    if not isinstance(tables, dict):
        raise EnvironmentConfigError(f"{file}: 'environments' must be a table of tables")
    found = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise EnvironmentConfigError(f"{file}: environments.{name} must be a table")
        if name in (LOCAL, LOCAL_V3):
            raise EnvironmentConfigError(f"{file}: the name {name!r} is reserved for the local "
                                         "fabric", hint="pick another name")
        found[name] = environment_from_mapping(name, table, source=str(file), base=file.parent)
    return found


def load_local(home: str | Path | None = None, *, api: str = "v1") -> Environment:
    """The ``local`` environment from ``<fabric home>/fabric.json`` (``api="v3"``:
    ``local-v3``, the same fabric through its v3 API and IAM listeners)."""
    root = Path(home).expanduser() if home else config.current().fabric_home
    path = root / "fabric.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise EnvironmentNotFoundError(
            f"no local fabric at {root} (no fabric.json)",
            hint=f"start one with `diaspora-fabric up --home {root}`, or set "
            f"DIASPORA_FABRIC_HOME to the home of a running fabric") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise EnvironmentConfigError(f"cannot read {path}: {exc}",
                                     hint="run `diaspora-fabric up` to rewrite it") from exc
    try:
        kafka, auth, service = doc["kafka"], doc["auth"], doc["service"]
    except (KeyError, TypeError):
        raise EnvironmentConfigError(
            f"{path} does not describe the identity provider and web service",
            hint="this fabric was started by an older version; run `diaspora-fabric down` "
            "then `diaspora-fabric up`") from None
    table = {
        "auth_url": auth.get("url"), "native_client_id": auth.get("native_client_id"),
        "service_url": service.get("url"), "scope": service.get("scope"),
        "resource_server": service.get("resource_server"),
        "bootstrap_servers": kafka.get("bootstrap_servers"),
        "security_protocol": kafka.get("security_protocol", "SASL_SSL"),
        "sasl_mechanism": kafka.get("sasl_mechanism", "SCRAM-SHA-512"),
        "ca_file": kafka.get("ca_file") or SYSTEM_TRUST,
    }
    if api == "v3":
        if not kafka.get("iam_bootstrap_servers"):
            raise EnvironmentConfigError(
                f"{path}: this fabric has no IAM (OAUTHBEARER) listeners, so no v3 API",
                hint="run `diaspora-fabric down` then `diaspora-fabric up` to add them")
        table.update(api="v3", sasl_mechanism=IAM_MECHANISM,
                     bootstrap_servers=kafka["iam_bootstrap_servers"])
        return environment_from_mapping(LOCAL_V3, table, source=str(path), base=root)
    return environment_from_mapping(LOCAL, table, source=str(path), base=root)


def service_is_up(env: Environment, timeout: float = _HEALTH_TIMEOUT) -> bool:
    """Whether ``env``'s web service answers ``GET /healthz`` with a 2xx."""
    import requests

    try:
        response = requests.get(env.service_url + "healthz", timeout=timeout)
    except requests.RequestException:
        return False
    return 200 <= response.status_code < 300


def get_environment(name: str, *, environments_file: str | Path | None = None,
                    fabric_home: str | Path | None = None) -> Environment:
    """The environment called ``name``: ``local``, ``local-v3``, one from the environments file,
    or the built-in ``diaspora``."""
    if name in (LOCAL, LOCAL_V3):
        return load_local(fabric_home, api="v3" if name == LOCAL_V3 else "v1")
    file = Path(environments_file) if environments_file else config.current().environments_file
    known = load_environments_file(file)
    if name not in known:
        builtin = builtin_environment(name)
        if builtin is not None:
            return builtin
        choices = (", ".join([LOCAL, *sorted(set(known) - {DIASPORA})])
                   + f"; built in: {LOCAL_V3}, {DIASPORA}")
        raise EnvironmentNotFoundError(
            f"unknown environment {name!r} (known: {choices})",
            hint=f"define [environments.{name}] in {file} (see environments.example.toml)")
    return known[name]


def resolve_environment(environment: str | Environment | None = None, *,
                        environments_file: str | Path | None = None,
                        fabric_home: str | Path | None = None) -> Environment:
    """Pick the environment: argument > ``DIASPORA_ENVIRONMENT`` > a running local fabric."""
    if isinstance(environment, Environment):
        return environment
    name = environment or config.current().environment
    if name:
        return get_environment(name, environments_file=environments_file,
                               fabric_home=fabric_home)
    home = Path(fabric_home).expanduser() if fabric_home else config.current().fabric_home
    local: Environment | None = None
    if (home / "fabric.json").exists():
        try:
            local = load_local(home)
        except EnvironmentConfigError as exc:
            log.debug("local fabric unusable: %s", exc)
    if local is not None and service_is_up(local):
        return local
    file = Path(environments_file) if environments_file else config.current().environments_file
    try:
        names = sorted(load_environments_file(file))
    except EnvironmentConfigError:
        names = []
    listed = f" or one of {', '.join(names)} from {file}" if names else ""
    why = ("its web service does not answer" if local is not None
           else f"there is no usable fabric.json in {home}")
    raise EnvironmentNotFoundError(
        f"no Diaspora environment chosen, and no local fabric is running ({why})",
        hint=f"start the local fabric with `diaspora-fabric up`, or choose an environment: "
        f"Client(environment=...) or DIASPORA_ENVIRONMENT=local{listed} (define more in "
        f"{file}, see environments.example.toml)")
