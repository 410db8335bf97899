"""The import plan of our packages: circles between files and between folders, and the widest importers.

    python scripts/import_plan.py

A file is a module of api, recorder, storage_providers or schemas; a folder is its package. An import inside
`if TYPE_CHECKING:` counts too (it is a dependency all the same).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("api", "recorder", "storage_providers", "schemas")


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, known: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.split(".")[0] in OURS:
                found.add(name)
                break
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def main() -> None:
    files = [p for package in OURS for p in (ROOT / package).rglob("*.py")]
    known = {module_of(p) for p in files}
    graph = {module_of(p): imports(p, known) - {module_of(p)} for p in files}
    folders: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        here = module.rpartition(".")[0] if module not in {t.rpartition(".")[0] for t in known} else module
        for target in targets:
            there = target.rpartition(".")[0] if target not in {t.rpartition(".")[0] for t in known} else target
            if there != here and not here.startswith(there + ".") and not there.startswith(here + "."):
                folders[here].add(there)
    file_circles, folder_circles = circles(graph), circles(dict(folders))
    print(f"files: {len(graph)}, imports between them: {sum(len(t) for t in graph.values())}")
    print(f"circles of files: {len(file_circles)}")
    for circle in file_circles:
        print("  ", " <-> ".join(circle))
    print(f"circles of folders: {len(folder_circles)}")
    for circle in folder_circles:
        print("  ", " <-> ".join(circle))
    widest = sorted(((len(t), m) for m, t in graph.items() if m != "api.app"), reverse=True)[:5]
    print("widest importers (ours imported, api.app aside):", ", ".join(f"{m} {n}" for n, m in widest))


if __name__ == "__main__":
    main()
