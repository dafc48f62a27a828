"""Login throttling: the pure counters (fake clock), then the login page in-process."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from diaspora_notebook.fabric.errors import FabricUsageError
from diaspora_notebook.fabric.idp import IdpSettings, admin, create_app
from diaspora_notebook.fabric.idp.throttle import LoginThrottle, ThrottlePolicy
from diaspora_notebook.login.form import parse_page

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.unit.test_idp_web import ISSUER, authorize_params


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, user: int = 5, source: int = 50) -> LoginThrottle:
    return LoginThrottle(ThrottlePolicy(user, 1.0, 300.0, 900.0),
                         ThrottlePolicy(source, 1.0, 300.0, 900.0), clock=clock)


def test_lock_doubles_from_the_limit_and_is_capped() -> None:
    policy = ThrottlePolicy(5, 1.0, 300.0, 900.0)
    assert [policy.lock_for(n) for n in range(1, 9)] == [0, 0, 0, 0, 1, 2, 4, 8]
    assert policy.lock_for(14) == 300 and policy.lock_for(10_000) == 300


def test_account_locks_after_five_failures_and_unlocks_after_the_penalty() -> None:
    clock, t = Clock(), None
    t = throttle(clock)
    for _ in range(4):
        assert t.failure("Ann", "10.0.0.1") is None
    refusal = t.failure(" ann ", "10.0.0.2")  # same account however it is typed
    assert refusal is not None and refusal.scope == "account" and refusal.retry_after == 1
    assert "this account" in refusal.message and "try again in 1 s" in refusal.message
    assert t.check("ann", "10.0.0.9") is not None  # locked from every address
    assert t.check("bob", "10.0.0.1") is None      # other accounts are untouched
    clock.now += 1.01
    assert t.check("ann", "10.0.0.1") is None
    assert t.failure("ann", "10.0.0.1").retry_after == 2  # the next failure doubles it
    clock.now += 2.01
    t.success("ann")
    assert t.failures("ann", "10.0.0.1")[0] == 0  # a correct password starts over


def test_only_failures_count_and_they_are_forgotten_after_the_window() -> None:
    clock = Clock()
    t = throttle(clock)
    for _ in range(4):
        t.failure("ann", "10.0.0.1")
    for _ in range(100):  # checks (what a locked or successful login does) count nothing
        assert t.check("ann", "10.0.0.1") is None
    clock.now += 901
    assert t.failure("ann", "10.0.0.1") is None  # a fresh count: 1 of 5


def test_source_limit_catches_spraying_and_success_does_not_reset_it() -> None:
    clock = Clock()
    t = throttle(clock, user=5, source=8)
    for n in range(7):
        assert t.failure(f"user{n}", "10.0.0.1") is None
    t.success("mine")  # the sprayer's own account logging in changes nothing
    refusal = t.failure("user7", "10.0.0.1")
    assert refusal is not None and refusal.scope == "source"
    assert "your address" in refusal.message
    assert t.check("anyone", "10.0.0.1") is not None and t.check("anyone", "10.0.0.2") is None


def test_memory_is_bounded() -> None:
    clock = Clock()
    t = LoginThrottle(ThrottlePolicy(5, 1, 300, 900), ThrottlePolicy(50, 1, 300, 900),
                      clock=clock, max_entries=100)
    for n in range(1000):
        t.failure(f"u{n}", f"10.0.{n // 250}.{n % 250}")
    assert len(t._records) <= 100


@pytest.mark.parametrize("change", [
    {"login_max_failures_per_user": 0},
    {"login_max_failures_per_source": 2},  # below the per-user limit
    {"login_lock_seconds": 0},
    {"login_lock_seconds": 500.0},         # above the cap
    {"login_failure_window": 10.0},        # shorter than the cap
    {"trusted_proxies": ("not-an-address",)},
])
def test_bad_settings_are_refused(tmp_path: Path, change: dict[str, object]) -> None:
    with pytest.raises(FabricUsageError):
        IdpSettings(tmp_path, ISSUER, **change)  # type: ignore[arg-type]


def test_login_page_throttles_with_429_retry_after_and_a_message(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    admin.add_user(tmp_path, "carol", "right-password-1")
    native, _ = admin.add_client(tmp_path, "nb", confidential=False)
    settings = IdpSettings(tmp_path, ISSUER, login_max_failures_per_user=3,
                           login_max_failures_per_source=5, login_lock_seconds=30,
                           login_lock_max_seconds=60, login_failure_window=600)
    form = {**authorize_params(native), "username": "carol"}
    caplog.set_level(logging.INFO)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8765",
                    client=("10.1.1.1", 1234)) as client:
        statuses = [client.post("/v2/oauth2/authorize",
                                data={**form, "password": f"wrong-{n}-secret"}).status_code
                    for n in range(4)]
        assert statuses == [401, 401, 429, 429]
        locked = client.post("/v2/oauth2/authorize", data={**form, "password": "right-password-1"})
        assert locked.status_code == 429 and 25 <= int(locked.headers["retry-after"]) <= 30
        [alert] = parse_page(locked.text).alerts
        assert alert.startswith("Too many failed login attempts for this account; try again in")
        assert parse_page(locked.text).forms[0].has_password()  # the form is still there
    assert "'carol' from 10.1.1.1" in caplog.text
    assert "wrong-0-secret" not in caplog.text and "right-password-1" not in caplog.text


def test_only_the_first_refusal_of_a_lock_is_reported() -> None:
    clock = Clock()
    t = throttle(clock, user=1, source=50)
    t.failure("ann", "10.0.0.1")
    assert [t.check("ann", "10.0.0.1").first for _ in range(3)] == [True, False, False]
    clock.now += 1.5
    t.failure("ann", "10.0.0.1")  # a new lock is reported again
    assert t.check("ann", "10.0.0.1").first is True
