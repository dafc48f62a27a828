"""Security audit, run LAST in the session (see conftest.py): no secret in any log, secret files
private.

* Every fabric home of the session (the session fabric, and every fabric a test started in its
  own temporary home) has its logs (``run/*.log``, ``broker/*/logs/*``) searched for every
  password, token and key issued during the session: ``ISSUED_SECRETS`` (filled by the test
  helpers and by the recorders in conftest.py), each home's own secrets (admin password, the
  service's client secret, demo passwords, private-key material), and what the user dirs on
  disk hold (tokens.db, cached keys), which covers logins made in subprocesses and kernels.
* Secret files are 0600 and their directories 0700, in every home and every user dir, and no
  path at all under a fabric home (events, metadata, logs) is readable by group or others.

The module also does a little abuse of its own first (wrong passwords, a forged bearer token, a
key used after rotation), so it means something when run alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path

import pytest
import requests

from diaspora_notebook.errors import KafkaAuthenticationError
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.testing.secrets import ISSUED_SECRETS, log_files, remember_secret
from diaspora_notebook.kafka.clients import KafkaProducer
from diaspora_notebook.login import stored_tokens
from diaspora_notebook.login.key_cache import cached_passwords
from diaspora_notebook.testing.tokens import service_headers, service_url

SESSION_STARTED = time.time()
FORGED = f"forged-bearer-{os.urandom(12).hex()}"
WRONG_PASSWORDS: list[str] = []


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fabric_homes(fabric: Fabric, basetemp: Path) -> list[Path]:
    """The session fabric's home and every other fabric home under the session's temp dir."""
    homes = {Path(fabric.home.root).resolve()}
    for state in basetemp.rglob("state.json"):
        home = state.parent
        if (home / "run").is_dir() or (home / "broker").is_dir():
            homes.add(home.resolve())
    return sorted(homes)


def user_dirs(basetemp: Path) -> list[Path]:
    """Every toolkit user dir the session created (tokens.db or a key cache inside)."""
    found = {p.parent for p in basetemp.rglob("tokens.db")}
    found |= {p.parent for p in basetemp.rglob("keys") if p.is_dir()
              and any(k.suffix == ".json" for k in p.iterdir())}
    # create_identity() without a user dir makes one with tempfile.mkdtemp(prefix="diaspora-")
    for path in Path(tempfile.gettempdir()).glob("diaspora-*"):
        with contextlib.suppress(OSError):
            if path.is_dir() and path.stat().st_mtime >= SESSION_STARTED - 5 and (
                    (path / "tokens.db").exists() or (path / "keys").is_dir()):
                found.add(path)
    return sorted(p.resolve() for p in found)


def secrets_on_disk(homes: list[Path], users: list[Path]) -> set[str]:
    """Secrets the homes and user dirs hold right now (issued through any path)."""
    found: set[str] = set()
    for home in homes:
        secrets_dir = home / "secrets"
        for name in ("admin.password", "controller.password"):
            with contextlib.suppress(OSError):
                found.add((secrets_dir / name).read_text().strip())
        with contextlib.suppress(OSError, ValueError):
            found.add(json.loads((secrets_dir / "service-client.json").read_text())
                      ["client_secret"])
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            demo = json.loads((secrets_dir / "demo-users.json").read_text())
            found.update(str(u["password"]) for u in demo.values() if u.get("password"))
        # private keys: one line of each PEM body is enough to recognise it in a log
        for pem in (home / "tls" / "ca.key", home / "tls" / "server.pem",
                    home / "idp" / "signing-key.pem"):
            with contextlib.suppress(OSError):
                lines = pem.read_text().splitlines()
                found.update(line for line in lines[1:4] if len(line) >= 40)
    for user in users:
        # through the toolkit's own readers: the audit follows its on-disk layout
        found |= stored_tokens(user) | cached_passwords(user)
    return {s for s in found if s and len(s) >= 8}


def test_abuse_first_wrong_passwords_forged_token_rotated_key(fabric, sdk_identity):
    """Failed logins, a forged token and a rotated key are refused (and, below, never logged)."""
    alice = sdk_identity("audit")
    remember_secret(alice.password)
    client = alice.client()
    client.login()
    topic = f"audit-{time.time_ns():x}"
    client.register_topic(topic)
    old_key = client.create_key()
    new_key = client.create_key()  # rotation: the old password must stop working
    assert old_key["password"] != new_key["password"]
    remember_secret(old_key["password"], new_key["password"])

    # wrong passwords at the IdP's login form: refused, and the attempt must not be logged
    from diaspora_notebook.login import InvalidCredentialsError, complete_login_form
    from diaspora_notebook.testing.tokens import native_client, service_scope

    for attempt in range(2):
        wrong = f"wrong-{attempt}-{os.urandom(9).hex()}"
        WRONG_PASSWORDS.append(wrong)
        auth = native_client(fabric)
        auth.oauth2_start_flow([service_scope(fabric)])
        with pytest.raises(InvalidCredentialsError):
            complete_login_form(auth.oauth2_get_authorize_url(), alice.username, wrong)

    # a forged bearer token: 401, never echoed, never logged
    response = requests.get(service_url(fabric) + "v1/list_topics",
                            headers=service_headers(FORGED), timeout=30)
    assert response.status_code == 401, response.text
    assert FORGED not in response.text

    # the rotated-away key no longer authenticates to Kafka (within the service's delay)
    deadline = time.monotonic() + 30
    refused = False
    while not refused and time.monotonic() < deadline:
        try:
            producer = KafkaProducer(client=client, sasl_plain_password=old_key["password"],
                                     max_block_ms=5000, bootstrap_timeout_ms=5000)
            producer.close(timeout=5)
            time.sleep(1)
        except KafkaAuthenticationError:
            refused = True
    assert refused, "the old key still logs in after create_key rotated it"
    client.block_until_ready(timeout=60)  # the new key works


def test_no_issued_secret_in_any_fabric_log(fabric, tmp_path_factory, capsys):
    basetemp = tmp_path_factory.getbasetemp()
    homes = fabric_homes(fabric, basetemp)
    users = user_dirs(basetemp)
    wanted = {s for s in ISSUED_SECRETS if len(s) >= 8}
    wanted |= secrets_on_disk(homes, users)
    wanted |= {FORGED, *WRONG_PASSWORDS}
    files = [path for home in homes for path in log_files(Fabric.at(home))]
    session_logs = {p.name for p in log_files(fabric)}
    assert {"idp.log", "service.log", "server.log"} <= session_logs, session_logs
    assert len(wanted) >= 10, "too few secrets to make the search meaningful"

    leaks: dict[str, list[str]] = {}
    scanned = 0
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        scanned += len(text)
        hits = sorted({s[:6] + "..." for s in wanted if s in text})
        if hits:
            leaks[str(path)] = hits
    with capsys.disabled():
        print(f"\nsecurity audit: {len(wanted)} secrets (issued in this session: "
              f"{len(ISSUED_SECRETS)}) searched in {len(files)} log files "
              f"({scanned / 1e6:.1f} MB) of {len(homes)} fabric home(s) and "
              f"{len(users)} user dir(s): {len(leaks)} leak(s)")
    assert leaks == {}, leaks


def test_secret_files_are_0600_and_their_dirs_0700(fabric, tmp_path_factory):
    basetemp = tmp_path_factory.getbasetemp()
    problems: list[str] = []

    def expect(path: Path, mode: int) -> None:
        if path.exists() and _mode(path) != mode:
            problems.append(f"{path} is {oct(_mode(path))}, expected {oct(mode)}")

    checked = 0
    for home in fabric_homes(fabric, basetemp):
        if not (home / "secrets").is_dir():
            continue  # a home whose first `up` failed early (e.g. the full-disk tests)
        checked += 1
        expect(home / "secrets", 0o700)
        for path in (home / "secrets").rglob("*"):
            expect(path, 0o700 if path.is_dir() else 0o600)
        expect(home / "tls" / "ca.key", 0o600)
        expect(home / "tls" / "server.pem", 0o600)
        expect(home / "idp", 0o700)
        expect(home / "idp" / "signing-key.pem", 0o600)
        for props in (home / "broker").glob("*/server.properties"):
            expect(props, 0o600)
        if home == Path(fabric.home.root).resolve():
            required = [home / "secrets" / "admin.password",
                        home / "secrets" / "controller.password",
                        home / "secrets" / "service-client.json", home / "tls" / "ca.key",
                        home / "tls" / "server.pem", home / "idp" / "signing-key.pem",
                        *(home / "broker").glob("*/server.properties")]
            missing = [str(p) for p in required if not p.exists()]
            assert not missing, f"the session fabric lacks {missing}"
        # nothing secret in the world-readable files
        for public in (home / "fabric.json", home / "state.json", home / "service" /
                       "config.json"):
            if public.exists():
                text = public.read_text()
                for secret in secrets_on_disk([home], []):
                    assert secret not in text, f"{public} holds a secret ({secret[:6]}...)"
    assert checked >= 1

    users = user_dirs(basetemp)
    assert users, "no user dir was created in this session"
    for user in users:
        expect(user, 0o700)
        expect(user / "tokens.db", 0o600)
        if (user / "keys").is_dir():
            expect(user / "keys", 0o700)
            for key_file in (user / "keys").glob("*.json"):
                expect(key_file, 0o600)
    assert problems == [], "\n".join(problems)


def _loose(path: Path) -> str | None:
    try:
        st = path.lstat()
    except FileNotFoundError:  # removed meanwhile (a rolled segment, a temp file)
        return None
    if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
        return None
    return f"{oct(stat.S_IMODE(st.st_mode))} {path}"


def test_every_path_of_every_home_and_user_dir_is_owner_only(fabric, tmp_path_factory, capsys):
    """Not only the secrets: segment files hold events, logs name identities (issue 11)."""
    basetemp = tmp_path_factory.getbasetemp()
    loose: list[str] = []
    walked = 0
    homes = [h for h in fabric_homes(fabric, basetemp) if (h / "secrets").is_dir()]
    for home in homes:
        for path in [home, *home.rglob("*")]:
            walked += 1
            if (problem := _loose(path)) is not None:
                loose.append(problem)
    # a user dir may be a test's tmp_path with other files: the dir and what the toolkit writes
    users = user_dirs(basetemp)
    for user in users:
        toolkit_files = [user, *user.glob("tokens.db*"), *user.glob("keys/**/*")]
        walked += len(toolkit_files)
        loose += [p for p in map(_loose, toolkit_files) if p is not None]
    with capsys.disabled():
        print(f"\nfile modes: {walked} paths in {len(homes)} fabric home(s) and {len(users)} "
              f"user dir(s): {len(loose)} readable by group/others")
    assert walked >= 30, walked  # a home alone has ~40 paths
    assert loose == [], "readable by group/others:\n" + "\n".join(loose[:50])
