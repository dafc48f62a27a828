"""Run one or three Apache Kafka KRaft nodes as detached JVMs under a fabric home."""

from __future__ import annotations

import base64
import errno
import functools
import logging
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from diaspora_notebook.fabric.broker.config import (
    ADMIN_USER,
    BASE_OPEN_FILES,
    IAM_KEY_STORE,
    OPEN_FILES_VARIABLE,
    PARTITION_BUDGET_FILE,
    TOPIC_LIMITS_FILE,
    NodePorts,
    TopicLimits,
    broker_open_files,
    check_open_file_limit,
    jvm_options,
    reauth_ms,
    render_server_properties,
)
from diaspora_notebook.fabric.broker.install import KafkaInstall, find_java
from diaspora_notebook.fabric.errors import FabricHomeError, FabricStartError
from diaspora_notebook.fabric.home import (
    PRIVATE_UMASK,
    FabricHome,
    make_private_dir,
    write_private,
)
from diaspora_notebook.fabric.launcher import ManagedProcess, stop_all, tail

log = logging.getLogger(__name__)

STARTED_LINE = "Kafka Server started"
START_TIMEOUT_ONE = 90.0
START_TIMEOUT_MANY = 150.0
RECOVERY_SECONDS_PER_PARTITION = 0.1  # measured ~0.05 s on 2 busy cores


