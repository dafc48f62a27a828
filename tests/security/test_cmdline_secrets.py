"""No secret on a command line while a new fabric comes up (issue 11, item 6).

Every local account can read /proc/PID/cmdline (and ``ps``). The first ``up`` of a home
formats Kafka's storage with the admin SCRAM credential, starts the broker JVM, registers the
IdP clients and starts the identity provider and the service; a thread samples the command line
of every process every ~20 ms meanwhile. Secrets travel in 0600 files (java's ``@argfile`` for
StorageTool, removed afterwards). /proc/PID/environ is owner-only, but the fabric's children
still must not inherit the user's own login secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from pathlib import Path

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.launcher import tagged_processes
from diaspora_notebook.fabric.testing.secrets import remember_secret

SAMPLE_EVERY = 0.02


class CmdlineSampler(threading.Thread):
    """Collects every distinct command line of every process until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[str] = set()
        self.passes = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        raw = fh.read()
                    if raw:
                        self.seen.add(raw.replace(b"\0", b" ").decode(errors="replace"))
            self.passes += 1
            self.stop_event.wait(SAMPLE_EVERY)


def home_secrets(home: Path) -> dict[str, str]:
    """Every secret a fabric home holds, by where it is kept."""
    secrets_dir = home / "secrets"
    found = {name: (secrets_dir / name).read_text().strip()
             for name in ("admin.password", "controller.password")}
    found["service client secret"] = json.loads(
        (secrets_dir / "service-client.json").read_text())["client_secret"]
    for path in secrets_dir.iterdir():
        if path.is_file() and path.suffix in ("", ".password", ".txt"):
            found.setdefault(path.name, path.read_text().strip())
    for pem in (home / "tls" / "ca.key", home / "tls" / "server.pem",
                home / "idp" / "signing-key.pem"):
        body = [line for line in pem.read_text().splitlines()[1:3] if len(line) >= 40]
        found.update({f"{pem.name} line {i}": line for i, line in enumerate(body)})
    return {k: v for k, v in found.items() if len(v) >= 8}


def test_no_secret_on_any_command_line_during_the_first_up(tmp_path, monkeypatch):
    own_secret = f"user-login-secret-{uuid.uuid4().hex}"
    remember_secret(own_secret)
    monkeypatch.setenv("DIASPORA_LOGIN_PASSWORD", own_secret)  # as if set in the user's shell
    home = tmp_path / "fresh-home"
    sampler = CmdlineSampler()
    sampler.start()
    try:
        with Fabric.at(home).running() as fabric:
            children = tagged_processes(str(fabric.home.root))
            environs = {}
            for pid in children:
                with contextlib.suppress(OSError):
                    environs[pid] = Path(f"/proc/{pid}/environ").read_bytes()
            time.sleep(0.5)
    finally:
        sampler.stop_event.set()
        sampler.join(timeout=10)

    secrets = home_secrets(home)
    assert {"admin.password", "controller.password", "service client secret"} <= set(secrets)
    remember_secret(*secrets.values())
    leaks = {name for name, value in secrets.items()
             if any(value in line for line in sampler.seen)}
    assert leaks == set(), f"secrets on a command line: {sorted(leaks)}"
    assert not any(own_secret in line for line in sampler.seen)

    # the sampler saw every step, so the test would have caught the old --add-scram argument
    def saw(needle: str) -> bool:
        return any(needle in line for line in sampler.seen)

    assert saw(f"@{home / 'secrets'}/.java-args-"), "the StorageTool run was never sampled"
    assert saw("kafka.Kafka") and saw("diaspora_notebook.fabric.idp") and \
        saw("diaspora_notebook.fabric.service"), "a fabric process was never sampled"
    assert sampler.passes > 100, sampler.passes
    assert list((home / "secrets").glob(".java-args-*")) == [], "the argfile was not removed"

    assert len(environs) >= 3, environs.keys()
    for pid, environ in environs.items():
        assert own_secret.encode() not in environ, f"pid {pid} inherited DIASPORA_LOGIN_PASSWORD"
        assert all(v.encode() not in environ for v in secrets.values()), f"pid {pid} environ"
