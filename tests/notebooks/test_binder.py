"""The Binder files work: a simulated repo2docker build and session start on this machine.

What repo2docker does, step by step, with everything fresh except downloads:

* a fresh virtualenv (``python -m venv``) and a fresh, empty ``HOME``;
* ``pip install -r binder/requirements.txt`` (repo2docker's own step), then ``binder/postBuild``
  (installs the package, fetches the Kafka jars into the fresh ``~/.diaspora/kafka``). Maven
  reads the machine's real ``~/.m2/repository`` (``MAVEN_OPTS=-Dmaven.repo.local=...``), so no
  jar is downloaded again (checked); pip uses the package index as a Binder build would;
* ``binder/start true``: the fabric must be up afterwards (``diaspora-fabric status`` exits 0);
* ``binder/start python run.py``: 01-getting-started runs in a kernel of the FRESH venv's Python
  (checked), logged in by the environment ``start`` exported, and leaks no secret;
* ``diaspora-fabric down`` in ``finally``: no process is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
REAL_M2 = Path.home() / ".m2" / "repository"
# what pytest or the developer's shell may carry that a Binder session would not have
DROPPED = ("DIASPORA_", "VIRTUAL_ENV", "PYTHONPATH", "JUPYTER_", "IPYTHONDIR", "MAVEN_OPTS",
           "PYTEST_", "GLOBUS_SDK_")

RUN_NOTEBOOK = """
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

source, target = Path(sys.argv[1]), Path(sys.argv[2])
nb = nbformat.read(source, as_version=4)
nb.cells.insert(0, nbformat.v4.new_code_cell("import sys; print('KERNEL-PYTHON', sys.executable)"))
NotebookClient(nb, timeout=300, kernel_name="python3",
               resources={"metadata": {"path": str(source.parent)}}).execute()
nbformat.write(nb, target)
"""


def _environment(home: Path, venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED)}
    env.update({
        "HOME": str(home),
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        "MAVEN_OPTS": f"-Dmaven.repo.local={REAL_M2}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    })
    return env


def _run(argv: list[str], env: dict[str, str], *, timeout: float, cwd: Path = ROOT,
         step: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    print(f"{step}: exit {done.returncode} in {time.monotonic() - started:.1f} s", flush=True)
    assert done.returncode == 0, f"{step} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_binder_build_and_session_start(tmp_path: Path) -> None:
    for tool in ("java", "mvn"):
        assert shutil.which(tool), f"{tool} is missing: apt-get install {BINDER / 'apt.txt'}'s list"
    home = tmp_path / "home"
    home.mkdir()
    venv = tmp_path / "venv"
    env = _environment(home, venv)
    fabric_home = home / ".diaspora" / "fabric"
    try:
        _run([sys.executable, "-m", "venv", str(venv)], env, timeout=120, step="venv")
        python = str(venv / "bin" / "python")
        _run([python, "-m", "pip", "install", "--progress-bar", "off", "-r",
              str(BINDER / "requirements.txt")], env, timeout=600, step="requirements.txt")
        build = _run(["bash", str(BINDER / "postBuild")], env, timeout=900, step="postBuild")
        assert (home / ".diaspora" / "kafka").is_dir(), build.stdout[-2000:]
        assert "Downloaded from" not in build.stdout + build.stderr, "Maven downloaded again"

        _run(["bash", str(BINDER / "start"), "true"], env, timeout=300, step="start true")
        status = subprocess.run([str(venv / "bin" / "diaspora-fabric"), "status"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        assert str(fabric_home) in status.stdout

        script = tmp_path / "run_notebook.py"
        script.write_text(RUN_NOTEBOOK)
        executed = tmp_path / "01-executed.ipynb"
        _run(["bash", str(BINDER / "start"), python, str(script),
              str(ROOT / "notebooks" / "01-getting-started.ipynb"), str(executed)],
             env, timeout=600, step="start + 01-getting-started")

        nb = nbformat.read(executed, as_version=4)
        first = "".join(o.get("text", "") for o in nb.cells[0].outputs)
        kernel_python = Path(first.split("KERNEL-PYTHON", 1)[1].strip())
        assert kernel_python.parent == venv / "bin", f"the kernel ran {kernel_python}"
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type == "error"]
        assert errors == []
        text = executed.read_text()
        users = json.loads((fabric_home / "secrets" / "demo-users.json").read_text())
        secrets = {u["password"] for u in users.values()}
        for key_file in (home / ".diaspora" / "keys").glob("*.json"):
            secrets.add(json.loads(key_file.read_text())["password"])
        assert len(secrets) >= 3, "no key was cached: the notebook did not use Kafka"
        assert not [s for s in secrets if s in text], "01-getting-started shows a secret"
    finally:
        down = subprocess.run([sys.executable, "-m", "diaspora_notebook.fabric.cli", "down",
                               "--home", str(fabric_home)], env=env, capture_output=True,
                              text=True, timeout=120)
        print("down:", down.stderr.strip(), flush=True)
