"""The house keeps its shape: every import in lambdas/credfix points down the floors
(handlers / cli -> core -> adapters -> models), and no import circle exists.

Read from the source with `ast` (imports inside functions and under TYPE_CHECKING count too:
they are dependencies all the same). A failure names the offending import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
PACKAGE = "credfix"

# Lowest floor first. A module may import its own floor and the floors below it.
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "models",
        (
            "credfix.models",
            "credfix.keys",
            "credfix.arns",
            "credfix.timefmt",
            "credfix.permissions",
            "credfix.errortext",
        ),
    ),
    ("config", ("credfix.config",)),
    ("adapters", ("credfix.adapters",)),
    ("core", ("credfix.core", "credfix.preflight")),
    (
        "top",
        (
            "credfix.handlers",
            "credfix.cli",
            "credfix.metrics",
            "credfix.registry",
            "credfix.scopes",
            "credfix.__main__",
        ),
    ),
)


def floor_of(module: str) -> int:
    if module == PACKAGE:
        return len(FLOORS) - 1
    for n, (_, prefixes) in enumerate(FLOORS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return n
    raise AssertionError(f"{module} belongs to no floor: add it to FLOORS in {__file__}")


@dataclass(frozen=True)
class Import:
    module: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def read_imports(root: Path) -> dict[str, list[Import]]:
    """Every module of the package under `root`, with the credfix modules it imports."""
    paths: dict[str, Path] = {}
    for path in (root / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name: str) -> str:
        while name not in paths:  # a name imported from a package may be a module or an object
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, list[Import]] = {}
    for module, path in paths.items():
        found: list[Import] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                if name == PACKAGE or name.startswith(PACKAGE + "."):
                    target = resolve(name)
                    if target != module:
                        found.append(Import(module, target, node.lineno))
        graph[module] = found
    return graph


def upward(graph: dict[str, list[Import]]) -> list[str]:
    return [
        f"{i} ({FLOORS[floor_of(i.target)][0]} is above {FLOORS[floor_of(i.module)][0]})"
        for module in sorted(graph)
        for i in graph[module]
        if floor_of(i.target) > floor_of(i.module)
    ]


def circles(graph: dict[str, list[Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    edges = {m: sorted({i.target for i in imports}) for m, imports in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


GRAPH = read_imports(LAMBDAS)


def test_every_module_is_on_a_floor() -> None:
    for module in GRAPH:
        floor_of(module)


def test_imports_point_down() -> None:
    found = upward(GRAPH)
    assert found == [], "\n".join(found)


def test_adapters_never_import_the_core_and_models_only_their_floor() -> None:
    """The two rules the floors imply, said again by name: they were the ones broken."""
    bad = [
        str(i)
        for imports in GRAPH.values()
        for i in imports
        if (i.module.startswith("credfix.adapters") and floor_of(i.target) > floor_of("credfix.adapters"))
        or (floor_of(i.module) == 0 and floor_of(i.target) != 0)
    ]
    assert bad == [], "\n".join(bad)


def test_no_import_circle() -> None:
    found = circles(GRAPH)
    assert found == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_checks_see_a_wrong_import_and_a_circle(tmp_path: Path) -> None:
    """The checker itself, on a small package with one upward import and one circle."""
    files = {
        "credfix/__init__.py": "",
        "credfix/models/__init__.py": "",
        "credfix/models/a.py": "from credfix.models import b\n",
        "credfix/models/b.py": "def f():\n    from credfix.models.a import x\n",
        "credfix/adapters/__init__.py": "",
        "credfix/adapters/store.py": "from credfix.core.logic import decide\n",
        "credfix/core/__init__.py": "",
        "credfix/core/logic.py": "from ..adapters import store\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = read_imports(tmp_path)
    assert [s.split(" (")[0] for s in upward(graph)] == [
        "credfix.adapters.store:1 imports credfix.core.logic"
    ]
    assert sorted(circles(graph)) == [
        ["credfix.adapters.store", "credfix.core.logic"],
        ["credfix.models.a", "credfix.models.b"],
    ]
