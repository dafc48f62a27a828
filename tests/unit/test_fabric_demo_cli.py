"""``make demo`` right after the fabric started: it says the fabric runs and where the demo
password is (issue 24, defect 8)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class _Home:
    root = Path("/tmp/fabric-home")


class _Fabric:
    home = _Home()

    def up(self, progress=None, **_):
        progress("the fabric is already running")


def test_demo_ends_with_how_to_log_in(monkeypatch, capsys, tmp_path):
    from diaspora_notebook.fabric import cli, demo

    monkeypatch.setattr(cli, "_fabric", lambda args: _Fabric())
    monkeypatch.setattr(demo, "run_tutorials", lambda *a, **k: [tmp_path / "01.ipynb"])
    monkeypatch.setattr(demo, "login_info",
                        lambda fabric: "username: demo\n  password: in /x/demo-users.json")
    args = argparse.Namespace(out=str(tmp_path), notebooks="notebooks", only=None, home=None)
    assert cli.cmd_demo(args) == 0
    err = capsys.readouterr().err
    assert "the fabric is running (home /tmp/fabric-home)" in err
    assert "password: in /x/demo-users.json" in err
    assert err.rindex("password") > err.rindex("tutorials executed")


def test_make_demo_starts_the_fabric_once():
    """`demo: up` ran `diaspora-fabric up` first, so `demo` always said "already running"."""
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^demo:(.*)$", makefile, re.M)
    assert target is not None and "up" not in target.group(1).split()