def new_cluster_id() -> str:
    """A Kafka cluster id: URL-safe base64 of 16 random bytes, never starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass
class BrokerNode:
    """One combined broker+controller node and the files it owns."""

    ports: NodePorts
    directory: Path
    process: ManagedProcess

    @property
    def node_id(self) -> int:
        return self.ports.node_id

    @property
    def properties(self) -> Path:
        return self.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def logs_dir(self) -> Path:
        return self.directory / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    def is_formatted(self) -> bool:
        return (self.data_dir / "meta.properties").exists()

    def data_size(self) -> int:
        """Bytes on disk (index files are sparse: their apparent size would overstate it)."""
        return sum(p.stat().st_blocks * 512 for p in self.data_dir.rglob("*") if p.is_file())


class BrokerCluster:
    """The Kafka side of a fabric: format once, start, wait for readiness, stop."""

    def __init__(
        self,
        home: FabricHome,
        ports: list[NodePorts],
        kafka: KafkaInstall | None,
        cluster_id: str,
        *,
        heap_mb: int = 512,
    ) -> None:
        self.home = home
        self.kafka = kafka
        self.cluster_id = cluster_id
        self.heap_mb = heap_mb
        self.nodes = [
            BrokerNode(
                ports=p,
                directory=home.node_dir(p.node_id),
                process=ManagedProcess(
                    name=f"broker-{p.node_id}",
                    run_dir=home.run_dir,
                    tag=str(home.root),
                    log_file=home.node_dir(p.node_id) / "logs" / "stdout.log",
                ),
            )
            for p in ports
        ]

    @property
    def bootstrap_servers(self) -> list[str]:
        return [f"127.0.0.1:{n.ports.client_port}" for n in self.nodes]

    @property
    def iam_bootstrap_servers(self) -> list[str]:
        """host:port of every node's IAM (OAUTHBEARER) listener; empty in an older home."""
        return [f"127.0.0.1:{n.ports.iam_port}" for n in self.nodes
                if n.ports.iam_port is not None]

    @property
    def iam_key_store(self) -> Path:
        """The IAM key store file the web service writes and every node's plugin reads."""
        return self.home.secrets_dir / IAM_KEY_STORE

    @property
    def topic_limits_file(self) -> Path:
        return self.home.broker_dir / TOPIC_LIMITS_FILE

    @property
    def partition_budget_file(self) -> Path:
        """Each registration's partition allotment: the service writes, the policy reads."""
        return self.home.broker_dir / PARTITION_BUDGET_FILE

    def topic_limits(self) -> TopicLimits:
        """What the nodes' topic policies allow (defaults + the operator's overrides)."""
        return TopicLimits.load(self.topic_limits_file)

    @property
    def log4j_config(self) -> Path:
        return self.home.broker_dir / "log4j2.properties"

    def node(self, node_id: int) -> BrokerNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    # --- configuration -------------------------------------------------------------------

    def write_configs(self, admin_password: str, controller_password: str) -> None:
        """(Re)write every node's properties (they hold passwords; all home files are 0600)."""
        session_ms = reauth_ms()
        limits = self.topic_limits()
        make_private_dir(self.home.broker_dir)
        source = resources.files("diaspora_notebook.fabric.broker") / "log4j2.properties"
        write_private(self.log4j_config, source.read_text())
        for node in self.nodes:
            for directory in (node.directory, node.logs_dir, node.data_dir):
                make_private_dir(directory)
            write_private(node.properties, render_server_properties(
                node.ports,
                [n.ports for n in self.nodes],
                data_dir=node.data_dir,
                server_pem=self.home.server_pem,
                ca_pem=self.home.ca_cert,
                admin_password=admin_password,
                controller_password=controller_password,
                reauth_ms=session_ms,
                iam_key_store=self.iam_key_store,
                limits=limits,
                partition_budget=self.partition_budget_file,
            ))

    def _java_base(self, heap: list[str], logs_dir: Path) -> list[str]:
        assert self.kafka is not None, "Kafka jars are needed to run the broker"
        return [
            find_java(),
            *heap,
            f"-Dkafka.logs.dir={logs_dir}",
            f"-Dlog4j2.configurationFile={self.log4j_config}",
            "-cp",
            self.kafka.classpath,
        ]

    def format_storage(self, admin_password: str) -> list[int]:
        """Format every unformatted node with the same cluster id and admin SCRAM user.

        A node that is already formatted is left alone (its data is the point of a home);
        one formatted for another cluster id means the home is inconsistent.
        """
        formatted = []
        for node in self.nodes:
            if node.is_formatted():
                self._check_cluster_id(node)
                continue
            java, *options = self._java_base(["-Xmx256m"], node.logs_dir)
            tool_args = [
                *options,
                "kafka.tools.StorageTool", "format",
                "--config", str(node.properties),
                f"--cluster-id={self.cluster_id}",
                "--add-scram", f"SCRAM-SHA-512=[name={ADMIN_USER},password={admin_password}]",
            ]
            result = self._run_java_with_argfile(java, tool_args)
            if result.returncode != 0:
                output = result.stdout + result.stderr
                if "No space left on device" in output:
                    raise OSError(errno.ENOSPC, "No space left on device", str(node.data_dir))
                # never echo argv: it carries the admin password
                raise FabricStartError(
                    f"formatting Kafka storage for node {node.node_id} failed:\n"
                    f"{(result.stdout + result.stderr)[-3000:]}",
                    hint=f"check {node.properties}; the data directory {node.data_dir} was "
                    "left as it was",
                )
            formatted.append(node.node_id)
        return formatted

    def _run_java_with_argfile(self, java: str,
                               args: list[str]) -> subprocess.CompletedProcess[str]:
        """Run ``java @file`` with ``args`` in a 0600 file that is removed afterwards.

        The command line of every process is world-readable (``ps``, /proc/PID/cmdline); the
        java launcher reads an ``@argfile`` itself, so the arguments (the admin password among
        them) never appear there. The main class goes in the file too: the launcher expands no
        ``@file`` after the main class.
        """
        argfile = self.home.secrets_dir / f".java-args-{uuid.uuid4().hex}"
        write_private(argfile, "".join(_argfile_quote(a) + "\n" for a in args))
        try:
            return subprocess.run([java, f"@{argfile}"], capture_output=True, text=True,
                                  timeout=120, stdin=subprocess.DEVNULL, umask=PRIVATE_UMASK)
        finally:
            argfile.unlink(missing_ok=True)

    def _check_cluster_id(self, node: BrokerNode) -> None:
        meta = (node.data_dir / "meta.properties").read_text()
        if f"cluster.id={self.cluster_id}" not in meta:
            raise FabricHomeError(
                f"node {node.node_id}'s data in {node.data_dir} belongs to another Kafka cluster "
                f"(state.json says {self.cluster_id})",
                hint="the home is inconsistent; restore state.json or move the home aside and "
                "start a fresh one (nothing was changed)",
            )

    # --- lifecycle -----------------------------------------------------------------------

    def running(self) -> list[int]:
        return [n.node_id for n in self.nodes if n.process.is_running()]

    def start(self, node_ids: list[int] | None = None, *, timeout: float | None = None) -> None:
        """Start the given (default: all) stopped nodes together, then wait for readiness.

        All JVMs start before any wait: a node blocks until a controller quorum exists,
        which needs a majority of the voters running.
        """
        targets = [n for n in self.nodes if node_ids is None or n.node_id in node_ids]
        to_start = [n for n in targets if not n.process.is_running()]
        offsets = {n.node_id: _size(n.server_log) for n in to_start}
        open_files = check_open_file_limit(broker_open_files())
        on_disk = max([check_data_fits(node, open_files) for node in to_start], default=0)
        for node in to_start:
            node.process.open_files = open_files
            node.process.argv = [
                *self._java_base(jvm_options(self.heap_mb), node.logs_dir),
                "kafka.Kafka", str(node.properties),
            ]
            node.process.start()
        budget = timeout or (START_TIMEOUT_MANY if len(self.nodes) > 1 else START_TIMEOUT_ONE)
        # after an unclean stop (a crash, "Too many open files") Kafka recovers every
        # partition's last segment one by one before it serves: give it time for that too
        budget += RECOVERY_SECONDS_PER_PARTITION * on_disk
        deadline = time.monotonic() + budget
        try:
            for node in to_start:
                remaining = max(1.0, deadline - time.monotonic())
                node.process.wait_ready(
                    functools.partial(_started_or_fatal, node, offsets[node.node_id]),
                    remaining,
                    f"'{STARTED_LINE}'",
                )
        except FabricStartError:
            self.stop()
            raise

    def stop(self, node_ids: list[int] | None = None, timeout: float = 30.0) -> list[int]:
        """SIGTERM the nodes together, SIGKILL whatever is left after ``timeout``."""
        targets = [n for n in self.nodes if node_ids is None or n.node_id in node_ids]
        running = [n.node_id for n in targets if n.process.is_running()]
        stop_all([n.process for n in targets], timeout=timeout)
        return running

    def close(self) -> None:
        """Stop every node (``stop()``); their data stays."""
        self.stop()

    def __enter__(self) -> BrokerCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def kill(self, node_id: int) -> None:
        """SIGKILL one node, as a crash would (for fault tests)."""
        pid = self.node(node_id).process.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.node(node_id).process.is_running() and time.monotonic() < deadline:
                time.sleep(0.1)

    # --- clients -------------------------------------------------------------------------

    def admin_config(self, admin_password: str) -> dict[str, Any]:
        """kafka-python settings for the admin super user, TLS verified against the fabric CA."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": ADMIN_USER,
            "sasl_plain_password": admin_password,
            "ssl_cafile": str(self.home.ca_cert),
        }

    def wait_for_brokers(self, admin_password: str, expected: int, timeout: float = 60.0) -> int:
        """Poll describe_cluster until ``expected`` unfenced brokers answer."""
        from kafka.admin import KafkaAdminClient

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        seen = 0
        while time.monotonic() < deadline:
            try:
                admin = KafkaAdminClient(**self.admin_config(admin_password),
                                         request_timeout_ms=10000, bootstrap_timeout_ms=10000)
                try:
                    brokers = admin.describe_cluster()["brokers"]
                finally:
                    admin.close()
                seen = sum(1 for b in brokers if not b.get("is_fenced", False))
                if seen >= expected:
                    return seen
            except Exception as exc:  # the next poll decides; the last error is reported
                last_error = exc
            time.sleep(0.5)
        raise FabricStartError(
            f"only {seen} of {expected} Kafka brokers registered within {timeout:.0f} s"
            + (f" (last error: {last_error!r})" if last_error else ""),
            hint="see `diaspora-fabric logs`; on a loaded machine try `up` again",
        )


def _argfile_quote(arg: str) -> str:
    """One argument in the java launcher's @argfile syntax: double-quoted, backslash-escaped."""
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _log_contains(path: Path, offset: int, needle: str) -> bool:
    try:
        with path.open("rb") as fh:
            if _size(path) < offset:  # the log rolled over since we looked
                offset = 0
            fh.seek(offset)
            return needle.encode() in fh.read()
    except FileNotFoundError:
        return False


