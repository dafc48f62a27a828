"""The Kafka side of the service: ACLs and SCRAM users through kafka-python's admin client.

:class:`KafkaAdminBackend` is the interface the rest of the service uses;
:class:`KafkaAdminGateway` implements it against a real cluster. The gateway is thread-safe,
creates its admin client lazily, recreates it after any failure, and bounds every wait
(each call runs on a worker thread with a deadline), so an unreachable cluster turns into a
503 within ``kafka_timeout_seconds`` instead of a hung request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, TypeVar

import kafka.errors as kerr
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.protocol.admin import (
    AlterClientQuotasRequest,
    DescribeAclsRequest,
    DescribeClientQuotasRequest,
    DescribeUserScramCredentialsRequest,
)
from kafka.protocol.metadata import MetadataRequest

from diaspora_notebook.fabric.service.acls import AclEntry
from diaspora_notebook.fabric.service.errors import ServiceConfigError, ServiceError
from diaspora_notebook.fabric.service.settings import ServiceSettings
from diaspora_notebook.naming import group_prefix

log = logging.getLogger(__name__)
POOL_WORKERS = 16
T = TypeVar("T")
_POLL_SECONDS = 0.1


class KafkaAdminBackend(Protocol):
    """What the service needs from Kafka. Every method raises :class:`ServiceError` (503)."""

    def topic_acls(self, topic: str) -> list[AclEntry]:
        """ALLOW ACLs on LITERAL TOPIC ``topic`` and on GROUP PREFIXED ``topic/``."""

    def principal_acls(self, principal: str) -> list[AclEntry]:
        """Every ALLOW ACL naming ``principal``."""

    def prefixed_group_acls(self) -> list[AclEntry]:
        """Every ALLOW ACL on a GROUP PREFIXED resource (any name, any principal)."""

    def topic_exists(self, topic: str) -> bool:
        """Whether the brokers hold a topic named ``topic`` (whatever its ACLs)."""

    def topic_names(self) -> list[str]:
        """Every topic on the brokers (Kafka's internal ones included)."""

    def partition_counts(self, topics: list[str]) -> dict[str, int]:
        """The partition count of each of ``topics`` that exists on the brokers."""

    def delete_topic(self, topic: str, timeout: float) -> bool:
        """Delete ``topic`` and its data; False if there was none. Waits until no broker
        lists it any more (at most ``timeout`` s), so a new topic of that name starts empty."""

    def delete_groups(self, prefix: str) -> list[str]:
        """Delete the consumer groups whose id starts with ``prefix`` (with their offsets);
        returns those left (still with members, or refused by their coordinator)."""

    def partition_count(self, topic: str) -> int | None:
        """How many partitions ``topic`` has (None: no such topic)."""

    def add_partitions(self, topic: str, total: int, timeout: float) -> None:
        """Grow ``topic`` to ``total`` partitions as the service's admin (owners may not:
        Kafka shows CreatePartitions to no policy). Waits until every broker lists them (at
        most ``timeout`` s)."""

    def create_acls(self, entries: Collection[AclEntry]) -> None: ...

    def delete_acls(self, entries: Collection[AclEntry]) -> None: ...

    def wait_acls(self, topic: str, present: Collection[AclEntry],
                  absent: Collection[AclEntry], timeout: float) -> bool:
        """Poll every broker until it shows ``present`` and not ``absent``; False on timeout."""

    def scram_iterations(self, user: str, mechanism: str) -> int | None:
        """The iteration count of ``user``'s credential, or None if it has none."""

    def upsert_scram(self, user: str, mechanism: str, password: str, iterations: int) -> None: ...

    def wait_scram(self, user: str, mechanism: str, iterations: int, timeout: float) -> bool:
        """Poll every broker until ``user`` has a credential with ``iterations``."""

    def delete_scram(self, user: str, mechanism: str) -> bool:
        """Delete ``user``'s credential; False if it had none."""

    def user_quotas(self, user: str) -> dict[str, float]:
        """The Kafka quotas set for exactly user ``user`` (``{}`` if none)."""

    def set_user_quotas(self, user: str, quotas: dict[str, float | None]) -> None:
        """Set user ``user``'s Kafka quotas; a None value removes that quota."""

    def close(self) -> None: ...


def to_kafka_acl(entry: AclEntry) -> ACL:
    return ACL(principal=entry.principal, host="*", operation=ACLOperation[entry.operation],
               permission_type=ACLPermissionType.ALLOW,
               resource_pattern=ResourcePattern(ResourceType[entry.resource_type],
                                                entry.resource_name,
                                                ACLResourcePatternType[entry.pattern_type]))


def from_kafka_acls(acls: Iterable[ACL]) -> list[AclEntry]:
    out = []
    for acl in acls:
        pattern = acl.resource_pattern
        if (acl.permission_type != ACLPermissionType.ALLOW or acl.host != "*"
                or pattern.resource_type not in (ResourceType.TOPIC, ResourceType.GROUP)
                or pattern.pattern_type not in (ACLResourcePatternType.LITERAL,
                                                ACLResourcePatternType.PREFIXED)):
            continue
        out.append(AclEntry(acl.principal, pattern.resource_type.name,
                            pattern.resource_name, pattern.pattern_type.name,
                            acl.operation.name))
    return out


def _filter(resource_type: ResourceType, name: str | None, pattern: ACLResourcePatternType,
            principal: str | None = None) -> ACLFilter:
    return ACLFilter(principal=principal, host=None, operation=ACLOperation.ANY,
                     permission_type=ACLPermissionType.ALLOW,
                     resource_pattern=ResourcePatternFilter(resource_type, name, pattern))


def _topic_filters(topic: str) -> list[ACLFilter]:
    # every PREFIXED group ACL, kept where it lies under "<topic>/" (:func:`_of_topic`): the
    # owner's "<topic>/" and each grantee's "<topic>/<grantee>/"
    return [_filter(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL),
            _filter(ResourceType.GROUP, None, ACLResourcePatternType.PREFIXED)]


def _of_topic(topic: str, entries: Iterable[AclEntry]) -> list[AclEntry]:
    """The ACLs of ``entries`` that belong to ``topic``: its literal topic ACLs and the
    PREFIXED group ACLs under ``<topic>/``."""
    prefix = group_prefix(topic)
    return [e for e in entries if (e.resource_type == "TOPIC" and e.resource_name == topic)
            or (e.resource_type == "GROUP" and e.resource_name.startswith(prefix))]


def _unavailable(what: str, reason: str) -> ServiceError:
    return ServiceError(503, "kafka_unavailable", f"Kafka did not answer while {what}: {reason}",
                        hint="retry in a moment; if it persists, the operator should check the "
                             "brokers and the service's bootstrap_servers")


class KafkaAdminGateway:
    """:class:`KafkaAdminBackend` over ``KafkaAdminClient`` (SASL_SSL, SCRAM, verified TLS)."""

    def __init__(self, settings: ServiceSettings,
                 client_factory: Callable[..., Any] = KafkaAdminClient) -> None:
        self._settings = settings
        self._factory = client_factory
        self._timeout = settings.kafka_timeout_seconds
        self._lock = threading.Lock()
        self._client: Any = None
        self._pool = ThreadPoolExecutor(max_workers=POOL_WORKERS,
                                        thread_name_prefix="kafka-admin")

    # -- client lifecycle ---------------------------------------------------------------------

    def _new_client(self) -> Any:
        s = self._settings
        timeout_ms = int(s.kafka_timeout_seconds * 1000)
        return self._factory(
            bootstrap_servers=list(s.bootstrap_servers), client_id="diaspora-service",
            security_protocol=s.security_protocol, sasl_mechanism=s.sasl_mechanism,
            sasl_plain_username=s.admin_username, sasl_plain_password=s.admin_password(),
            ssl_cafile=str(s.ca_file) if s.ca_file else None, ssl_check_hostname=True,
            request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms,
            reconnect_backoff_max_ms=1000,
            # the pool shares this one client; kafka-python's default of 5 in-flight requests
            # per connection would make concurrent calls fail with NodeNotReadyError
            max_in_flight_requests_per_connection=2 * POOL_WORKERS,
        )

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _reset(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            # close() fails the waiters of stuck calls, freeing their worker threads
            threading.Thread(target=client.close, name="kafka-admin-close", daemon=True).start()

    def close(self) -> None:
        self._reset()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _call(self, what: str, fn: Callable[[Any], T], timeout: float | None = None) -> T:
        """Run ``fn(admin_client)`` on a worker with a deadline; map failures to 503s."""
        deadline = self._timeout if timeout is None else timeout
        future = self._pool.submit(lambda: fn(self._get_client()))
        try:
            return future.result(timeout=deadline)
        except FutureTimeout:
            self._reset()
            raise _unavailable(what, f"no answer within {deadline:g} s") from None
        except (ServiceError, ServiceConfigError):
            raise
        except (kerr.ClusterAuthorizationFailedError, kerr.SaslAuthenticationFailedError) as exc:
            self._reset()
            raise ServiceError(503, "kafka_admin_rejected",
                               f"Kafka refused the service's admin user while {what} "
                               f"({type(exc).__name__})",
                               hint="the operator should check admin_username, "
                                    "admin_password_file and that the admin is a super user",
                               ) from None
        except kerr.SecurityDisabledError:
            self._reset()
            raise ServiceError(503, "kafka_acls_disabled",
                               "the Kafka cluster has no authorizer, so ACLs cannot be managed",
                               hint="the operator should enable StandardAuthorizer") from None
        except (kerr.KafkaError, OSError, RuntimeError) as exc:
            self._reset()
            raise _unavailable(what, type(exc).__name__) from None

    # -- per-broker reads ---------------------------------------------------------------------

    @staticmethod
    def _each_broker(client: Any, request: Any) -> list[Any]:
        """Send ``request`` to every known broker (local caches differ right after a change)."""
        manager = client._manager
        node_ids = [b.node_id for b in manager.cluster.brokers()] or [None]
        return [manager.run(manager.send, request, node_id) for node_id in node_ids]

    @staticmethod
    def _describe_acls_each(client: Any, acl_filter: ACLFilter) -> list[list[AclEntry]]:
        p = acl_filter.resource_pattern
        request = DescribeAclsRequest(
            resource_type_filter=p.resource_type, resource_name_filter=p.resource_name,
            pattern_type_filter=p.pattern_type, principal_filter=acl_filter.principal,
            host_filter=acl_filter.host, operation=acl_filter.operation,
            permission_type=acl_filter.permission_type)
        out = []
        for response in KafkaAdminGateway._each_broker(client, request):
            acls, _ = client._convert_describe_acls_response_to_acls(response)
            out.append(from_kafka_acls(acls))
        return out

    # -- ACLs ---------------------------------------------------------------------------------

    def topic_acls(self, topic: str) -> list[AclEntry]:
        def run(client: Any) -> list[AclEntry]:
            found: list[AclEntry] = []
            for acl_filter in _topic_filters(topic):
                acls, _ = client.describe_acls(acl_filter)
                found += _of_topic(topic, from_kafka_acls(acls))
            return found
        return self._call("reading topic ACLs", run)

    def principal_acls(self, principal: str) -> list[AclEntry]:
        acl_filter = _filter(ResourceType.ANY, None, ACLResourcePatternType.ANY, principal)
        return self._call("listing ACLs", lambda c: from_kafka_acls(c.describe_acls(acl_filter)[0]))

    def prefixed_group_acls(self) -> list[AclEntry]:
        acl_filter = _filter(ResourceType.GROUP, None, ACLResourcePatternType.PREFIXED)
        return self._call("listing group ACLs",
                          lambda c: from_kafka_acls(c.describe_acls(acl_filter)[0]))

    def create_acls(self, entries: Collection[AclEntry]) -> None:
        if not entries:
            return
        result = self._call("creating ACLs",
                            lambda c: c.create_acls([to_kafka_acl(e) for e in entries]))
        if result["failed"]:
            names = sorted({getattr(f, "__name__", str(f)) for f in result["failed"]})
            raise ServiceError(503, "kafka_error", f"Kafka refused to create ACLs: {names}",
                               hint="retry; if it persists, the operator should check the broker")

    def delete_acls(self, entries: Collection[AclEntry]) -> None:
        if not entries:
            return
        results = self._call("deleting ACLs",
                             lambda c: c.delete_acls([to_kafka_acl(e) for e in entries]))
        errors = sorted({err.__name__ for _f, _m, err in results if err is not kerr.NoError})
        if errors:
            raise ServiceError(503, "kafka_error", f"Kafka refused to delete ACLs: {errors}",
                               hint="retry; if it persists, the operator should check the broker")

    def wait_acls(self, topic: str, present: Collection[AclEntry],
                  absent: Collection[AclEntry], timeout: float) -> bool:
        want, gone = set(present), set(absent)

        def visible_everywhere(client: Any) -> bool:
            per_broker: list[set[AclEntry]] = []
            for acl_filter in _topic_filters(topic):
                for i, found in enumerate(self._describe_acls_each(client, acl_filter)):
                    if i >= len(per_broker):
                        per_broker.append(set())
                    per_broker[i] |= set(_of_topic(topic, found))
            return all(want <= seen and not (gone & seen) for seen in per_broker)

        return self._poll("waiting for ACLs to propagate", visible_everywhere, timeout)

    def _poll(self, what: str, check: Callable[[Any], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if self._call(what, check, timeout=max(1.0, min(self._timeout, remaining))):
                return True
            if time.monotonic() + _POLL_SECONDS > deadline:
                return False
            time.sleep(_POLL_SECONDS)

    # -- topics -------------------------------------------------------------------------------

    def topic_names(self) -> list[str]:
        return self._call("listing topics", lambda c: sorted(c.list_topics()))

    def _listed_by(self, client: Any, topic: str) -> list[bool]:
        """For each broker, whether its metadata lists ``topic`` (caches differ briefly)."""
        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                  allow_auto_topic_creation=False)
        # anything but "unknown topic" (e.g. no leader yet while it is created) counts as there
        return [any(t.name == topic and t.error_code != kerr.UnknownTopicOrPartitionError.errno
                    for t in response.topics)
                for response in self._each_broker(client, request)]

    def topic_exists(self, topic: str) -> bool:
        return self._call("looking the topic up", lambda c: any(self._listed_by(c, topic)))

    def partition_counts(self, topics: list[str]) -> dict[str, int]:
        def run(client: Any) -> dict[str, int]:
            return {t.get("name", t.get("topic")): len(t.get("partitions") or [])
                    for t in client.describe_topics(list(topics))
                    if t.get("error_code", 0) == 0}

        return self._call("counting the topics' partitions", run) if topics else {}

    def delete_topic(self, topic: str, timeout: float) -> bool:
        def run(client: Any) -> bool:
            try:
                client.delete_topics([topic], timeout_ms=int(self._timeout * 1000))
            except kerr.UnknownTopicOrPartitionError:
                return False
            return True

        existed = self._call("deleting the topic", run)

        def gone_everywhere(client: Any) -> bool:
            return not any(self._listed_by(client, topic))

        if timeout > 0 and not self._poll("waiting for the topic to disappear", gone_everywhere,
                                          timeout):
            log.warning("a deleted topic is still listed by a broker after %.1f s", timeout)
        return existed

    def delete_groups(self, prefix: str) -> list[str]:
        def run(client: Any) -> list[str]:
            names = sorted(g["group_id"] for g in client.list_groups()
                           if g["group_id"].startswith(prefix))
            if not names:
                return []
            failed = {name: error for name, error in client.delete_groups(names).items()
                      if error not in ("OK", "GroupIdNotFoundError")}
            for name, error in failed.items():
                log.warning("consumer group %s was not deleted: %s", name, error)
            return sorted(failed)

        return self._call("deleting the topic's consumer groups", run)

    def _partitions_seen(self, client: Any, topic: str) -> list[int | None]:
        """For each broker, how many partitions its metadata lists for ``topic``."""
        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                  allow_auto_topic_creation=False)
        return [next((len(t.partitions) for t in response.topics
                      if t.name == topic and t.error_code == 0), None)
                for response in self._each_broker(client, request)]

    def partition_count(self, topic: str) -> int | None:
        seen = self._call("looking the topic up", lambda c: self._partitions_seen(c, topic))
        counts = [n for n in seen if n is not None]
        return max(counts) if counts else None

    def add_partitions(self, topic: str, total: int, timeout: float) -> None:
        def run(client: Any) -> None:
            try:
                client.create_partitions({topic: total}, timeout_ms=int(self._timeout * 1000))
            except (kerr.InvalidPartitionsError, kerr.PolicyViolationError) as exc:
                raise ServiceError(400, "invalid_partitions",
                                   f"Kafka refused {total} partitions for {topic!r} "
                                   f"({type(exc).__name__})",
                                   hint="a topic only grows: ask for more partitions than it "
                                        "has") from None

        self._call("adding partitions", run)

        def everywhere(client: Any) -> bool:
            return all(n == total for n in self._partitions_seen(client, topic))

        if timeout > 0 and not self._poll("waiting for the new partitions", everywhere,
                                          timeout):
            log.warning("the new partitions of a topic are not listed by every broker after "
                        "%.1f s", timeout)

    # -- v3 namespaces (used by fabric.service.v3, not part of KafkaAdminBackend) ------------

    def resource_acls(self, resource_type: str, name: str, pattern: str) -> list[AclEntry]:
        """ALLOW ACLs on exactly one resource pattern (e.g. TOPIC ``ns-x.`` PREFIXED)."""
        acl_filter = _filter(ResourceType[resource_type], name, ACLResourcePatternType[pattern])
        return self._call("reading ACLs",
                          lambda c: from_kafka_acls(c.describe_acls(acl_filter)[0]))

    def broker_count(self) -> int:
        """How many brokers the cluster metadata lists."""
        def run(client: Any) -> int:
            return len(client.describe_cluster().get("brokers") or []) or 1
        return self._call("describing the cluster", run)

    def create_topic(self, topic: str, partitions: int, replication: int) -> bool:
        """Create ``topic``; False if it already existed. Waits for its metadata."""
        from kafka.admin import NewTopic

        def run(client: Any) -> bool:
            try:
                client.create_topics([NewTopic(topic, partitions, replication)],
                                     timeout_ms=int(self._timeout * 1000),
                                     wait_for_metadata=True)
            except kerr.TopicAlreadyExistsError:
                return False
            return True

        return self._call("creating the topic", run)

    # -- SCRAM --------------------------------------------------------------------------------

    @staticmethod
    def _iterations(result: dict[str, Any], user: str, mechanism: str) -> int | None:
        info = result.get(user) or {}
        for cred in info.get("credential_infos") or []:
            if cred["mechanism"].name == mechanism.replace("-", "_"):
                return int(cred["iterations"])
        return None

    def scram_iterations(self, user: str, mechanism: str) -> int | None:
        def run(client: Any) -> int | None:
            try:
                result = client.describe_user_scram_credentials([user])
            except kerr.ResourceNotFoundError:
                return None
            return self._iterations(result, user, mechanism)
        return self._call("reading SCRAM credentials", run)

    def upsert_scram(self, user: str, mechanism: str, password: str, iterations: int) -> None:
        upsertion = UserScramCredentialUpsertion(user, mechanism, password, iterations=iterations)
        result = self._call("setting a SCRAM credential",
                            lambda c: c.alter_user_scram_credentials([upsertion]))
        if result.get(user):
            raise ServiceError(503, "kafka_error", "Kafka refused the new key",
                               hint="retry; if it persists, the operator should check the broker")

    def wait_scram(self, user: str, mechanism: str, iterations: int, timeout: float) -> bool:
        request = DescribeUserScramCredentialsRequest(users=[(user,)])

        def visible_everywhere(client: Any) -> bool:
            for response in self._each_broker(client, request):
                counts = [ci.iterations for r in response.results if r.user == user
                          and not r.error_code for ci in r.credential_infos
                          if int(ci.mechanism) == (2 if mechanism == "SCRAM-SHA-512" else 1)]
                if iterations not in counts:
                    return False
            return True

        return self._poll("waiting for the key to propagate", visible_everywhere, timeout)

    def delete_scram(self, user: str, mechanism: str) -> bool:
        if self.scram_iterations(user, mechanism) is None:
            return False
        deletion = UserScramCredentialDeletion(user, mechanism)
        result = self._call("deleting a SCRAM credential",
                            lambda c: c.alter_user_scram_credentials([deletion]))
        if result.get(user):
            raise ServiceError(503, "kafka_error", "Kafka refused to delete the key",
                               hint="retry; if it persists, the operator should check the broker")
        return True

    # -- quotas -------------------------------------------------------------------------------
    # kafka-python's admin client has no quota methods; the protocol messages are sent as its
    # own methods send theirs (to any broker: KRaft brokers forward them to the controller)

    def user_quotas(self, user: str) -> dict[str, float]:
        component = DescribeClientQuotasRequest.ComponentData(
            entity_type="user", match_type=0, match=user)  # 0: exactly this name
        request = DescribeClientQuotasRequest(components=[component], strict=True)

        def run(client: Any) -> dict[str, float]:
            response = client._manager.run(client._manager.send, request)
            if response.error_code:
                raise kerr.for_code(response.error_code)(response.error_message or "")
            found: dict[str, float] = {}
            for entry in response.entries or []:
                names = {(e.entity_type, e.entity_name) for e in entry.entity}
                if names == {("user", user)}:
                    found.update({v.key: float(v.value) for v in entry.values})
            return found

        return self._call("reading user quotas", run)

    def set_user_quotas(self, user: str, quotas: dict[str, float | None]) -> None:
        if not quotas:
            return
        entry = AlterClientQuotasRequest.EntryData(
            entity=[AlterClientQuotasRequest.EntryData.EntityData(entity_type="user",
                                                                  entity_name=user)],
            ops=[AlterClientQuotasRequest.EntryData.OpData(
                key=key, value=float(value or 0.0), remove=value is None)
                for key, value in quotas.items()])
        request = AlterClientQuotasRequest(entries=[entry], validate_only=False)

        def run(client: Any) -> list[str]:
            response = client._manager.run(client._manager.send, request)
            return [f"{kerr.for_code(e.error_code).__name__}: {e.error_message}"
                    for e in response.entries if e.error_code]

        errors = self._call("setting user quotas", run)
        if errors:
            raise ServiceError(503, "kafka_error", f"Kafka refused the user quotas: {errors}",
                               hint="retry; if it persists, the operator should check the broker")
