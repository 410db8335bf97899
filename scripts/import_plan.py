"""The import plan of our packages: circles between files and between folders, arrows back up (an import from
a lower layer into a higher one), the widest importers, and the largest functions and classes.

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
# the layers, lowest first: a module imports only its own layer or lower ones. The shared words of `recorder`
# are below its capabilities; `recorder.webhooks` is the top of the domain (nothing else of it imports it).
SHARED = {"models", "errors", "settings", "naming", "signing", "clock", "events", "tasks", "logcontext", "addresses"}
ROOT_MODULES = {"api.app", "api.keys"}  # the composition root (keys names what app.py makes)


def layer(module: str) -> int:
    top, _, rest = module.partition(".")
    second = rest.partition(".")[0]
    if top == "schemas":
        return 0
    if top == "storage_providers":
        return 1
    if top == "recorder":
        if second in SHARED:
            return 2
        return 4 if second == "webhooks" else 3
    return 5


def largest(files: list[Path]) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The five longest functions and classes (lines), named module:name."""
    functions: list[tuple[int, str]] = []
    classes: list[tuple[int, str]] = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.end_lineno:
                size = node.end_lineno - node.lineno + 1
                into = classes if isinstance(node, ast.ClassDef) else functions
                into.append((size, f"{module_of(path)}:{node.name}"))
    return sorted(functions, reverse=True)[:5], sorted(classes, reverse=True)[:5]


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
    back_up = sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets if layer(t) > layer(m))
    print(f"arrows back up: {len(back_up)}")
    for arrow in back_up:
        print("  ", arrow)
    widest = sorted(((len(t), m) for m, t in graph.items() if m not in ROOT_MODULES), reverse=True)[:5]
    print("widest importers (ours imported, the composition root aside):", ", ".join(f"{m} {n}" for n, m in widest))
    beside = sorted(
        ((len({t for t in targets if layer(t) != 2}), m) for m, targets in graph.items() if m not in ROOT_MODULES),
        reverse=True,
    )[:5]
    print("  the same beside recorder's shared words:", ", ".join(f"{m} {n}" for n, m in beside))
    functions, classes = largest(files)
    print("largest functions (lines):", ", ".join(f"{name} {size}" for size, name in functions))
    print("largest classes (lines):", ", ".join(f"{name} {size}" for size, name in classes))


if __name__ == "__main__":
    main()
