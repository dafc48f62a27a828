"""The tutorial notebooks run headless against the real local fabric, twice, and leak no secret.

Each notebook is executed with nbclient by the same runner as ``make demo``
(:func:`diaspora_notebook.fabric.demo.run_tutorials`): logged in as the demo account, with the
second identity of 04-sharing-topics from ``DIASPORA_DEMO_FRIEND_*``. The second round proves
"Restart & Run All" works again on the state the first left behind. Then every executed
notebook and its HTML (widget state included) is searched for the demo passwords, every Kafka
key password and every token the run's user dir held at any moment (a watcher thread reads it
while the kernels run, because 05-operations rotates the key and logs out), the key the user
dir hands out now, and anything shaped like a token of the local identity provider.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from diaspora_notebook.client import Client
from diaspora_notebook.environments import load_local
from diaspora_notebook.fabric.demo import (
    SecretLeakError,
    SecretWatch,
    demo_users_file,
    run_tutorials,
    tutorial_paths,
)
from diaspora_notebook.login import ProgrammaticLoginFlowManager

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ["01-getting-started", "02-live-dataframes", "03-your-own-client",
            "04-sharing-topics", "05-operations", "06-exploring-topics", "07-diaspora-v3",
            "08-live-analytics"]
# tokens of the local identity provider: "AT." / "RT." + token_urlsafe(32)
TOKEN_SHAPE = re.compile(r"\b(?:AT|RT)\.[A-Za-z0-9_-]{40,}")


def test_committed_notebooks_have_no_outputs() -> None:
    """Outputs are cleared in git: no stale results, no secrets, small diffs."""
    names = [p.stem for p in tutorial_paths(NOTEBOOKS)]
    assert names == EXPECTED
    for path in tutorial_paths(NOTEBOOKS):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        assert "widgets" not in nb.metadata, f"{path.name} holds saved widget state"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name}: outputs of {cell.source[:40]!r}"
                assert cell.execution_count is None, path.name
        text = path.read_text()
        assert "while True" not in text, f"{path.name}: every loop must be bounded"


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow
def test_tutorials_run_twice_without_leaking_secrets(fabric, tmp_path) -> None:
    user_dir = tmp_path / "user"
    rounds: list[tuple[Path, dict[str, float]]] = []
    with SecretWatch(user_dir) as watch:  # independent of the runner's own check
        for round_ in (1, 2):
            out = tmp_path / f"round{round_}"
            timings: dict[str, float] = {}
            run_tutorials(NOTEBOOKS, out, fabric=fabric, user_dir=user_dir, timings=timings,
                          progress=lambda message: print(message, flush=True))
            rounds.append((out, timings))
    for out, timings in rounds:
        print(out.name, {name: round(seconds, 1) for name, seconds in timings.items()})

    users = json.loads(demo_users_file(fabric.home).read_text())
    demo = users["demo"]
    # the key the user dir hands out after the run (05 logged out, so this logs in again)
    client = Client(load_local(fabric.home.root), user_dir=user_dir,
                    login_flow_manager=ProgrammaticLoginFlowManager(demo["username"],
                                                                    demo["password"]))
    current_key = client.retrieve_key()["password"]
    assert client.list_topics()["topics"] == [], "the tutorials left topics registered"
    watch.collect()
    secrets = {u["password"] for u in users.values()} | watch.seen | {current_key}
    key_passwords = {s for s in watch.seen if len(s) == 48 and s.isalnum()}
    tokens = {s for s in watch.seen if TOKEN_SHAPE.fullmatch(s)}
    # 01 (x2) creates a key, 04 one for the friend (x2), 05 rotates (x2): the watch saw them
    assert len(key_passwords) >= 4, "the watcher did not see the keys the tutorials used"
    assert len(tokens) >= 4, "the watcher did not see the tokens the tutorials used"

    for out, _ in rounds:
        files = sorted(out.glob("*.ipynb")) + sorted(out.glob("*.html"))
        assert [p.stem for p in files] == EXPECTED * 2
        for path in files:
            text = path.read_text()
            if path.suffix == ".ipynb":
                assert _errors(nbformat.reads(text, as_version=4)) == [], path.name
            found = [f"{s[:3]}... ({len(s)} chars)" for s in secrets if s in text]
            assert not found, f"{out.name}/{path.name} shows secrets: {found}"
            shaped = TOKEN_SHAPE.findall(text)
            assert not shaped, f"{out.name}/{path.name} shows token-like strings"


@pytest.mark.slow
def test_the_leak_check_catches_a_printed_key(fabric, tmp_path) -> None:
    """A notebook that prints its key and then logs out (deleting it) still fails the run."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from diaspora_notebook import Client\n"
        "c = Client()\n"
        "print(c.retrieve_key()['password'])\n"
        "c.logout()")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}})
    nbformat.write(nb, notebooks / "00-leak.ipynb")
    # the message names the leak by its first characters, never in full
    leak = r"00-leak.ipynb shows secrets in its outputs: \S{3}\.\.\.\(48 chars\)"
    with pytest.raises(SecretLeakError, match=leak):
        run_tutorials(notebooks, tmp_path / "out", fabric=fabric, user_dir=tmp_path / "user",
                      progress=lambda _m: None)
