"""``Fabric``: the whole local fabric under one home (broker(s), identity provider, service).

This is the typed API behind ``diaspora-fabric``; tests and later tools use it directly::

    with Fabric.at("/tmp/home").running(brokers=1) as fabric:   # up ... down
        admin = fabric.admin_client()

``Fabric.at(home)`` alone starts nothing; ``close()`` (and leaving a ``with Fabric.at(home)``
block) stops it, as ``down`` does.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from diaspora_notebook.fabric import webapps
from diaspora_notebook.fabric.broker.cluster import BrokerCluster, new_cluster_id
from diaspora_notebook.fabric.broker.config import (
    NodePorts,
    broker_open_files,
    check_open_file_limit,
    partitions_that_fit,
)
from diaspora_notebook.fabric.broker.install import (
    DEFAULT_KAFKA_VERSION,
    KafkaInstall,
    find_install,
    find_java,
    install,
)
from diaspora_notebook.fabric.errors import (
    FabricHomeError,
    FabricNotInstalledError,
    FabricUsageError,
)
from diaspora_notebook.fabric.home import (
    FABRIC_JSON_VERSION,
    FabricHome,
    check_usable,
    private_umask,
    random_secret,
    read_json,
    repair_modes,
    write_private,
    write_public,
)
from diaspora_notebook.fabric.launcher import (
    ManagedProcess,
    free_port,
    require_free_ports,
    stop_all,
    tagged_processes,
)
from diaspora_notebook.fabric.tls import ensure_certificates

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class FabricState:
    """What the first ``up`` chose and every later ``up`` keeps (state.json; no secrets)."""

    cluster_id: str
    kafka_version: str
    brokers: list[NodePorts]
    idp_port: int
    service_port: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> FabricState:
        data = read_json(path)
        try:
            return cls(
                cluster_id=str(data["cluster_id"]),
                kafka_version=str(data["kafka_version"]),
                brokers=[NodePorts(**b) for b in data["brokers"]],
                idp_port=int(data["idp_port"]),
                service_port=int(data["service_port"]),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FabricHomeError(
                f"{path} is missing or has a malformed field ({exc!r})",
                hint="restore it, or move the home aside and run `diaspora-fabric up` for a "
                "fresh fabric (nothing was changed)",
            ) from exc

    def save(self, path: Path) -> None:
        write_public(path, json.dumps(asdict(self), indent=2) + "\n")


def _out_of_space(root: Path, exc: BaseException) -> bool:
    """Whether ``exc`` means the home's disk is full (SQLite may only say "disk I/O error")."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if "full" in str(exc):
        return True
    try:
        return shutil.disk_usage(root).free < 1024 * 1024
    except OSError:
        return False


