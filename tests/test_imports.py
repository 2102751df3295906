"""No import cycles in ``renderer/``: no module imports one that imports it back, directly or
through others (every strongly connected component of the import graph is one module).

The graph is read from the source with ``ast``, not from ``sys.modules``, so it holds every
import a module can make:
- ``import a.b``, ``from a import b``, ``from . import b`` and ``from ..a import b`` (an
  imported name that is a submodule is an edge to that submodule, any other name an edge to
  the module it comes from);
- imports under ``if TYPE_CHECKING:``: a cycle through type hints is still two modules that
  each need the other's concepts (``site/model.py`` and its helpers were one);
- imports inside functions: they hid the ``dream/engine.py`` <-> ``dream/maco.py`` cycle.
  A deliberate lazy import (for start-up speed) may be left out, by name, in
  ``LAZY_IMPORTS``; none needs to be today, since no lazy import closes a cycle.
Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``; those implicit edges are
left out, as Python resolves a package and its own submodules by design (a package's
``__init__`` re-exporting a submodule would otherwise always be a cycle).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import renderer

# (importer, imported) pairs of function-local imports kept out of the graph, each a
# deliberate lazy import; say why beside each. Empty: every import counts.
LAZY_IMPORTS: frozenset[tuple[str, str]] = frozenset()

# Cycles known and accepted; the test fails while an entry here is no longer found, so the
# list cannot go stale. Empty: there are none.
EXPECTED_CYCLES: list[frozenset[str]] = []


def _module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root`` by dotted name (a package by its own)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _enclosing(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of ``modules`` (``a.b.f`` -> ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.Import | ast.ImportFrom, package: str, modules: dict[str, Path]):
    """The dotted names one import statement reaches, before they are matched to modules."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        kept = parts[: len(parts) - node.level + 1]
        base = ".".join([*kept, *([node.module] if node.module else [])])
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
        for alias in node.names
    ]


def import_graph(root: Path, lazy: frozenset[tuple[str, str]] = frozenset()) -> dict[str, set[str]]:
    """Each module of the package at ``root`` and the package's modules it imports, at any
    depth of its source, less the ``lazy`` (importer, imported) pairs."""
    modules = _module_names(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, package, modules):
                found = _enclosing(target, modules)
                if found is not None and found != name and (name, found) not in lazy:
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


FAKE = {
    "pkg/__init__.py": "from . import d\n",
    "pkg/a.py": "def late():\n    from . import b\n    return b\n",
    "pkg/b.py": "from .c import value\n",
    "pkg/c.py": (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.a import late\n"
        "value = 1\n"
    ),
    "pkg/d.py": "import pkg.sub.e\nfrom pkg import a\n",
    "pkg/sub/__init__.py": "",
    "pkg/sub/e.py": "from ..b import value\nimport os\n",
}


def test_the_graph_of_a_fake_package_has_the_edges_read_by_hand(tmp_path) -> None:
    _write(tmp_path, FAKE)
    assert import_graph(tmp_path / "pkg") == {
        "pkg": {"pkg.d"},
        "pkg.a": {"pkg.b"},  # inside a function
        "pkg.b": {"pkg.c"},
        "pkg.c": {"pkg.a"},  # under TYPE_CHECKING
        "pkg.d": {"pkg.sub.e", "pkg.a"},
        "pkg.sub": set(),
        "pkg.sub.e": {"pkg.b"},  # two levels up; os is not the package's
    }


def test_a_cycle_through_a_local_import_and_a_type_hint_is_found(tmp_path) -> None:
    _write(tmp_path, FAKE)
    graph = import_graph(tmp_path / "pkg")
    assert cycles(graph) == [frozenset({"pkg.a", "pkg.b", "pkg.c"})]
    graph["pkg.sub.e"].add("pkg.d")  # a second cycle, joined to nothing else
    assert sorted(map(sorted, cycles(graph))) == [
        ["pkg.a", "pkg.b", "pkg.c"],
        ["pkg.d", "pkg.sub.e"],
    ]


def test_a_lazy_import_named_in_the_allow_list_closes_no_cycle(tmp_path) -> None:
    _write(tmp_path, FAKE)
    graph = import_graph(tmp_path / "pkg", lazy=frozenset({("pkg.a", "pkg.b")}))
    assert graph["pkg.a"] == set() and cycles(graph) == []


def test_renderer_has_no_import_cycles() -> None:
    graph = import_graph(Path(renderer.__file__).parent, LAZY_IMPORTS)
    assert len(graph) > 100 and graph["renderer.dream.engine"] >= {"renderer.dream.maco"}
    found = cycles(graph)
    for cycle in found:
        print("import cycle:", " <-> ".join(sorted(cycle)), file=sys.stderr)
    unexpected = [sorted(c) for c in found if c not in EXPECTED_CYCLES]
    gone = [sorted(c) for c in EXPECTED_CYCLES if c not in found]
    assert not unexpected, f"import cycles: {unexpected}"
    assert not gone, f"gone, so remove them from EXPECTED_CYCLES: {gone}"
