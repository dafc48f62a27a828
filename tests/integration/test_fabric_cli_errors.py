"""`diaspora-fabric up` refuses bad situations with one clear line and leaves the home intact."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "diaspora_notebook.fabric.cli"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          env=env or dict(os.environ), stdin=subprocess.DEVNULL)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_up_without_java_names_the_fix_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "keep.txt").write_text("user data")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(empty_bin)
    result = _run("up", "--home", str(home), env=env)
    assert result.returncode == 1
    assert "java was not found" in result.stderr
    assert "install a Java 17+" in result.stderr
    assert "Traceback" not in result.stderr
    assert _snapshot(home) == {"keep.txt": b"user data"}


def test_up_on_a_busy_port_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("up", "--home", str(tmp_path / "home"), "--port", str(port))
    assert result.returncode == 1
    assert f"{port} (broker 1 client)" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "home" / "state.json").exists()


def test_up_on_a_corrupted_home_explains_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "broker" / "n1" / "data").mkdir(parents=True)
    (home / "broker" / "n1" / "data" / "00000000.log").write_bytes(b"precious")
    (home / "state.json").write_text('{"cluster_id": "abc", "brokers": [')
    before = _snapshot(home)
    result = _run("up", "--home", str(home))
    assert result.returncode == 1
    assert "state.json is not valid JSON" in result.stderr
    assert "move the fabric home aside" in result.stderr
    assert _snapshot(home) == before


def test_state_json_with_missing_fields_is_reported(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "state.json").write_text('{"cluster_id": "abc"}')
    result = _run("status", "--home", str(home))
    assert result.returncode == 1
    assert "malformed field" in result.stderr


def _path_with(tmp_path: Path, *tools: str) -> dict[str, str]:
    """The environment with only ``tools`` (of the JDK, else the system's) on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        jdk = Path(os.environ.get("JAVA_HOME", "/usr")) / "bin" / tool
        (bin_dir / tool).symlink_to(jdk if jdk.exists() else shutil.which(tool) or tool)
    env = {**os.environ, "PATH": str(bin_dir)}
    env.pop("JAVA_HOME", None)
    return env


def test_install_without_mvn_names_the_fix(tmp_path: Path) -> None:
    result = _run("install", "--cache", str(tmp_path / "cache"),
                  env=_path_with(tmp_path, "java", "javac"))
    assert result.returncode == 1
    assert "mvn (Apache Maven) was not found" in result.stderr
    assert "apt-get install maven" in result.stderr


def test_install_without_a_jdk_names_the_fix(tmp_path: Path) -> None:
    # a Java runtime alone cannot build the broker plugin
    result = _run("install", "--cache", str(tmp_path / "cache"),
                  env=_path_with(tmp_path, "java", "mvn"))
    assert result.returncode == 1
    assert "javac was not found" in result.stderr
    assert "openjdk-17-jdk-headless" in result.stderr


def test_install_with_the_registry_unreachable_explains(tmp_path: Path) -> None:
    # a Maven mirror on a closed loopback port stands in for an unreachable Maven Central
    fake_home = tmp_path / "mvn-home"
    (fake_home / ".m2").mkdir(parents=True)
    (fake_home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>closed</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>")
    env = {**os.environ, "MAVEN_OPTS": f"-Duser.home={fake_home} "
           f"-Dmaven.repo.local={tmp_path / 'empty-repo'}"}
    result = _run("install", "--cache", str(tmp_path / "cache"), env=env)
    assert result.returncode == 1, result.stderr
    assert "could not download Kafka" in result.stderr
    assert "Maven Central" in result.stderr
    assert not any((tmp_path / "cache").glob("*/manifest.json")), "a failed install left a cache"
