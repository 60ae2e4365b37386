"""The import graph of src/opsjobs keeps its layers: each room imports only the rooms below
it (cli → compose → api | execution → service → store → domain), and no module imports itself
back through others. The client (opsjobs.client) stands apart: it imports nothing of the
project, so it can be used, or packaged, on its own; only the CLI imports it. Read from the
source with ast, so that every import counts: those inside
functions and under TYPE_CHECKING as much as those at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "opsjobs"

# The rooms each room may import (besides itself). "opsjobs" is the package's own
# __init__ (its __version__); config, logs and tasks (asyncio helpers) are read by every
# layer above the store.
FOUNDATIONS = {"opsjobs", "config", "logs", "tasks"}
ALLOWED = {
    "domain": set(),
    "store": {"domain"},
    "service": {"store", "domain", "logs"},  # logs: the request ID a job records
    "execution": {"service", "store", "domain"} | FOUNDATIONS,
    "api": {"service", "store", "domain"} | FOUNDATIONS,
    "compose": {"api", "execution", "service", "store", "domain"} | FOUNDATIONS,
    "cli": {"compose", "api", "execution", "service", "store", "domain", "client"} | FOUNDATIONS,
    # The remote client: httpx and the standard library only, nothing of the project.
    "client": set(),
    "config": set(),
    "logs": set(),
    "tasks": set(),
    "opsjobs": set(),
}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, whether it is a package's __init__)."""
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _absolute(module: str, is_package: bool, target: str | None, level: int) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph() -> dict[str, set[str]]:
    """Module → the project's modules it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(module, is_package, node.module, node.level)
                for alias in node.names:  # `from . import x` imports the module x
                    submodule = f"{target}.{alias.name}"
                    imported.add(submodule if submodule in modules else target)
        graph[module] = {
            name
            for name in imported
            if (name == PACKAGE or name.startswith(PACKAGE + ".")) and name != module
        }
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


class _Tarjan:
    """Tarjan's algorithm for the strongly connected components of a graph."""

    def __init__(self, graph: dict[str, set[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.found: list[set[str]] = []

    def visit(self, node: str) -> None:
        index, low = self.index, self.low
        index[node] = low[node] = len(index)
        self.stack.append(node)
        for nxt in self.graph.get(node, ()):
            if nxt not in index:
                self.visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in self.stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            self._close(node)

    def _close(self, node: str) -> None:
        """``node`` is the root of a component: pop it off the stack."""
        component = set()
        while True:
            member = self.stack.pop()
            component.add(member)
            if member == node:
                break
        if len(component) > 1:
            self.found.append(component)


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    tarjan = _Tarjan(graph)
    for node in sorted(graph):
        if node not in tarjan.index:
            tarjan.visit(node)
    return tarjan.found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_read_whole(graph):
    """The reader sees relative, nested and function-level imports alike."""
    assert "opsjobs.execution.runner" in graph["opsjobs.compose"]
    assert "opsjobs.domain.shell" in graph["opsjobs.domain.templates"]  # from . import shell
    assert "opsjobs.api.server" in graph["opsjobs.cli.commands"]  # inside serve()
    assert "opsjobs" in graph["opsjobs.api.app"]  # from .. import __version__
    assert "opsjobs.service.execute" in graph["opsjobs.cli.execution"]
    assert "opsjobs.client" in graph["opsjobs.cli.remote.commands"]  # from ...client import
    assert set(ALLOWED) >= {room(module) for module in graph}, "a room this test ignores"


def test_each_room_imports_only_the_rooms_below_it(graph):
    upward = sorted(
        f"{module} -> {name}"
        for module, names in graph.items()
        for name in names
        if room(name) != room(module) and room(name) not in ALLOWED[room(module)]
    )
    assert upward == []


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("domain", "store"),
        ("store", "config"),
        ("store", "service"),
        ("service", "api"),
        ("service", "execution"),
        ("service", "config"),
        ("api", "execution"),
        ("execution", "api"),
        ("client", "api"),
        ("client", "domain"),
        ("client", "config"),
        ("api", "client"),
        ("compose", "client"),
    ],
)
def test_the_arrows_the_house_rules_out(graph, importer, imported):
    arrows = [
        f"{module} -> {name}"
        for module, names in graph.items()
        for name in names
        if room(module) == importer and room(name) == imported
    ]
    assert arrows == []


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_a_cycle_would_be_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
