"""The fabric home and the broker's resources (issue 27, items 9 and 1, broker part).

* ``up`` on a home that belongs to another Unix user fails in one line that names the owner
  and what to do, and changes nothing there (also when run by root).
* Each broker JVM runs with the open-file limit the partition caps need, and ``up`` refuses,
  in one line and before anything starts, a system whose hard limit is lower.
"""

from __future__ import annotations

import os
import pwd
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from diaspora_notebook.fabric.broker.config import OPEN_FILES_VARIABLE, broker_open_files
from diaspora_notebook.fabric.errors import FabricStartError
from diaspora_notebook.fabric.fabric import Fabric


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "diaspora_notebook.fabric.cli", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _other_user() -> tuple[int, str]:
    for name in ("nobody", "daemon"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != os.geteuid():
            return entry.pw_uid, name
    pytest.skip("no other Unix user on this machine")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_up_on_another_users_home_fails_in_one_line(tmp_path: Path) -> None:
    uid, name = _other_user()
    home = tmp_path / "their-home"
    home.mkdir(mode=0o700)
    (home / "state.json").write_text("{}")
    os.chown(home, uid, -1)
    before = sorted((p.name, p.stat().st_mode) for p in home.iterdir())
    result = _cli("up", "--home", str(home))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"belongs to the Unix user {name}" in lines[0] and "Traceback" not in result.stderr
    assert "--home" in lines[0]  # what to do
    assert sorted((p.name, p.stat().st_mode) for p in home.iterdir()) == before
    assert home.stat().st_uid == uid and not (home / "run").exists()


def test_broker_runs_with_the_open_file_limit_the_caps_need(fabric: Fabric) -> None:
    pid = fabric.cluster().nodes[0].process.pid()
    assert pid is not None
    limits = Path(f"/proc/{pid}/limits").read_text()
    [line] = [x for x in limits.splitlines() if x.startswith("Max open files")]
    soft = line.split()[3]
    assert soft == "unlimited" or int(soft) >= broker_open_files(), line


def test_up_refuses_a_too_low_open_file_limit_before_starting(tmp_path: Path,
                                                             monkeypatch) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard open-file limit here")
    monkeypatch.setenv(OPEN_FILES_VARIABLE, str(hard + 1))
    fabric = Fabric.at(tmp_path / "home")
    with pytest.raises(FabricStartError) as err:
        fabric.up()
    text = err.value.one_line()
    assert str(hard + 1) in text and str(hard) in text and "ulimit -Hn" in text
    assert OPEN_FILES_VARIABLE in text  # the fix
    assert not (tmp_path / "home").exists()  # nothing was created, nothing started
    result = _cli("up", "--home", str(tmp_path / "home2"),
                  env={OPEN_FILES_VARIABLE: str(hard + 1)})
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, \
        result.stderr
