"""`diaspora-fabric up` on a full disk: one clear error naming the cause and the home, no
traceback, the files that were there untouched, and a later `up` (with room) works.

The home is a small tmpfs (we run as root), filled up to leave a given amount free, so ENOSPC
hits a different step each time: the CA and certificates, Kafka's storage format, and the
identity provider's first registration (SQLite).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.launcher import tagged_processes

CLI = [sys.executable, "-m", "diaspora_notebook.fabric.cli"]
KB = 1024

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL)


def _mount(target: Path, size: str) -> None:
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                             str(target)], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the fault suite runs as root): {result.stderr}")


def _unmount(target: Path) -> None:
    if subprocess.run(["umount", str(target)], capture_output=True, timeout=30).returncode:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def _fill(root: Path, leave_kb: int) -> None:
    """Write a filler file so that ``leave_kb`` KiB stay free (tmpfs allocates on write)."""
    stat = os.statvfs(root)
    free = stat.f_bavail * stat.f_frsize
    chunk = b"\0" * (64 * KB)
    remaining = max(0, free - leave_kb * KB)
    with (root / "filler.bin").open("wb") as fh:
        while remaining > 0:
            remaining -= fh.write(chunk[: min(len(chunk), remaining)])


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.read_bytes()[:4096])
            for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("leave_kb", [0, 40, 200], ids=["certs", "kafka-format", "idp-db"])
def test_up_on_a_full_disk_says_so_and_keeps_the_home(tmp_path, leave_kb):
    home = tmp_path / "home"
    home.mkdir()
    _mount(home, "8m")
    fabric = Fabric.at(home)
    try:
        (home / "notes.txt").write_text("files that were here before `up` stay as they were\n")
        _fill(home, leave_kb)
        before = _snapshot(home)

        result = _run("up", "--home", str(home))
        leftovers = tagged_processes(str(fabric.home.root))
        fabric.down(timeout=15)
        assert leftovers == [], "a failed `up` left processes running"

        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        message = result.stderr.lower()
        assert "no space left" in message, result.stderr[-3000:]
        assert str(home).lower() in message, result.stderr[-3000:]
        after = _snapshot(home)
        assert {k: v for k, v in after.items() if k in before} == before, "existing files changed"

        # with room again (same files, a bigger disk), the same home comes up
        subprocess.run(["mount", "-o", "remount,size=256m", str(home)], check=True, timeout=30)
        again = _run("up", "--home", str(home))
        assert again.returncode == 0, again.stderr[-3000:]
        assert fabric.is_running()
        assert (home / "notes.txt").read_text().startswith("files that were here")
    finally:
        with contextlib.suppress(Exception):
            fabric.down(timeout=15)
        _unmount(home)
