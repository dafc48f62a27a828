"""Start, watch and stop the fabric's detached processes (broker JVMs, identity provider, service).

Each process runs in its own session so that the CLI can exit and leave it running, writes its
output to ``run/<name>.log`` (never an undrained pipe: a full pipe blocks a JVM), and records its
pid in ``run/<name>.pid``. Every child carries ``DIASPORA_FABRIC_TAG=<home>`` in its environment,
so ``down`` can find and stop leftovers even when a pid file was lost.

Every child runs with umask 077 and its log and pid files are created 0600: what a broker JVM
writes (segment files with event payloads, ``__cluster_metadata`` with SCRAM hashes) must not be
readable by other local accounts. Secrets never go on a child's command line (world-readable in
/proc/PID/cmdline); children read them from 0600 files. The toolkit's own login secrets are not
passed on to fabric processes, which never need them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from diaspora_notebook.fabric.errors import FabricError, FabricStartError, PortInUseError
from diaspora_notebook.fabric.home import PRIVATE_UMASK, make_private_dir, write_private

log = logging.getLogger(__name__)

TAG_VARIABLE = "DIASPORA_FABRIC_TAG"
# a user's own credentials, possibly set in the shell that runs `up`; no fabric process needs them
_WITHHELD_VARIABLES = ("DIASPORA_LOGIN_PASSWORD", "DIASPORA_SDK_CLIENT_SECRET",
                       "DIASPORA_DEMO_FRIEND_PASSWORD")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True if a server could listen on the port now.

    SO_REUSEADDR as the servers themselves set it: connections of a just-stopped fabric linger
    in TIME_WAIT, which must not count as busy, while a live listener still does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def require_free_ports(ports: dict[str, int]) -> None:
    """Raise one error naming every busy port and what it was meant for."""
    busy = {name: port for name, port in ports.items() if not port_is_free(port)}
    if busy:
        listing = ", ".join(f"{port} ({name})" for name, port in busy.items())
        raise PortInUseError(
            f"port(s) already in use on 127.0.0.1: {listing}",
            hint="stop the program holding them (see `ss -ltnp`), or choose another port with "
            "`diaspora-fabric up --port N` on a fresh home",
        )


def tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """One detached child of the fabric, known by its name under ``run_dir``."""

    name: str
    run_dir: Path
    tag: str
    argv: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    log_file: Path | None = None
    # the child's soft RLIMIT_NOFILE (the broker's partitions need many files); None = inherit
    open_files: int | None = None
    # set by start(): lets us reap our own child's exit status while waiting for readiness
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.log_file or self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the live process, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_process(pid, self.tag) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> int:
        """Spawn the process detached; return its pid. Does not wait for readiness."""
        make_private_dir(self.run_dir)
        make_private_dir(self.log_path.parent)
        env = {**os.environ, **self.env, TAG_VARIABLE: self.tag}
        for name in _WITHHELD_VARIABLES:
            env.pop(name, None)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a log left by an older version may be 0644
        with os.fdopen(fd, "ab") as out:
            out.write(f"\n--- starting {self.name} at {time.ctime()} ---\n".encode())
            out.flush()
            proc = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
                umask=PRIVATE_UMASK,
                preexec_fn=_open_files_setter(self.open_files),
            )
        write_private(self.pid_file, f"{proc.pid}\n")
        self._popen = proc
        return proc.pid

    def exit_code(self) -> int | None:
        """The exit code if this process was started by us and has exited, else None."""
        return None if self._popen is None else self._popen.poll()

    def wait_ready(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``check`` until it is true; fail fast if the process exits, kill it on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.exit_code()
            if code is not None or (self._popen is None and not self.is_running()):
                raise FabricStartError(
                    f"{self.name} exited (code {code}) before {what}; last log lines:\n"
                    f"{tail(self.log_path)}",
                    hint=f"read the full log at {self.log_path}",
                )
            try:
                if check():
                    return
            except FabricError:
                raise
            except Exception as exc:  # a probe failing is expected while the server boots
                log.debug("%s not ready yet: %s", self.name, exc)
            time.sleep(0.25)
        self.stop(timeout=5)
        raise FabricStartError(
            f"{self.name} did not reach '{what}' within {timeout:.0f} s; last log lines:\n"
            f"{tail(self.log_path)}",
            hint=f"read the full log at {self.log_path}; on a busy machine retry `up`",
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the process group, wait, then SIGKILL. True if something was running."""
        pid = self.pid()
        if pid is None:
            with contextlib.suppress(FileNotFoundError):
                self.pid_file.unlink()
            return False
        _terminate([pid], timeout)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=1)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        return True


def _open_files_setter(wanted: int | None) -> Callable[[], None] | None:
    """A preexec function setting the child's soft open-file limit to ``wanted`` (at most the
    hard limit, which ``check_open_file_limit`` verified before anything started): raised or
    lowered, so the broker gets exactly what its checks at `up` counted with. The child's
    hard limit is set to it too: the JVM raises its soft limit to the hard one at start
    (``-XX:+MaxFDLimit``, the default), which would make the setting meaningless."""
    if wanted is None:
        return None

    def raise_limit() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))

    return raise_limit


def _is_our_process(pid: int, tag: str) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return bool(proc.environ().get(TAG_VARIABLE) == tag)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def tagged_processes(tag: str) -> list[int]:
    """Pids of every live process carrying this fabric's tag (leftovers included)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid != os.getpid() and _is_our_process(proc.pid, tag):
            found.append(proc.pid)
    return found


def _terminate(pids: list[int], timeout: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        log.warning("pid %s ignored SIGTERM for %.0f s; sending SIGKILL", proc.pid, timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def stop_all(
    processes: Sequence[ManagedProcess], tag: str | None = None, timeout: float = 30.0
) -> list[str]:
    """Stop the given processes together, then (given a tag) sweep any other tagged process."""
    stopped = []
    pids = []
    for proc in processes:
        pid = proc.pid()
        if pid is not None:
            pids.append(pid)
            stopped.append(proc.name)
    if pids:
        _terminate(pids, timeout)
    for proc in processes:
        with contextlib.suppress(FileNotFoundError):
            proc.pid_file.unlink()
    leftovers = tagged_processes(tag) if tag else []
    if leftovers:
        log.warning("stopping %d leftover fabric process(es): %s", len(leftovers), leftovers)
        _terminate(leftovers, 5.0)
    return stopped
