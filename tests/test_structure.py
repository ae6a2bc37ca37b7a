"""The house's shape, drawn from the code: no module over 400 lines, no import circle.

Imports inside functions count too: they hide a circle at run time but not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

from support import REPO_ROOT

PACKAGES = ("trainables", "sweeps", "analysis")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        # a module importing its own package (`from sweeps.engine import x` inside sweeps.engine) is no edge
        targets |= {target for target in names if target in known and target != name
                    and not name.startswith(target + ".")}
    return targets


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_is_over_400_lines():
    long = {str(path.relative_to(REPO_ROOT)): count for path in _modules().values()
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_circle():
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    assert not _cycles(graph), _cycles(graph)


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_engine_map_names_every_engine_module():
    engine = REPO_ROOT / "sweeps" / "engine"
    text = (engine / "__init__.py").read_text(encoding="utf-8")
    names = {path.stem for path in engine.glob("*.py") if path.stem != "__init__"}
    names |= {path.name for path in engine.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    missing = sorted(name for name in names if f"``{name}``" not in text and f"``{name}/``" not in text)
    assert not missing, f"sweeps/engine/__init__.py does not list: {missing}"


def test_no_two_test_files_share_a_name():
    names: dict[str, list[str]] = {}
    for path in (REPO_ROOT / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(REPO_ROOT)))
    assert not {name: paths for name, paths in names.items() if len(paths) > 1}
