"""No import cycle between modules anywhere in the package, subpackages included.

import-linter's ``acyclic_siblings`` contract only compares the package root's children (each
with its descendants). This test looks one level finer: every module, package ``__init__``\\ s
(re-exports) included, with the imports made inside functions too (grimp finds every import
statement), and only the ``if TYPE_CHECKING:`` imports left out, since they never run.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import grimp
import pytest

PACKAGE = "diaspora_notebook"


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(
                        child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    """One cycle as ``a -> b -> ... -> a`` (the shortest way round from its first module)."""
    first = cycle[0]
    members = set(cycle)
    chains = [graph.find_shortest_chain(importer=first, imported=importer)
              for importer in sorted(graph.find_modules_that_directly_import(first))
              if importer in members]
    chain = min((c for c in chains if c), key=len)
    return f"{len(cycle)} modules, e.g. " + " -> ".join([*chain, first])


def build(package: str) -> grimp.ImportGraph:
    return grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)


def test_no_import_cycle_inside_any_package() -> None:
    graph = build(PACKAGE)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles (break each, e.g. move the shared part down):\n" + "\n".join(
        describe(graph, c) for c in cycles)


def test_the_check_sees_reexports_and_imports_inside_functions(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               ) -> None:
    """The shape of the cycle this test was written for: a package ``__init__`` imports a
    submodule, which imports the package back inside a function."""
    root = tmp_path / "cyclepkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("from cyclepkg.sub.errors import hook\n")
    (root / "sub" / "errors.py").write_text(textwrap.dedent("""
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from cyclepkg.sub import other  # never runs: not a cycle
        def hook():
            from cyclepkg.sub import setting
            return setting
        """))
    (root / "sub" / "other.py").write_text("import cyclepkg.sub.errors\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        graph = build("cyclepkg")
        cycles = import_cycles(graph)
    finally:
        for name in [m for m in sys.modules if m.startswith("cyclepkg")]:
            del sys.modules[name]
    assert cycles == [["cyclepkg.sub", "cyclepkg.sub.errors"]]
    assert describe(graph, cycles[0]) == ("2 modules, e.g. cyclepkg.sub -> cyclepkg.sub.errors"
                                          " -> cyclepkg.sub")