def _started_or_fatal(node: BrokerNode, offset: int) -> bool:
    """Readiness check: the banner, or a fatal error (so the wait fails fast)."""
    return _log_contains(node.server_log, offset, STARTED_LINE) or _fatal_in_log(node, offset)


def _fatal_in_log(node: BrokerNode, offset: int) -> bool:
    if _log_contains(node.server_log, offset, "Exiting Kafka due to fatal exception"):
        raise FabricStartError(
            f"broker node {node.node_id} hit a fatal error while starting:\n"
            f"{tail(node.server_log, 20)}",
            hint=f"read {node.server_log}",
        )
    return False


# --- partition folders left on disk ---------------------------------------------------------

def _data_open_files(data_dir: Path) -> tuple[int, int, int]:
    """``(partitions, segments, removed)`` of a node's data directory: the partition folders
    Kafka opens at start, their segments (one open file each), and how many ``*-delete``
    folders were removed first (topics already deleted: Kafka would remove them itself, but
    only after opening them, which a broker that died of too many open files cannot)."""
    import shutil

    partitions = segments = removed = 0
    try:
        entries = list(os.scandir(data_dir))
    except FileNotFoundError:
        return 0, 0, 0
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name.endswith("-delete"):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
            continue
        partitions += 1
        try:
            segments += sum(1 for f in os.scandir(entry.path) if f.name.endswith(".log"))
        except OSError:
            segments += 1
    return partitions, segments, removed


