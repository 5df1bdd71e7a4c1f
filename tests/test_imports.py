"""The import graph of worldjepa/: no module imports itself back, however indirectly, at import time."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path, package: str) -> set[str]:
    """worldjepa modules that the module at `path` imports when it is imported: top-level statements, not
    imports deferred into functions or kept for type checkers (`if TYPE_CHECKING:`)."""
    found: set[str] = set()

    def scan(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                parts = package.split(".")
                base = node.module if node.level == 0 else ".".join([*parts[: len(parts) - node.level + 1], node.module])
                found.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                scan(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                scan(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])

    scan(ast.parse(path.read_text()).body)
    return {name for name in found if name.startswith("worldjepa")}


def test_worldjepa_modules_import_no_circle():
    """The import-time graph of worldjepa/ modules (package __init__ files included) has no circle."""
    package_root = ROOT / "worldjepa"
    modules = {}
    for path in package_root.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {m for m in _imports(path, package) if m in modules and m != name}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, f"import circle: {' -> '.join([*trail, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