class Fabric:
    """One local fabric. Constructing it reads nothing; ``up`` creates what is missing."""

    def __init__(self, home: FabricHome, *, kafka_cache: Path | None = None) -> None:
        self.home = home
        self.kafka_cache = kafka_cache

    @classmethod
    def at(cls, root: str | Path | None = None, **kwargs: Any) -> Fabric:
        return cls(FabricHome.resolve(root), **kwargs)

    # --- state ---------------------------------------------------------------------------

    def state(self) -> FabricState | None:
        if not self.home.state_json.exists():
            return None
        return FabricState.load(self.home.state_json)

    def _new_state(self, brokers: int, port: int | None, kafka_version: str) -> FabricState:
        if brokers not in (1, 3):
            raise FabricUsageError(
                f"--brokers must be 1 or 3, not {brokers}",
                hint="use 1 for a laptop, 3 to try replication",
            )
        nodes = []
        for i in range(brokers):
            client = port + 2 * i if port is not None else free_port()
            controller = port + 2 * i + 1 if port is not None else free_port()
            iam = port + 2 * brokers + 2 + i if port is not None else free_port()
            nodes.append(NodePorts(i + 1, client, controller, iam))
        return FabricState(
            cluster_id=new_cluster_id(),
            kafka_version=kafka_version,
            brokers=nodes,
            idp_port=port + 2 * brokers if port is not None else free_port(),
            service_port=port + 2 * brokers + 1 if port is not None else free_port(),
        )

    def cluster(self, state: FabricState | None = None) -> BrokerCluster:
        state = state or self._require_state()
        kafka: KafkaInstall | None
        try:
            kafka = find_install(state.kafka_version, self.kafka_cache)
        except FabricNotInstalledError:
            kafka = None  # enough to stop or describe the fabric; starting it installs first
        return BrokerCluster(self.home, state.brokers, kafka, state.cluster_id)

    def _require_state(self) -> FabricState:
        state = self.state()
        if state is None:
            raise FabricHomeError(
                f"no fabric has been created in {self.home.root}",
                hint=f"run `diaspora-fabric up --home {self.home.root}`",
            )
        return state

    # --- lifecycle -----------------------------------------------------------------------

    def up(
        self,
        *,
        brokers: int | None = None,
        port: int | None = None,
        kafka_version: str = DEFAULT_KAFKA_VERSION,
        progress: Progress | None = None,
        service_port: int | None = None,
    ) -> dict[str, Any]:
        """Bring every part up (creating the fabric at the first call); return fabric.json.

        :param service_port: serve the web service on this port from now on (e.g. 8000, where
            diaspora-event-sdk's ``local`` environment expects it); the service must be stopped
            to move it
        """
        try:
            # owner-only files even where a library creates them (the IdP's SQLite database)
            with private_umask():
                return self._up(brokers, port, kafka_version, progress, service_port)
        except (OSError, sqlite3.Error) as exc:
            if not _out_of_space(self.home.root, exc):
                raise
            raise FabricHomeError(
                f"no space left on the device of the fabric home {self.home.root} ({exc})",
                hint="free some space there (or use a home on a bigger disk with --home) and run "
                "`diaspora-fabric up` again; what this `up` started was stopped and the files "
                "already in the home were not changed",
            ) from exc

    def _up(self, brokers: int | None, port: int | None, kafka_version: str,
            progress: Progress | None, service_port: int | None = None) -> dict[str, Any]:
        say = progress or (lambda _m: None)
        # before anything is written: another account's home, a missing java or too low an
        # open-file limit must leave the home untouched
        check_usable(self.home.root)
        find_java()
        check_open_file_limit(broker_open_files())
        repaired = repair_modes(self.home.root)
        if repaired:
            shown = ", ".join(str(p.relative_to(self.home.root)) for p in repaired[:10])
            more = f" and {len(repaired) - 10} more" if len(repaired) > 10 else ""
            say(f"made {len(repaired)} path(s) in {self.home.root} owner-only (they were "
                "readable by group or others; events, SCRAM hashes and logs must not be): "
                f"{shown}{more}")
        state = self.state()
        if state is None:
            state = self._new_state(brokers or 1, port, kafka_version)
            fresh = True
        else:
            fresh = False
            if brokers is not None and brokers != len(state.brokers):
                raise FabricUsageError(
                    f"this home holds a {len(state.brokers)}-broker fabric; --brokers {brokers} "
                    "cannot change that",
                    hint="use another --home for a different layout",
                )
            if port is not None and port != state.brokers[0].client_port:
                raise FabricUsageError(
                    f"this home already uses port {state.brokers[0].client_port}; ports are "
                    "chosen at the first `up` and kept",
                    hint="drop --port, or use another --home",
                )
        if service_port is not None and service_port != state.service_port:
            if webapps.service_process(self.home, state.service_port).is_running():
                raise FabricUsageError(
                    f"the web service is running on port {state.service_port}; it moves to "
                    f"{service_port} only when stopped",
                    hint=f"run `diaspora-fabric down`, then `diaspora-fabric up --service-port "
                    f"{service_port}`",
                )
            state.service_port = service_port
            if not fresh:
                state.save(self.home.state_json)
        if any(n.iam_port is None for n in state.brokers):
            # a home from before the IAM listener: give every node one, kept from now on
            state.brokers = [n if n.iam_port is not None else replace(n, iam_port=free_port())
                             for n in state.brokers]
            if not fresh:
                state.save(self.home.state_json)
        kafka = install(state.kafka_version, self.kafka_cache, progress=say)
        cluster = BrokerCluster(self.home, state.brokers, kafka, state.cluster_id)
        idp = webapps.idp_process(self.home, state.idp_port)
        service = webapps.service_process(self.home, state.service_port)
        stopped = [n for n in cluster.nodes if not n.process.is_running()]
        if not stopped and idp.is_running() and service.is_running():
            say("the fabric is already running")
            self._migrate(say)
            return self.describe()
        ports = {f"broker {n.node_id} client": n.ports.client_port for n in stopped}
        ports |= {f"broker {n.node_id} controller": n.ports.controller_port for n in stopped}
        ports |= {f"broker {n.node_id} IAM": n.ports.iam_port for n in stopped
                  if n.ports.iam_port is not None}
        if not idp.is_running():
            ports["identity provider"] = state.idp_port
        if not service.is_running():
            ports["web service"] = state.service_port
        require_free_ports(ports)
        self.home.ensure_dirs()
        if fresh:
            state.save(self.home.state_json)
        if ensure_certificates(self.home):
            say(f"created the fabric CA {self.home.ca_cert}")
        if not self.home.admin_password_file.exists():
            if any(n.is_formatted() for n in cluster.nodes):
                raise FabricHomeError(
                    f"the admin password file {self.home.admin_password_file} is missing but "
                    "Kafka storage already exists",
                    hint="restore the file from a backup; without it the broker's admin user "
                    "cannot log in (nothing was changed)",
                )
            write_private(self.home.admin_password_file, random_secret() + "\n")
        admin_password = self.home.admin_password()
        if not self.home.controller_password_file.exists():
            # static PLAIN credentials of the quorum: a new one is fine for an existing home
            write_private(self.home.controller_password_file, random_secret() + "\n")
        controller_password = self.home.controller_password_file.read_text().strip()
        cluster.write_configs(admin_password, controller_password)
        formatted = cluster.format_storage(admin_password)
        if formatted:
            say(f"formatted Kafka storage for node(s) {formatted}")
        started: list[ManagedProcess] = []
        try:
            if stopped:
                say(f"starting {len(stopped)} Kafka node(s)...")
                cluster.start([n.node_id for n in stopped])
                started += [n.process for n in stopped]
            cluster.wait_for_brokers(admin_password, len(cluster.nodes))
            say(f"Kafka is ready on {','.join(cluster.bootstrap_servers)}")
            reg = self._registration(state)
            webapps.write_service_config(self.home, reg, cluster.bootstrap_servers,
                                         state.idp_port, broker=self._broker_settings(cluster))
            if not fresh:
                self._migrate(say)
            for proc, port, what in ((idp, state.idp_port, "identity provider"),
                                     (service, state.service_port, "web service")):
                if not proc.is_running():
                    proc.start()
                    started.append(proc)
                    proc.wait_ready(functools.partial(webapps.healthy, port), webapps.START_TIMEOUT,
                                    "GET /healthz answers 200")
                    say(f"{what} is ready on {webapps.url(port)}")
        except BaseException:
            # leave the home as it was found: nothing half-running
            stop_all(started, timeout=10)
            raise
        self._write_fabric_json(state)
        return self.describe()

    @staticmethod
    def _broker_settings(cluster: BrokerCluster) -> dict[str, Any]:
        """What the service must know of the brokers: the IAM listeners (a v3 key's
        ``endpoint``) and the per-topic partition cap (its ``add_partitions`` route)."""
        return {"iam_bootstrap_servers": cluster.iam_bootstrap_servers or None,
                "max_partitions_per_topic": cluster.topic_limits().max_partitions_per_topic,
                # every node holds a replica of every partition (one node, or three with
                # replication factor 3): the users' total is what one node's open files hold
                "max_partitions_total": partitions_that_fit(broker_open_files()),
                "partition_budget_file": str(cluster.partition_budget_file)}

    def _migrate(self, say: Progress) -> None:
        """Bring an existing home's ACLs to today's conventions and say what changed (the
        service runs the same idempotent migration when it starts, for clusters without `up`)."""
        from diaspora_notebook.fabric.kafka_cli import kafka_admin
        from diaspora_notebook.fabric.service.migrations import migrate_group_acls

        with kafka_admin(self.home) as (gateway, _settings):
            report = migrate_group_acls(gateway)
        if report.migrated:
            say(f"migrated the consumer-group ACLs of {len(report.topics)} topic(s) to the "
                f"'<topic>/<name>' group convention: {', '.join(report.topics)}")
        if report.narrowed:
            say(f"narrowed the grantees' consumer-group ACLs of {len(report.narrowed_topics)} "
                f"topic(s) to '<topic>/<grantee>/': {', '.join(report.narrowed_topics)}")
        if report.owner_alter:
            say(f"removed ALTER from the owners of {len(report.owner_alter_topics)} topic(s) "
                "(partitions are added through the service, within max_partitions_per_topic): "
                f"{', '.join(report.owner_alter_topics)}")
        if report.left_alone:
            names = sorted({e.resource_name for e in report.left_alone})
            say(f"left {len(report.left_alone)} old-style group ACL(s) alone (their principals "
                f"own no topic of that name): {', '.join(names)}")

    def _registration(self, state: FabricState) -> webapps.Registration:
        reg = webapps.Registration.from_extra(state.extra)
        if reg is None:
            reg = webapps.register_clients(self.home)
            state.extra.update(native_client_id=reg.native_client_id,
                               service_client_id=reg.service_client_id,
                               service_scope=reg.service_scope)
            state.save(self.home.state_json)
        return reg

    def down(self, timeout: float = 30.0) -> list[str]:
        """Stop every process of this fabric; sweep tagged leftovers so no JVM is orphaned."""
        state = self.state()
        processes = []
        if state is not None:
            # web servers first: they hold Kafka admin connections
            processes = [webapps.service_process(self.home, state.service_port),
                         webapps.idp_process(self.home, state.idp_port)]
            web = stop_all(processes, timeout=timeout)
            nodes = [n.process for n in self.cluster(state).nodes]
            return web + stop_all(nodes, tag=str(self.home.root), timeout=timeout)
        return stop_all(processes, tag=str(self.home.root), timeout=timeout)

    @contextlib.contextmanager
    def running(self, *, stop_timeout: float = 15.0, **up_options: Any) -> Iterator[Fabric]:
        """``up(**up_options)`` now and ``down`` when the block ends, also when ``up`` fails.

        ``up`` stops what it started when it fails; ``down`` also sweeps tagged leftovers.
        """
        try:
            self.up(**up_options)
            yield self
        finally:
            self.down(timeout=stop_timeout)

    def close(self) -> None:
        """Stop every process of this fabric (``down``); the home keeps its data."""
        self.down()

    def __enter__(self) -> Fabric:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def is_running(self) -> bool:
        state = self.state()
        return state is not None and bool(self.cluster(state).running())

    # --- description ---------------------------------------------------------------------

    def _write_fabric_json(self, state: FabricState) -> None:
        cluster = self.cluster(state)
        doc = {
            "version": FABRIC_JSON_VERSION,
            "home": str(self.home.root),
            "kafka": {
                "version": state.kafka_version,
                "bootstrap_servers": cluster.bootstrap_servers,
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "ca_file": str(self.home.ca_cert),
                # the same brokers' OAUTHBEARER listeners, for v3 (IAM) keys
                "iam_bootstrap_servers": cluster.iam_bootstrap_servers,
            },
        }
        reg = webapps.Registration.from_extra(state.extra)
        if reg is not None:
            doc["auth"] = {"url": webapps.url(state.idp_port),
                           "native_client_id": reg.native_client_id}
            doc["service"] = {"url": webapps.url(state.service_port),
                              "resource_server": reg.service_client_id,
                              "scope": reg.service_scope}
        write_public(self.home.fabric_json, json.dumps(doc, indent=2) + "\n")

    def describe(self) -> dict[str, Any]:
        return read_json(self.home.fabric_json)

    def status(self) -> dict[str, Any]:
        """Each process: pid, ports, up/down and data size."""
        state = self._require_state()
        cluster = self.cluster(state)
        rows = []
        for node in cluster.nodes:
            pid = node.process.pid()
            rows.append(
                {
                    "name": node.process.name,
                    "pid": pid,
                    "state": "up" if pid else "down",
                    "ports": {
                        "client": node.ports.client_port,
                        "controller": node.ports.controller_port,
                    },
                    "data_bytes": node.data_size() if node.data_dir.exists() else 0,
                    "log": str(node.server_log),
                }
            )
        for proc, port in ((webapps.idp_process(self.home, state.idp_port), state.idp_port),
                           (webapps.service_process(self.home, state.service_port),
                            state.service_port)):
            pid = proc.pid()
            rows.append({
                "name": proc.name,
                "pid": pid,
                "state": "up" if pid and webapps.healthy(port) else "down",
                "ports": {"http": port},
                "url": webapps.url(port),
                "log": str(proc.log_path),
            })
        leftovers = set(tagged_processes(str(self.home.root))) - {r["pid"] for r in rows}
        return {"home": str(self.home.root), "processes": rows, "untracked_pids": sorted(leftovers)}

    # --- clients -------------------------------------------------------------------------

    def admin_config(self) -> dict[str, Any]:
        return self.cluster().admin_config(self.home.admin_password())

    def admin_client(self, **overrides: Any) -> Any:
        """A kafka-python ``KafkaAdminClient`` logged in as the fabric's admin super user."""
        from kafka.admin import KafkaAdminClient

        return KafkaAdminClient(**{**self.admin_config(), **overrides})

    def log_files(self) -> dict[str, Path]:
        """Each process's main log, by process name."""
        state = self._require_state()
        logs = {n.process.name: n.server_log for n in self.cluster(state).nodes}
        logs["idp"] = webapps.idp_process(self.home, state.idp_port).log_path
        logs["service"] = webapps.service_process(self.home, state.service_port).log_path
        return logs

    @property
    def bootstrap_servers(self) -> list[str]:
        return self.cluster().bootstrap_servers