def data_open_files_needed(partitions: int, segments: int) -> int:
    """The open files a broker needs for its data: one per segment (its ``.log`` stays open;
    indexes are mapped and closed; measured: ~1.02 per one-segment partition), on top of the
    base (sockets, jars, logs). ``partitions`` counts as a floor of one segment each."""
    return BASE_OPEN_FILES + max(segments, partitions)


def check_data_fits(node: BrokerNode, open_files: int) -> int:
    """Refuse to start ``node`` when the partition folders on its disk need more open files
    than it gets (it would exit at start with "Too many open files"): one error with the
    numbers and the one command that repairs it. Returns the partition folders counted."""
    import resource

    partitions, segments, removed = _data_open_files(node.data_dir)
    if removed:
        log.info("removed %d folder(s) of deleted topics from %s", removed, node.data_dir)
    needed = data_open_files_needed(partitions, segments)
    if needed <= open_files:
        return partitions
    wanted = -(-needed * 5 // 4 // 1024) * 1024  # a quarter more, to grow; whole KiB
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    facts = (f"broker {node.node_id}'s data directory {node.data_dir} holds {partitions} "
             f"partition folders ({segments} segments): they need about {needed} open files, "
             f"but the broker gets {open_files} ({OPEN_FILES_VARIABLE})")
    if hard == resource.RLIM_INFINITY or hard >= wanted:
        raise FabricStartError(
            facts, hint=f"run `{OPEN_FILES_VARIABLE}={wanted} diaspora-fabric up` (nothing "
            "was started); then delete the topics nobody needs, and later `up`s need no "
            "more than the default")
    raise FabricStartError(
        facts + f", and this system allows at most {hard} (`ulimit -Hn`)",
        hint=f"raise the hard open-file limit to {wanted} (e.g. `* hard nofile {wanted}` in "
        f"/etc/security/limits.conf, log in again), then run `{OPEN_FILES_VARIABLE}={wanted} "
        "diaspora-fabric up` and delete the topics nobody needs")
