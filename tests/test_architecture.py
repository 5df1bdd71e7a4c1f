"""The layout's rules, checked on the source: no import circles, the seams between packages, small files."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> the package name it installs as (pyproject's package-dir).
PACKAGES = {"worldjepa": "worldjepa", "envs": "worldjepa.envs", "planners": "worldjepa.planners"}


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts))
            found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every worldjepa module `name` imports, at any depth of the file (deferred imports count too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_no_import_circles():
    g = graph()
    # Packages re-export their modules; an edge into a package's __init__ is not a circle by itself.
    g = {m: {t for t in targets if not (m.startswith(t + ".") and t in g)} for m, targets in g.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in g[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)


def test_envs_and_planners_stay_behind_their_seams():
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        used = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        used |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
        for seam in ("worldjepa.envs", "worldjepa.planners"):
            if name.startswith(seam):  # their own package is the only part of worldjepa they may import
                outside = {u for u in used if u.startswith("worldjepa") and not u.startswith(seam)}
                assert not outside, f"{path} imports {outside}: {seam} must not depend on the rest of worldjepa"
        if name.startswith("worldjepa.envs"):
            assert not any(u.split(".")[0] == "torch" for u in used), f"{path}: envs know nothing of torch"


def test_no_source_file_is_over_300_lines():
    long = {str(p.relative_to(ROOT)): n for p in [*modules().values(), *(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
            if (n := len(p.read_text().splitlines())) > 300}
    assert not long, f"split these files: {long}"
