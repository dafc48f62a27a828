"""``Client``: topics, keys, identity and connection details for one environment.

The public API of the original Diaspora SDK (``subject_openid``, ``register_topic``,
``unregister_topic``, ``list_topics``, ``create_key``, ``retrieve_key``, ``logout``) with the
same return shapes (dicts with ``status``), plus sharing, cluster details, ready-made
connection settings and :meth:`Client.block_until_ready`. Failures raise typed
:class:`~diaspora_notebook.errors.DiasporaError` subclasses whose ``hint`` says what to do.

Clients of the same environment and user dir in one process share their login
(:class:`~diaspora_notebook.login.AuthSession`), so a ``logout`` is seen by all of them.
:func:`default_client` is the process-wide client the Kafka wrappers use. A client holds HTTP
sessions: ``with Client() as client:`` (or :meth:`Client.close`) releases them.

On an environment whose service speaks v3 (``api = "v3"``: the built-in ``diaspora``, today's
hosted service, or ``local-v3``) a client also has the v3 surface of diaspora-event-sdk 0.5.1:
:attr:`Client.namespace`, :meth:`Client.create_user`, :meth:`Client.create_topic`,
:meth:`Client.delete_topic`, :meth:`Client.recreate_topic`, :meth:`Client.list_namespaces`,
:meth:`Client.delete_key`, :meth:`Client.produce` and :meth:`Client.produce_batch` (records over
HTTPS), with the SDK's return values. Its keys are IAM keys: ``connection_config`` gives Kafka
settings that sign an IAM token (OAUTHBEARER, :mod:`diaspora_notebook.login.iam`). The seed's
v1 calls (``register_topic``, ...) are for v1 environments.

Logging in: :meth:`Client.login` (the configured flow), or the two-phase login a widget, the
``input()`` prompt and scripts all use: :meth:`Client.begin_login` returns the URL to open,
:meth:`Client.finish_login` takes the code the login page showed.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import globus_sdk
from globus_sdk.login_flows import LoginFlowManager

from diaspora_notebook import config
from diaspora_notebook.environments import Environment, resolve_environment
from diaspora_notebook.errors import (
    DiasporaUsageError,
    KafkaClientMissingError,
    KafkaConnectionProblem,
    KafkaTLSError,
    NotLoggedInError,
    UnknownUserError,
)
from diaspora_notebook.login.key_cache import KeyCache
from diaspora_notebook.login.session import AuthSession, is_stale_login
from diaspora_notebook.naming import (
    is_namespaced,
    namespace_of,
    namespace_prefix,
    v3_kafka_topic,
)
from diaspora_notebook.web import V3WebClient, WebClient, rest_record, to_diaspora_error

log = logging.getLogger(__name__)
LIBRARIES = ("kafka-python", "confluent-kafka", "aiokafka")
KAFKA_EXTRA_HINT = "pip install 'diaspora-notebook[kafka-python]'"

_sessions: dict[tuple[str, str], AuthSession] = {}
_sessions_lock = threading.Lock()


def _shared_session(env: Environment, user_dir: Path) -> AuthSession:
    key = (env.globus_environment, str(user_dir.resolve()))
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None or session.environment != env:
            session = _sessions[key] = AuthSession(env, user_dir=user_dir)
        return session


class Client:
    """The Diaspora web service for one environment and one logged-in identity.

    :param environment: a name (``"local"``, or one from the environments file), an
        :class:`~diaspora_notebook.environments.Environment`, or None to resolve it
        (``DIASPORA_ENVIRONMENT``, else a running local fabric).
    :param environments_file: TOML file of environments (default ``DIASPORA_ENVIRONMENTS_FILE``
        or ``~/.diaspora/environments.toml``).
    :param fabric_home: the local fabric's home (default ``DIASPORA_FABRIC_HOME``).
    :param user_dir: where tokens and keys are kept (default ``DIASPORA_USER_DIR``).
    :param login_flow_manager: a manager from :mod:`diaspora_notebook.login`; the client
        then has its own login instead of the process-wide one.
    """

    def __init__(self, environment: str | Environment | None = None, *,
                 environments_file: str | Path | None = None,
                 fabric_home: str | Path | None = None, user_dir: str | Path | None = None,
                 login_flow_manager: LoginFlowManager | None = None) -> None:
        self.environment = resolve_environment(environment, environments_file=environments_file,
                                               fabric_home=fabric_home)
        directory = Path(user_dir).expanduser() if user_dir else config.current().user_dir
        # a client with its own flow manager owns its session; close() may close it
        self._owns_session = login_flow_manager is not None
        if login_flow_manager is not None:
            self._session = AuthSession(self.environment, user_dir=directory,
                                        login_flow_manager=login_flow_manager)
        else:
            self._session = _shared_session(self.environment, directory)
        self._web: WebClient | None = None
        self._web_app: object | None = None
        self._lock = threading.RLock()
        self._v3_key: dict[str, Any] | None = None  # v3: the service's key, asked once
        self._iam_tokens: Any = None  # v3: login.iam.IamTokens of that key

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Release HTTP sessions and, for a client with its own login, the token store.

        No logout: tokens stay stored, and the client works again on its next call (it then
        opens new sessions). A closed default client is dropped, so :func:`default_client`
        makes a new one.
        """
        with self._lock:
            web, self._web, self._web_app = self._web, None, None
        if web is not None:
            web.close()
        if self._owns_session:
            self._session.close()
        _forget_default_client(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        env = self.environment
        identity = self._session.identity_if_known()
        who = identity if identity and not self._session.logged_out else "not logged in"
        return (f"Client(environment={env.name!r}, identity={who!r}, auth_url={env.auth_url!r}, "
                f"service_url={env.service_url!r}, "
                f"bootstrap_servers={','.join(env.bootstrap_servers)!r})")

    # --- identity ------------------------------------------------------------------------

    @property
    def user_dir(self) -> Path:
        return self._session.user_dir

    @property
    def subject_openid(self) -> str:
        """The logged-in identity's id (logs in first if needed)."""
        return self._session.identity_id

    @property
    def login_kind(self) -> str:
        """``"client"`` (client credentials), ``"programmatic"`` (headless) or ``"interactive"``."""
        return str(self._session.kind)

    @property
    def logged_out(self) -> bool:
        """True after :meth:`logout` in this process, until the next login."""
        return bool(self._session.logged_out)

    def logged_in_identity(self, *, verify: bool = False) -> str | None:
        """The identity id if usable tokens exist now; unlike ``subject_openid``, never logs in.

        The tokens are read from the store again (another kernel may have logged out since).
        :param verify: also ask the identity provider whether it still honours them (one
            request; stale tokens are forgotten): what to check before saying "logged in".
        """
        session = self._session
        try:
            if session.logged_out:
                return None
            if verify:
                return session.verified_identity()
            session.reread_tokens()
            identity = session.identity_if_known()
            if identity is None:
                return None
            if session.kind != "client" and session.app.login_required():
                return None
            return str(identity)
        except Exception:  # an unreadable token store means "not logged in" here
            return None

    def whoami(self) -> dict[str, Any]:
        """``{"id", "username", "name", "email"}`` of the logged-in identity (logs in if needed)."""
        ident = self.subject_openid
        details: dict[str, Any] = {"id": ident, "username": None, "name": None, "email": None}
        if self.login_kind == "client":
            details["username"] = f"client {ident}"
            return details
        from globus_sdk.scopes import AuthScopes

        auth = globus_sdk.AuthClient(app=self._session.app, app_scopes=[AuthScopes.openid])
        try:
            found = auth.get_identities(ids=[ident]).get("identities", [])
        except (globus_sdk.GlobusAPIError, globus_sdk.NetworkError):
            return details  # the id alone still answers the question
        finally:
            auth.close()
        for item in found:
            if item.get("id") == ident:
                details.update({k: item.get(k) for k in ("username", "name", "email")})
        return details

    def login(self, *, force: bool = False) -> str:
        """Log in with the configured flow (``input()`` unless headless); return the identity."""
        self._web_client()  # registers the service scope first, so the login grants it
        return self._session.login(force=force)

    def begin_login(self) -> str:
        """Two-phase login, phase one: the URL to open. Then call :meth:`finish_login`.

        The PKCE verifier stays in this process; a new call replaces the previous attempt.
        """
        self._web_client()  # registers the service scope first, so the code grants it
        return self._session.begin_login()

    def finish_login(self, code: str) -> str:
        """Two-phase login, phase two: exchange the code the login page showed.

        :returns: the logged-in identity's id.
        :raises NotLoggedInError: the identity provider refused the code (used or expired).
        """
        return self._session.finish_login(code)

    def logout(self) -> dict[str, Any]:
        """Revoke the tokens and delete them and the cached key."""
        identity = self._session.identity_if_known()
        if identity:
            self._key_cache(identity).clear()
        self._session.logout()
        with self._lock:
            web, self._web, self._web_app = self._web, None, None
            self._v3_key = self._iam_tokens = None
        if web is not None:
            web.close()
        _reset_default_clients()
        return {"status": "success", "message": "logged out", "identity": identity}

    # --- the web service -----------------------------------------------------------------

    def _web_client(self) -> WebClient:
        with self._lock:
            app = self._session.app
            if self._web is None or self._web_app is not app:
                if self._web is not None:
                    self._web.close()
                if self.environment.is_v3:
                    self._web = V3WebClient(subject=self._session.identity_id,
                                            resource_server=self.environment.resource_server,
                                            scope=self.environment.scope, app=app)
                else:
                    self._web = WebClient(resource_server=self.environment.resource_server,
                                          scope=self.environment.scope, app=app)
                self._web_app = app
            return self._web

    def _call(self, what: str, call: Callable[[WebClient], globus_sdk.GlobusHTTPResponse]
              ) -> dict[str, Any]:
        self._session.ensure_login()
        for attempt in (1, 2):
            try:
                return dict(call(self._web_client()).data)
            except NotLoggedInError:
                raise
            except (globus_sdk.GlobusAPIError, globus_sdk.NetworkError) as exc:
                stale = is_stale_login(exc) or getattr(exc, "http_status", None) == 401
                if stale and attempt == 1 and not isinstance(exc, globus_sdk.NetworkError):
                    self._session.recover(exc)
                    continue
                raise to_diaspora_error(exc, what) from exc
        raise AssertionError("unreachable")

    def _v1_only(self, what: str, instead: str) -> None:
        if self.environment.is_v3:
            raise DiasporaUsageError(
                f"{what} is a v1 call, and environment {self.environment.name!r} speaks v3",
                hint=f"use {instead} (or the topics.* functions, which speak both)")

    def register_topic(self, topic: str) -> dict[str, Any]:
        """Become the topic's owner (creates its ACLs); ``status`` is success or no-op."""
        self._v1_only("register_topic", "create_topic(topic)")
        return self._call(f"register topic {topic!r}", lambda w: w.register_topic(topic))

    def unregister_topic(self, topic: str) -> dict[str, Any]:
        """Delete the topic with all its events, and its ACLs (yours and your grantees')."""
        self._v1_only("unregister_topic", "delete_topic(topic)")
        return self._call(f"unregister topic {topic!r}", lambda w: w.unregister_topic(topic))

    def add_partitions(self, topic: str, partitions: int) -> dict[str, Any]:
        """Grow your topic to ``partitions`` in total (partitions are added, never removed).

        The service does it (owners may not: Kafka's CreatePartitions reaches no broker
        policy), at most the fabric's ``max_partitions_per_topic``; past it the call fails
        with an error naming the limit and how the operator raises it. ``KafkaAdmin``'s
        ``create_partitions`` comes here.
        """
        self._v1_only("add_partitions",
                      "create_topic(topic): v3 topics have one partition, as hosted")
        return self._call(f"add partitions to topic {topic!r}",
                          lambda w: w.add_partitions(topic, partitions))

    def list_topics(self) -> dict[str, Any]:
        """``{"status": "success", "topics": [...]}``: topics you own or were granted (v3: the
        topics of your namespace, named without it)."""
        if self.environment.is_v3:
            found = self.list_namespaces().get("namespaces") or {}
            return {"status": "success", "topics": sorted(found.get(self.namespace, []))}
        return self._call("list topics", lambda w: w.list_topics())

    def create_key(self) -> dict[str, Any]:
        """A fresh Kafka password (the previous one stops working); cached for later.

        v3: the service's IAM key (``access_key``, ``secret_key``, ``endpoint``, ``fresh``; an
        existing key is returned as it is, as the hosted service does), plus ``username`` and
        ``password`` (the same two) for the key widget.
        """
        if self.environment.is_v3:
            key = self._v3_checked("create a key", lambda w: w.create_key())
            key = {**key, "username": key.get("access_key"), "password": key.get("secret_key")}
            with self._lock:
                if self._v3_key is None or self._v3_key.get("access_key") != key["username"]:
                    self._iam_tokens = None
                self._v3_key = key
            return key
        key = self._call("create a key", lambda w: w.create_key())
        self._key_cache(str(key.get("username") or self.subject_openid)).put(key)
        return key

    def rotate_key(self) -> dict[str, Any]:
        """A new key in place of the current one, on either API (the key widget's Rotate and
        ``%diaspora_key --rotate``).

        v1: :meth:`create_key` (it always makes a new password). v3: ``create_key`` returns the
        existing key as it is, so the key is deleted first (:meth:`delete_key`) and then
        created: the old access key stops authenticating new connections at once, open ones
        within the service's re-authentication window.
        """
        if self.environment.is_v3:
            self.delete_key()
        return self.create_key()

    def retrieve_key(self) -> dict[str, Any]:
        """The cached key, or a new one from :meth:`create_key` when none is cached."""
        if self.environment.is_v3:
            with self._lock:
                known = self._v3_key
            return dict(known) if known is not None else self.create_key()
        cached = self._key_cache(self.subject_openid).get()
        if cached is not None:
            return {"status": "success", **cached}
        return self.create_key()

    # --- v3 (namespaces, IAM keys, records over HTTPS) ------------------------------------

    def _v3_only(self, what: str) -> None:
        if not self.environment.is_v3:
            raise DiasporaUsageError(
                f"{what} is a v3 call, and environment {self.environment.name!r} speaks v1",
                hint="use an environment with api = \"v3\" (e.g. Client(environment="
                "\"local-v3\") or \"diaspora\"), or the v1 calls (register_topic, ...)")

    def _v3_call(self, what: str, call: Callable[[V3WebClient], globus_sdk.GlobusHTTPResponse]
                 ) -> dict[str, Any]:
        self._v3_only(what)

        def on_v3(web: WebClient) -> globus_sdk.GlobusHTTPResponse:
            assert isinstance(web, V3WebClient)
            return call(web)

        return self._call(what, on_v3)

    def _v3_checked(self, what: str,
                    call: Callable[[V3WebClient], globus_sdk.GlobusHTTPResponse]
                    ) -> dict[str, Any]:
        """A management call; its body as the SDK returns it. A refused token (the service
        answers ``status: error`` with HTTP 200) raises :class:`NotLoggedInError`."""
        body = self._v3_call(what, call)
        if body.get("status") == "error":
            raise NotLoggedInError(
                f"the Diaspora service did not accept your login while trying to {what} "
                f"({body.get('reason') or body.get('message')})",
                hint="run Client().login(force=True) (or %diaspora_login --force)")
        return body

    def v3_web(self) -> V3WebClient:
        """v3: the logged-in :class:`~diaspora_notebook.web.V3WebClient` (the REST engine's
        transport; errors are globus-sdk's)."""
        self._v3_only("the v3 web client")
        self._session.ensure_login()
        web = self._web_client()
        assert isinstance(web, V3WebClient)
        return web

    @property
    def api(self) -> str:
        """``"v1"`` or ``"v3"``: the API of this environment's service."""
        return self.environment.api

    @property
    def namespace(self) -> str:
        """v3: your namespace, ``ns-`` + the last 12 hex digits of your identity id."""
        self._v3_only("namespace")
        return namespace_of(self.subject_openid)

    def kafka_topic(self, topic: str) -> str:
        """The Kafka name of ``topic``: v1 the name itself; v3 ``<namespace>.<topic>`` (a name
        already of that form is kept)."""
        if not self.environment.is_v3 or is_namespaced(topic):
            return topic
        return v3_kafka_topic(self.namespace, topic)

    def short_topic(self, kafka_name: str) -> str:
        """The name a user gives for ``kafka_name`` (v3: without your namespace)."""
        if self.environment.is_v3:
            prefix = namespace_prefix(self.namespace)
            if kafka_name.startswith(prefix):
                return kafka_name[len(prefix):]
        return kafka_name

    def create_user(self) -> dict[str, Any]:
        """v3: create your user and namespace (idempotent)."""
        return self._v3_checked("create the user", lambda w: w.create_user())

    def delete_user(self) -> dict[str, Any]:
        """v3: delete your namespace's topics, your key and your user."""
        body = self._v3_checked("delete the user", lambda w: w.delete_user())
        self._forget_v3_key()
        return body

    def delete_key(self) -> dict[str, Any]:
        """v3: delete your IAM key (it stops working on open connections soon after)."""
        body = self._v3_checked("delete the key", lambda w: w.delete_key())
        self._forget_v3_key()
        return body

    def _forget_v3_key(self) -> None:
        with self._lock:
            self._v3_key = self._iam_tokens = None

    def list_namespaces(self) -> dict[str, Any]:
        """v3: ``{"status", "message", "namespaces": {namespace: [topics]}}``."""
        return self._v3_checked("list namespaces", lambda w: w.list_namespaces())

    def create_topic(self, topic: str) -> dict[str, Any]:
        """v3: create ``topic`` in your namespace (Kafka: ``<namespace>.<topic>``; idempotent)."""
        name = self.short_topic(topic)
        return self._v3_checked(f"create topic {name!r}",
                                lambda w: w.create_topic(self.namespace, name))

    def delete_topic(self, topic: str) -> dict[str, Any]:
        """v3: delete ``topic`` and its events from your namespace."""
        name = self.short_topic(topic)
        return self._v3_checked(f"delete topic {name!r}",
                                lambda w: w.delete_topic(self.namespace, name))

    def recreate_topic(self, topic: str) -> dict[str, Any]:
        """v3: delete and create ``topic`` again (empty; takes a few seconds)."""
        name = self.short_topic(topic)
        return self._v3_checked(f"recreate topic {name!r}",
                                lambda w: w.recreate_topic(self.namespace, name))

    def produce(self, topic: str, value: Any = None, *, key: Any = None,
                headers: Iterable[tuple[str, bytes | str | None]] | dict[str, Any] | None = None,
                timestamp: Any = None, value_type: str | None = None,
                key_type: str | None = None) -> dict[str, Any]:
        """v3: write one record over HTTPS (no Kafka client), as the SDK's ``produce``.

        bytes are sent as BINARY, a str value as JSON and a str key as STRING, anything else as
        JSON (``value_type``/``key_type`` override); ``timestamp`` is a timezone-aware datetime
        or ISO text. Returns the service's answer (``offset``, ``partition_id``, ...).
        """
        name = self.short_topic(topic)
        record = rest_record(value, key=key, headers=headers, timestamp=timestamp,
                             value_type=value_type, key_type=key_type)
        return self._v3_call(f"produce to {name!r}",
                             lambda w: w.produce(self.namespace, name, record))

    def produce_batch(self, topic: str, records: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """v3: write up to 500 records in one request; ``{"successes", "failures"}``.

        Each record is a dict of :meth:`produce`'s arguments (``value``, ``key``, ``headers``,
        ``timestamp``, ``value_type``, ``key_type``) and an optional ``id``.
        """
        entries = []
        for i, item in enumerate(records):
            fields = dict(item)
            entry_id = str(fields.pop("id", i))
            entries.append({"id": entry_id, **rest_record(fields.pop("value", None), **fields)})
        ids = [e["id"] for e in entries]
        if len(set(ids)) != len(ids):
            raise DiasporaUsageError("record ids must be distinct", hint="drop or fix 'id'")
        name = self.short_topic(topic)
        return self._v3_call(f"produce to {name!r}",
                             lambda w: w.produce_batch(self.namespace, name, entries))

    def iam_tokens(self) -> Any:
        """v3: the :class:`~diaspora_notebook.login.iam.IamTokens` of your key (one per key)."""
        from diaspora_notebook.login.iam import IamTokens

        key = self.retrieve_key()
        with self._lock:
            tokens = self._iam_tokens
            if tokens is None or tokens.access_key != key["access_key"]:
                tokens = self._iam_tokens = IamTokens(str(key["access_key"]),
                                                      str(key["secret_key"]))
            return tokens

    def bootstrap_servers(self) -> tuple[str, ...]:
        """The brokers to connect to: v3 the key's ``endpoint`` (else the environment's)."""
        if self.environment.is_v3:
            endpoint = str(self.retrieve_key().get("endpoint") or "")
            servers = tuple(s.strip() for s in endpoint.split(",") if s.strip())
            if servers:
                return servers
        return self.environment.bootstrap_servers

    def grant_user_access(self, topic: str, user: str, read_only: bool = False
                          ) -> dict[str, Any]:
        """Let ``user`` (identity id or username) produce to and consume from your topic, or
        only consume with ``read_only=True`` (granting again with the other value changes it).

        Either way the grantee's consumer groups are ``<topic>/<grantee id>/<name>``
        (:func:`diaspora_notebook.explore.groups.group_name` with ``member=``): a grantee never
        describes, resets, commits to or deletes your groups or another grantee's. The answer
        says what was given: ``access`` (``"read-write"`` or ``"read-only"``) and ``groups``.
        """
        other = self.resolve_identity(user)
        if read_only:
            return self._call(f"grant {user} read-only access to {topic!r}",
                              lambda w: w.grant_user_access(topic, other, read_only=True))
        return self._call(f"grant {user} access to {topic!r}",
                          lambda w: w.grant_user_access(topic, other))

    def revoke_user_access(self, topic: str, user: str) -> dict[str, Any]:
        """Take back what :meth:`grant_user_access` gave."""
        other = self.resolve_identity(user)
        return self._call(f"revoke {user}'s access to {topic!r}",
                          lambda w: w.revoke_user_access(topic, other))

    def list_topic_users(self, topic: str) -> dict[str, Any]:
        """``{"status", "topic", "owner", "users"}`` of a topic you own."""
        return self._call(f"list the users of {topic!r}", lambda w: w.list_topic_users(topic))

    def cluster_info(self) -> dict[str, Any]:
        """Bootstrap servers, security protocol, SASL mechanism and CA PEM, from the service."""
        return self._call("get the cluster details", lambda w: w.cluster())

    def resolve_identity(self, user: str) -> str:
        """An identity id for ``user`` (an id is returned as is; usernames are looked up)."""
        try:
            return str(uuid.UUID(user.strip()))
        except ValueError:
            pass
        from globus_sdk.scopes import AuthScopes

        self._session.ensure_login()
        auth = globus_sdk.AuthClient(app=self._session.app, app_scopes=[AuthScopes.openid])
        try:
            found = auth.get_identities(usernames=[user.strip()]).get("identities", [])
        except (globus_sdk.GlobusAPIError, globus_sdk.NetworkError) as exc:
            raise to_diaspora_error(exc, f"look up user {user!r}") from exc
        finally:
            auth.close()
        for identity in found:
            if identity.get("id") and identity.get("status") != "unused":
                return str(identity["id"])
        raise UnknownUserError(f"no identity has the username {user!r}",
                               hint="check the spelling, or pass the identity id (a UUID)")

    def usernames(self, ids: Iterable[str]) -> dict[str, str]:
        """``{identity id: username}`` for the ids the identity provider knows (one call).

        For display: an id the provider does not know (or a failed lookup) is left out, so the
        caller shows the id itself.
        """
        wanted = sorted({str(i) for i in ids if i})
        if not wanted:
            return {}
        from globus_sdk.scopes import AuthScopes

        self._session.ensure_login()
        auth = globus_sdk.AuthClient(app=self._session.app, app_scopes=[AuthScopes.openid])
        try:
            found = auth.get_identities(ids=wanted).get("identities", [])
        except (globus_sdk.GlobusAPIError, globus_sdk.NetworkError):
            return {}
        finally:
            auth.close()
        return {str(i["id"]): str(i["username"]) for i in found
                if i.get("id") and i.get("username")}

    # --- Kafka ---------------------------------------------------------------------------

    def _key_cache(self, identity: str) -> KeyCache:
        return KeyCache(self.user_dir, self.environment.globus_environment, identity)

    def kafka_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments for this identity (uses the cached key)."""
        return self.connection_config("kafka-python")

    def connection_config(self, library: str = "kafka-python") -> dict[str, Any]:
        """Ready-to-use settings for ``library`` (kafka-python, confluent-kafka or aiokafka).

        Has the seed's connection table: bootstrap servers, SASL_SSL, SCRAM-SHA-512, your
        username and password (:meth:`retrieve_key`), and the environment's CA.
        """
        if library not in LIBRARIES:
            raise DiasporaUsageError(f"unknown Kafka library {library!r}",
                                     hint=f"use one of: {', '.join(LIBRARIES)}")
        env = self.environment
        if env.is_v3:
            return self._iam_connection_config(library)
        key = self.retrieve_key()
        ca = str(env.ca_file) if env.ca_file else None
        if library == "confluent-kafka":
            conf = {"bootstrap.servers": ",".join(env.bootstrap_servers),
                    "security.protocol": env.security_protocol,
                    "sasl.mechanisms": env.sasl_mechanism,
                    "sasl.username": key["username"], "sasl.password": key["password"]}
            if ca:
                conf["ssl.ca.location"] = ca
            return conf
        conf = {"bootstrap_servers": list(env.bootstrap_servers),
                "security_protocol": env.security_protocol, "sasl_mechanism": env.sasl_mechanism,
                "sasl_plain_username": key["username"], "sasl_plain_password": key["password"]}
        if library == "aiokafka":
            conf["bootstrap_servers"] = ",".join(env.bootstrap_servers)
            conf["ssl_context"] = ssl.create_default_context(cafile=ca)
        elif ca:
            conf["ssl_cafile"] = ca
        return conf

    def _iam_connection_config(self, library: str) -> dict[str, Any]:
        """v3 settings: SASL_SSL + OAUTHBEARER with a token signed by the IAM key, renewed
        before it expires (librdkafka's ``oauth_cb``, kafka-python's token provider)."""
        from diaspora_notebook.login import iam

        env = self.environment
        tokens = self.iam_tokens()
        servers = self.bootstrap_servers()
        ca = str(env.ca_file) if env.ca_file else None
        if library == "confluent-kafka":
            conf: dict[str, Any] = {"bootstrap.servers": ",".join(servers),
                                    "security.protocol": env.security_protocol,
                                    "sasl.mechanisms": "OAUTHBEARER",
                                    "oauth_cb": tokens.oauth_cb}
            if ca:
                conf["ssl.ca.location"] = ca
            return conf
        conf = {"bootstrap_servers": list(servers), "security_protocol": env.security_protocol,
                "sasl_mechanism": "OAUTHBEARER"}
        if library == "aiokafka":
            conf["bootstrap_servers"] = ",".join(servers)
            conf["ssl_context"] = ssl.create_default_context(cafile=ca)
            conf["sasl_oauth_token_provider"] = iam.aiokafka_token_provider(tokens)
            return conf
        conf["sasl_oauth_token_provider"] = iam.kafka_python_token_provider(tokens)
        if ca:
            conf["ssl_cafile"] = ca
        return conf

    def block_until_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the key authenticates to the brokers (a new key takes a moment).

        :raises KafkaAuthenticationError: the key still fails at the deadline.
        :raises BrokerUnavailableError: no broker answered by the deadline.
        :raises KafkaTLSError: the broker's certificate is not trusted (raised at once).
        """
        try:
            from kafka import KafkaAdminClient
        except ImportError:
            raise KafkaClientMissingError("block_until_ready needs kafka-python",
                                          hint=KAFKA_EXTRA_HINT) from None
        from diaspora_notebook.diagnose import diagnosed_connection

        started = time.monotonic()
        deadline = started + timeout
        conf = self.kafka_config()
        last: KafkaConnectionProblem | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                with diagnosed_connection(conf):
                    admin = KafkaAdminClient(
                        **conf, bootstrap_timeout_ms=int(max(1.0, min(remaining, 10.0)) * 1000),
                        request_timeout_ms=10000)
                admin.close()
                return {"status": "success", "username": conf.get("sasl_plain_username")
                        or self.retrieve_key().get("username"),
                        "waited_seconds": round(time.monotonic() - started, 3)}
            except KafkaTLSError:
                raise
            except KafkaConnectionProblem as exc:
                last = exc
                log.debug("key not ready yet: %s", exc)
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if last is None:
            from diaspora_notebook.errors import BrokerUnavailableError

            last = BrokerUnavailableError(f"no attempt finished within {timeout} s",
                                          hint="use a longer timeout")
        raise last


# --- the process-wide default client ------------------------------------------------------
# One slot, owned by this module: the client default_client() made for the current settings.
# A change of the settings that select it (config.DiasporaConfig.client_selection) closes it
# and makes another; a client passed to set_default_client stays its caller's to close.

_default_lock = threading.Lock()
_default: Client | None = None
_default_selection: tuple[object, ...] | None = None
_default_owned = False


def default_client() -> Client:
    """The process-wide client for the current ``DIASPORA_*`` settings (thread-safe)."""
    global _default, _default_selection, _default_owned
    selection = config.current().client_selection
    with _default_lock:
        if _default is not None and _default_selection == selection:
            return _default
        stale = _default if _default_owned else None
        client = Client()
        _default, _default_selection, _default_owned = client, selection, True
    if stale is not None:
        stale.close()  # outside the lock: close() forgets itself as the default under it
    return client

def set_default_client(client: Client | None) -> None:
    """Make ``client`` the one the Kafka wrappers use (None: back to automatic).

    The caller keeps ``client`` (closing it is theirs); a default this module made is closed.
    """
    global _default, _default_selection, _default_owned
    selection = config.current().client_selection if client is not None else None
    with _default_lock:
        stale = _default if _default_owned and _default is not client else None
        _default, _default_selection, _default_owned = client, selection, False
    if stale is not None:
        stale.close()


def _reset_default_clients() -> None:
    """Drop (and close, if made here) the default client: the next call makes a new one."""
    set_default_client(None)


def _forget_default_client(client: Client) -> None:
    global _default, _default_selection, _default_owned
    with _default_lock:
        if _default is client:
            _default, _default_selection, _default_owned = None, None, False
