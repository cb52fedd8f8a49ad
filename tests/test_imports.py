"""The package's import graph: no cycles, and every module imports on its own in any order."""

from __future__ import annotations

import ast
import pkgutil
import random
import subprocess
import sys
from pathlib import Path

import dynamore

PACKAGE_DIR = Path(dynamore.__file__).parent


def _modules() -> dict[str, Path]:
    found = {"dynamore": PACKAGE_DIR / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="dynamore."):
        path = PACKAGE_DIR.joinpath(*info.name.split(".")[1:])
        found[info.name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """dynamore modules that ``name`` imports anywhere (also inside functions, where a lazy
    import still ties the two modules together), leaving out ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in out if m in known and m != name}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph``, or [] when there is none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return []


def test_the_import_graph_has_no_cycle() -> None:
    modules = _modules()
    known = set(modules)
    # The package __init__ may name its submodules (lazily); a submodule importing the package
    # itself would close a loop through it, so that edge counts.
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    assert _cycle(graph) == []


def test_the_graph_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_every_module_imports_in_a_fresh_interpreter_in_random_orders() -> None:
    names = sorted(n for n in _modules() if n != "dynamore.__main__")
    orders = []
    rng = random.Random(20261130)
    for _ in range(3):
        order = names[:]
        rng.shuffle(order)
        orders.append(order)
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    for order in orders:
        result = subprocess.run(
            [sys.executable, "-c", script, *order], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, (order, result.stderr[-2000:])
